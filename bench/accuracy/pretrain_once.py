"""One demo pretraining run of whichever dclkit build PYTHONPATH and DCLKIT_LIBRARY point at.

Child process of ``compare_builds.py`` (one per build and seed). It uses only the Python API
that dclkit had before issue 10's speed work and still has (``demo.DEMO_CONFIG``, the CLI's
``DEMO_EPOCHS``, ``TrainConfig``, ``Trainer.fit/embed``, ``evaluate.knn/linear_probe``,
``datasets.builtin``), so the same file drives an old checkout and the current one. It trains
with the build's own demo configuration (only ``seed`` and, when asked, ``epochs`` replaced),
evaluates the final encoder as ``python -m dclkit demo`` does, and prints one JSON object on
the last line of stdout.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import time

import numpy as np


def _fingerprint(*arrays: np.ndarray) -> str:
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--epochs", type=int, help="default: the build's demo epochs")
    parser.add_argument("--threads", type=int, required=True)
    parser.add_argument("--data", help="an .npz of x_train, y_train, x_test, y_test (default: the build's datasets.builtin())")
    args = parser.parse_args()

    import dclkit
    from dclkit import datasets, evaluate
    from dclkit.__main__ import DEMO_EPOCHS
    from dclkit.demo import DEMO_CONFIG

    dclkit.set_num_threads(args.threads)
    if os.environ.get("DCLKIT_BENCH_MATMUL_PRECISION"):  # compare_builds.py --old/--new-matmul-precision
        dclkit.set_matmul_precision(os.environ["DCLKIT_BENCH_MATMUL_PRECISION"])
    if args.data:
        with np.load(args.data) as arrays:
            data = datasets.Dataset(*(arrays[key] for key in ("x_train", "y_train", "x_test", "y_test")))
    else:
        data = datasets.builtin()
    epochs = DEMO_EPOCHS if args.epochs is None else args.epochs
    config = dclkit.TrainConfig(**{**DEMO_CONFIG, "seed": args.seed, "epochs": epochs})
    trainer = dclkit.Trainer(config)
    start = time.perf_counter()
    history = trainer.fit(data.x_train, progress=False)
    train_seconds = time.perf_counter() - start
    train_feats, test_feats = trainer.embed(data.x_train), trainer.embed(data.x_test)
    result = {
        "version": dclkit.__version__,
        "library": dclkit.native_info().get("library_path"),
        "simd": dclkit.native_info().get("simd"),
        "matmul_precision": dclkit.native_info().get("matmul_precision"),
        "demo_config": {key: value for key, value in DEMO_CONFIG.items() if key != "seed"},
        "seed": args.seed,
        "epochs": epochs,
        "threads": args.threads,
        "data": _fingerprint(data.x_train, data.y_train, data.x_test, data.y_test),
        "epoch_loss": [record["loss"] for record in history],
        "epoch_lr": [record["lr"] for record in history],
        "train_seconds": train_seconds,
        "knn_top1": evaluate.knn(train_feats, data.y_train, test_feats, data.y_test),
        "linear_probe_top1": evaluate.linear_probe(train_feats, data.y_train, test_feats, data.y_test),
    }
    print(json.dumps(result, default=list))


if __name__ == "__main__":
    main()

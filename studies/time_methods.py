"""Seconds per training image of each row of ``studies/dcl_cifar10_long.toml``, for its sizing.

Trains every distinct (method, batch size, recipe) of the spec for a few epochs over a small
slice of its training images, one native thread, and prints the training seconds per image of
the last epoch (a MoCo row's first ``queue_size / batch_size`` steps only fill its queue, so the
last epoch is past them), one JSON line per row::

    PYTHONPATH=python nice -n 19 python3 studies/time_methods.py --data /work/shared/data/cifar10-train.tar
"""
from __future__ import annotations

import argparse
import importlib
import json
import time
from typing import Optional, Sequence

import dclkit
from dclkit import sweep_data
from dclkit.config import TrainConfig
from dclkit.trainer import Trainer

sweep = importlib.import_module("dclkit.sweep")  # the module: ``dclkit.sweep`` the attribute is its function


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Times each distinct row of the spec; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--spec", default="studies/dcl_cifar10_long.toml")
    parser.add_argument("--data", required=True)
    parser.add_argument("--images", type=int, default=1280, help="training images per timed epoch")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per row; the last is timed")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)

    dclkit.set_num_threads(args.threads)
    spec = sweep.load_spec(args.spec, args.data)
    data = sweep_data.load(spec.data)
    images = data.x_train[:args.images]
    seen = set()
    for run in spec.runs:
        key = json.dumps({k: v for k, v in run.overrides.items() if k != "seed"}, sort_keys=True)
        if key in seen:
            continue
        seen.add(key)
        config = dict(run.config, epochs=args.epochs, warmup_epochs=0)
        trainer = Trainer(TrainConfig.from_json(json.dumps(config)))
        started = time.perf_counter()
        trainer.fit(images, progress=False)
        last = trainer.history[-1]
        print(json.dumps({"row": json.loads(key), "images": len(images), "seconds_last_epoch": round(last["seconds"], 2),
                          "seconds_per_image": round(last["seconds"] / len(images), 5),
                          "wall": round(time.perf_counter() - started, 1)}), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

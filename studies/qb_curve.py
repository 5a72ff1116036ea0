"""Measures InfoNCE's negative-positive coupling multiplier q_B over one long run (issue 22).

One pretraining run on the long study's data split (``dclkit.sweep_data``, the same seeded,
stratified held-out split as the sweeps), with the long study's model and base settings, that
appends each finished epoch's record (loss, lr, seconds, ``npc_mean``/``npc_p10``/``npc_p50``/
``npc_p90`` and the other diagnostics, ``knn_top1`` on the epochs evaluated) as one JSON line to
``--out`` as soon as the epoch ends, so the curve survives however the run is stopped::

    PYTHONPATH=python nice -n 19 python3 studies/qb_curve.py --data /work/shared/data/cifar10-train.tar \\
        --method dcl --batch-size 32 --epochs 100 --out results/qb_batch32.jsonl

``--epochs`` is the length of the learning-rate schedule (warm-up, then cosine decay over it);
stop the script (Ctrl-C, SIGINT or SIGTERM) whenever the curve is long enough: every finished
epoch is already in the file. A checkpoint beside the output (``<out>.work/``) lets a restarted
script continue.
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import time
from pathlib import Path
from typing import Any, Optional, Sequence

import dclkit
from dclkit import sweep_data
from dclkit.config import TrainConfig
from dclkit.trainer import Trainer

BASE: dict[str, Any] = dict(arch="resnet18", stem="cifar", width=0.25, image_size=32, warmup_epochs=1,
                            optimizer="sgd", weight_decay=5e-4, augment={"pipeline": "simclr", "blur": 0.0},
                            temperature=0.1)
"""The long study's base settings (``studies/dcl_cifar10_long.toml``, ``[base]`` plus τ)."""


def append_record(path: Path, line: dict) -> None:
    """Appends one JSON line to ``path`` and flushes it to the disk."""
    with open(path, "a", encoding="utf-8") as file:
        file.write(json.dumps(line, sort_keys=True) + "\n")
        file.flush()
        os.fsync(file.fileno())


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Parses the arguments, trains, and writes one line per finished epoch; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="cifar10-train.tar (or an image folder / .npz)")
    parser.add_argument("--method", default="dcl")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=100, help="length of the lr schedule")
    parser.add_argument("--train-per-class", type=int, default=1000)
    parser.add_argument("--eval-per-class", type=int, default=500)
    parser.add_argument("--knn-every", type=int, default=5, help="kNN curve every N epochs (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True, help="JSON-lines file, one line per finished epoch")
    args = parser.parse_args(argv)

    # SIGTERM stops like Ctrl-C: between native calls, with every finished epoch already written.
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    dclkit.set_num_threads(args.threads)
    spec = sweep_data.DataSpec.from_table({"path": args.data, "image_size": 32, "eval_per_class": args.eval_per_class,
                                          "train_per_class": args.train_per_class, "seed": 0})
    data = sweep_data.load(spec)
    config = TrainConfig(**BASE, method=args.method, batch_size=args.batch_size, epochs=args.epochs, seed=args.seed)
    out = Path(args.out)
    work = out.with_name(out.stem + ".work")
    work.mkdir(parents=True, exist_ok=True)
    checkpoint = work / "checkpoint.safetensors"
    trainer = Trainer.resume(checkpoint) if checkpoint.exists() else Trainer(config)
    identity = {"config": json.loads(trainer.config.to_json()), "data": {**spec.identity(), **data.summary()},
                "threads": args.threads, "dclkit": dclkit.__version__}

    def write(_trainer: Trainer, record: dict) -> None:
        append_record(out, {"run": identity if record["epoch"] == 1 else None, **record,
                            "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})

    eval_data = (data.x_train, data.y_train, data.x_eval, data.y_eval) if args.knn_every else None
    try:
        trainer.fit(data.x_train, eval_data=eval_data, eval_every=max(args.knn_every, 1), checkpoint=checkpoint,
                    progress=False, callbacks=[write])
    except KeyboardInterrupt:
        print(f"stopped after epoch {trainer.epoch}; {out} holds every finished epoch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""DCL vs DCLW vs NT-Xent (SimCLR) at several batch sizes and temperatures, same budget.

Usage:
    python examples/compare_losses.py builtin [--epochs 10] [--seeds 0 1]
    python examples/compare_losses.py path/to/data.npz --train-subset 10000

DATA is ``builtin`` (or ``builtin:digits``), a ``.npz`` with x_train/y_train/x_test/y_test, or any
``--data`` value of ``python -m dclkit train``. Every run sees the same number of images (the same
epochs over the same training subset) with the same encoder, augmentation, optimiser and seed;
only the loss, the batch size and the temperature change. The learning rate follows the
linear scaling rule (base 0.06 x B / 256 is too small for such short runs, so the base here is
``--base-lr`` x B / 256). Prints markdown tables of kNN top-1 (%), mean over seeds.

The paper's claims to check (Yeh et al. 2022): DCL's advantage over NT-Xent grows as the batch
shrinks, and DCL varies less with the temperature.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

import dclkit
from dclkit.cli_data import load_data

LOSSES = ("simclr", "dcl", "dclw")
NAMES = {"simclr": "NT-Xent", "dcl": "DCL", "dclw": "DCLW"}


def run_one(data, method: str, batch: int, tau: float, seed: int, args: argparse.Namespace) -> float:
    """kNN top-1 after pretraining one configuration."""
    cfg = dclkit.TrainConfig(method=method, arch="resnet18", width=args.width, batch_size=batch,
                             epochs=args.epochs, image_size=args.image_size, temperature=tau,
                             lr=args.base_lr * batch / 256, warmup_epochs=1, seed=seed,
                             augment={"pipeline": "simclr", "blur": 0.0, "scale": (0.4, 1.0)})
    tr = dclkit.Trainer(cfg)
    tr.fit(data.x_train, progress=False)
    return tr.knn(data.x_train, data.y_train, data.x_test, data.y_test)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="builtin | builtin:digits | FILE.npz | cifar10:DIR | folder:DIR")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batches", type=int, nargs="+", default=[32, 64, 128])
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.07, 0.1, 0.2, 0.5])
    parser.add_argument("--losses", nargs="+", default=list(LOSSES), choices=LOSSES)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--base-lr", type=float, default=0.6)
    parser.add_argument("--train-subset", type=int, default=0, help="use the first N training images (0: all)")
    parser.add_argument("--test-subset", type=int, default=0, help="use the first N test images (0: all)")
    parser.add_argument("--json", help="also write every result to this JSON file")
    parser.add_argument("--threads", type=int, help="native threads (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        dclkit.set_num_threads(args.threads)

    data = load_data(args.data, args.train_subset, args.test_subset)
    print(f"# {args.data}: {len(data.x_train)} train / {len(data.x_test)} test, {args.epochs} epochs, "
          f"resnet18 width {args.width}, {args.image_size}x{args.image_size} views, seeds {args.seeds}, "
          f"{time.strftime('%Y-%m-%d')}", flush=True)
    results = {}
    start = time.perf_counter()
    for method, batch, tau in itertools.product(args.losses, args.batches, args.temperatures):
        scores = [run_one(data, method, batch, tau, seed, args) for seed in args.seeds]
        results[(method, batch, tau)] = scores
        print(f"  {NAMES[method]:7s} B={batch:<4d} tau={tau:<5g} kNN {100 * np.mean(scores):.1f}% "
              f"({time.perf_counter() - start:.0f} s)", file=sys.stderr, flush=True)

    print()
    print("kNN top-1 (%), mean over seeds; rows: loss and batch, columns: temperature")
    print()
    print("| loss | batch | " + " | ".join(f"τ={t:g}" for t in args.temperatures) + " | spread over τ |")
    print("|---|---:|" + "---:|" * (len(args.temperatures) + 1))
    for method, batch in itertools.product(args.losses, args.batches):
        row = [100 * np.mean(results[(method, batch, t)]) for t in args.temperatures]
        print(f"| {NAMES[method]} | {batch} | " + " | ".join(f"{v:.1f}" for v in row) + f" | {max(row) - min(row):.1f} |")
    if "simclr" in args.losses:
        print()
        print("DCL minus NT-Xent (percentage points), best temperature of each:")
        print()
        print("| batch | " + " | ".join(NAMES[m] for m in args.losses if m != "simclr") + " |")
        print("|---:|" + "---:|" * (len(args.losses) - 1))
        for batch in args.batches:
            best = {m: max(100 * np.mean(results[(m, batch, t)]) for t in args.temperatures) for m in args.losses}
            print(f"| {batch} | " + " | ".join(f"{best[m] - best['simclr']:+.1f}" for m in args.losses if m != "simclr") + " |")
    if args.json:
        Path(args.json).write_text(json.dumps([
            {"loss": m, "batch": b, "temperature": t, "knn_top1": s} for (m, b, t), s in results.items()], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""DCL vs MoCo v2 vs MoCo with DCL on the queue vs MoCHi, same budget.

Usage:
    python examples/compare_methods.py builtin [--epochs 8] [--seeds 0 1]

Every run sees the same images for the same epochs with the same encoder, batch size and seed.
The SimCLR-family run (DCL) uses SimCLR's augmentation and head; the MoCo-family runs use MoCo's
CIFAR recipe scaled to the data (``TrainConfig.moco_cifar``: τ = 0.1, m = 0.99, symmetric loss,
no blur) with a queue of ``--queue`` keys. Prints a markdown table of kNN top-1 and linear-probe top-1 (%) and seconds, with the same
encoder untrained ("random init") as the baseline.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np

import dclkit
from dclkit.cli_data import load_data

METHODS = ("dcl", "moco", "moco-dcl", "mochi")


def config(method: str, args: argparse.Namespace, seed: int) -> dclkit.TrainConfig:
    """The run's configuration: shared fields, then the family's recipe."""
    shared = dict(arch="resnet18", width=args.width, batch_size=args.batch, epochs=args.epochs,
                  image_size=args.image_size, warmup_epochs=1, seed=seed)
    if method == "dcl":
        return dclkit.TrainConfig(method="dcl", lr=0.6 * args.batch / 256,
                                  augment={"pipeline": "simclr", "blur": 0.0, "scale": (0.4, 1.0)}, **shared)
    return dclkit.TrainConfig.moco_cifar(method=method, queue_size=args.queue, lr=0.06 * args.batch / 256,
                                         mochi_n_hard=args.queue // 16, mochi_s=args.queue // 32,
                                         mochi_s_prime=args.queue // 32, **shared)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="builtin | builtin:digits | FILE.npz | cifar10:DIR | folder:DIR")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--queue", type=int, default=1024)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--width", type=float, default=0.125)
    parser.add_argument("--image-size", type=int, default=16)
    parser.add_argument("--train-subset", type=int, default=0, help="use the first N training images (0: all)")
    parser.add_argument("--threads", type=int, help="native threads (default: all cores)")
    args = parser.parse_args(argv)
    if args.threads:
        dclkit.set_num_threads(args.threads)
    data = load_data(args.data, args.train_subset)
    print(f"# {args.data}: {len(data.x_train)} train / {len(data.x_test)} test, {args.epochs} epochs, batch {args.batch}, "
          f"resnet18 width {args.width}, {args.image_size}x{args.image_size} views, K = {args.queue}, seeds {args.seeds}, "
          f"{time.strftime('%Y-%m-%d')}")
    print()
    print("| method | kNN top-1 (%) | linear probe (%) | seconds |")
    print("|---|---:|---:|---:|")
    for method in ("random init",) + METHODS:
        knn, probe, seconds = [], [], []
        for seed in args.seeds:
            start = time.perf_counter()
            tr = dclkit.Trainer(config("dcl" if method == "random init" else method, args, seed))
            tr.fit(data.x_train, epochs=0 if method == "random init" else None, progress=False)
            seconds.append(time.perf_counter() - start)
            train_feats, test_feats = tr.embed(data.x_train), tr.embed(data.x_test)
            knn.append(dclkit.evaluate.knn(train_feats, data.y_train, test_feats, data.y_test))
            probe.append(dclkit.evaluate.linear_probe(train_feats, data.y_train, test_feats, data.y_test))
        print(f"| {method} | {100 * np.mean(knn):.1f} | {100 * np.mean(probe):.1f} | {np.mean(seconds):.0f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

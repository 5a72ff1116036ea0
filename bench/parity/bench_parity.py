"""`make bench-accuracy-peers`: does dclkit learn as well as PyTorch + lightly on the same recipe?

Issue 22, point 3. The same DCL pretraining (ResNet-18 CIFAR stem at a width multiplier, SimCLR
head, DCL τ = 0.1, SGD momentum 0.9 with weight decay 5e-4 on weights only, linear warm-up then
cosine per step) is trained by dclkit and by PyTorch + torchvision + lightly from the same
initial weights on the same views in the same order (see `engines.py` for what is shared and
how), on the training subset of the DCL study's CIFAR-10 split (`studies/dcl_cifar10.toml`:
400 images per class, 500 per class held out, split seed 0). Each engine's encoder is then
scored by the same weighted kNN (k = 200, τ = 0.1; training subset as the memory bank, held-out
images as queries).

One child process per (engine, seed), `--jobs` at a time, each with `--threads` threads; the
runs are queued seed by seed, dclkit and PyTorch alternating which goes first, so that the two
runs of a seed mostly share the machine's load. The first PyTorch child of each seed also runs
an agreement check before its timed run: both engines from the same weights, eval features
compared, three steps on the same views (losses side by side), parameters compared after them.

Verdict: per seed the difference d = top-1(dclkit) − top-1(PyTorch); the mean of d and its 95%
interval mean ± t(0.975, n − 1) · sd(d) / √n (Student t over the seeds' differences, sd with
ddof 1). "level within noise" when the interval covers 0.

Usage: bench_parity.py --data cifar10-train.tar [--seeds 0 1 2] [--epochs 10] [--warmup-epochs 1]
       [--width 0.25] [--batch 128] [--train-per-class 400] [--eval-per-class 500] [--threads 1]
       [--jobs 2] [--json FILE]
       bench_parity.py --report FILE   (the table of a --json file, also of an unfinished run)
Needs torch, torchvision, lightly and numpy, and dclkit importable (PYTHONPATH) with its library
(DCLKIT_LIBRARY); the Makefile's `bench-accuracy-peers` target sets these up in `.peers/`.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engines import Recipe, run  # noqa: E402

ENGINES = ("dclkit", "pytorch")
T_975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
         2.045, 2.042)
"""Student t's 0.975 quantile for 1..30 degrees of freedom (1.96 beyond)."""


def t_975(df: int) -> float:
    """Student t's 0.975 quantile at ``df`` ≥ 1 degrees of freedom."""
    return T_975[df - 1] if df <= len(T_975) else 1.96


def paired_interval(differences: list[float]) -> tuple[float, float, float] | None:
    """(mean, low, high) of the 95% Student t interval of the mean difference; None for fewer than 2."""
    if len(differences) < 2:
        return None
    mean = statistics.fmean(differences)
    half = t_975(len(differences) - 1) * statistics.stdev(differences) / math.sqrt(len(differences))
    return mean, mean - half, mean + half


def recipe_from(args: argparse.Namespace, seed: int) -> Recipe:
    """The run's recipe from the command line."""
    lr = args.lr if args.lr is not None else 0.06 * args.batch / 256
    return Recipe(seed=seed, width=args.width, batch=args.batch, epochs=args.epochs, warmup_epochs=args.warmup_epochs,
                  lr=lr, threads=args.threads)


def child_main(args: argparse.Namespace) -> None:
    """The child's side: one run, its result as one JSON line on stdout."""
    import numpy as np

    with np.load(args.arrays) as arrays:
        x_train, y_train, x_eval, y_eval = (arrays[k] for k in ("x_train", "y_train", "x_eval", "y_eval"))
    result = run(args.child, recipe_from(args, args.seeds[0]), x_train, y_train, x_eval, y_eval, args.check)
    print(json.dumps(result), flush=True)


def launch(args: argparse.Namespace, arrays: Path, engine: str, seed: int, check: bool) -> dict:
    """Runs one child; returns its result (raises with its stderr when it fails)."""
    command = [sys.executable, __file__, "--child", engine, "--arrays", str(arrays), "--seeds", str(seed),
               "--epochs", str(args.epochs), "--warmup-epochs", str(args.warmup_epochs), "--width", str(args.width),
               "--batch", str(args.batch), "--threads", str(args.threads), "--data", "-"]
    if args.lr is not None:
        command += ["--lr", repr(args.lr)]
    if check:
        command.append("--check")
    environment = dict(os.environ, OMP_NUM_THREADS=str(args.threads), OPENBLAS_NUM_THREADS=str(args.threads),
                       MKL_NUM_THREADS=str(args.threads))
    done = subprocess.run(command, env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{engine} seed {seed} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"  {engine:>7} seed {seed}: kNN top-1 {100 * result['knn_top1']:.2f}%, training {result['train_seconds']:.0f} s "
          f"(steps {result['step_seconds']:.0f} s, augmentation {result['augment_seconds']:.0f} s), "
          f"first losses {', '.join(f'{v:.5f}' for v in result['first_losses'])}", flush=True)
    if args.json:
        with open(args.json, "a") as out:
            out.write(json.dumps(result) + "\n")
    return result


def describe_engines() -> str:
    """Versions of both engines."""
    import lightly
    import torch
    import torchvision

    import dclkit

    info = dclkit.native_info()
    return (f"dclkit {info['version']} (Swift {info['swift']}, {info['blas_config']}); torch {torch.__version__}, "
            f"torchvision {torchvision.__version__}, lightly {lightly.__version__}")


def report(args: argparse.Namespace, results: list[dict]) -> None:
    """The table: per seed both top-1 and times, then the paired difference and its interval."""
    by = {(r["engine"], r["seed"]): r for r in results}
    seeds = [s for s in args.seeds if all((e, s) in by for e in ENGINES)]
    print("\n| seed | dclkit kNN top-1 | PyTorch kNN top-1 | difference (pp) | dclkit training s | PyTorch training s "
          "| dclkit steps s | PyTorch steps s |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    differences = []
    for seed in seeds:
        ours, theirs = by[("dclkit", seed)], by[("pytorch", seed)]
        differences.append(100 * (ours["knn_top1"] - theirs["knn_top1"]))
        print(f"| {seed} | {100 * ours['knn_top1']:.2f}% | {100 * theirs['knn_top1']:.2f}% | {differences[-1]:+.2f} "
              f"| {ours['train_seconds']:.0f} | {theirs['train_seconds']:.0f} | {ours['step_seconds']:.0f} "
              f"| {theirs['step_seconds']:.0f} |")
    if seeds:
        mean_ours = statistics.fmean(100 * by[("dclkit", s)]["knn_top1"] for s in seeds)
        mean_theirs = statistics.fmean(100 * by[("pytorch", s)]["knn_top1"] for s in seeds)
        print(f"| mean | {mean_ours:.2f}% | {mean_theirs:.2f}% | {statistics.fmean(differences):+.2f} "
              f"| {statistics.fmean(by[('dclkit', s)]['train_seconds'] for s in seeds):.0f} "
              f"| {statistics.fmean(by[('pytorch', s)]['train_seconds'] for s in seeds):.0f} "
              f"| {statistics.fmean(by[('dclkit', s)]['step_seconds'] for s in seeds):.0f} "
              f"| {statistics.fmean(by[('pytorch', s)]['step_seconds'] for s in seeds):.0f} |")
    interval = paired_interval(differences)
    if interval is None:
        print(f"\n{len(seeds)} paired seed(s): no interval (needs 2 or more)")
    else:
        mean, low, high = interval
        verdict = "level within noise" if low <= 0 <= high else (
            "dclkit higher beyond noise" if low > 0 else "dclkit lower beyond noise")
        print(f"\ndifference dclkit − PyTorch over {len(seeds)} seeds: {mean:+.2f} pp, 95% interval "
              f"[{low:+.2f}, {high:+.2f}] (Student t, {len(seeds) - 1} df): {verdict}")
    for seed in seeds:
        check = by[("pytorch", seed)].get("check")
        if check:
            print(check_line(seed, check))


def check_line(seed: int, check: dict) -> str:
    """The agreement check of a seed in one paragraph."""
    def spread(entry: dict) -> str:
        return f"median {entry['median']:.1e}, largest {entry['max']:.1e} ({entry['max_name']})"

    grads = check["gradients"]
    return (f"agreement check, seed {seed}: eval features at init differ by {check['features_at_init']:.1e} (relative "
            f"L2). First step's gradients against PyTorch in float64: dclkit {spread(grads['dclkit_vs_float64'])}; "
            f"PyTorch float32 {spread(grads['pytorch_vs_float64'])}; PyTorch against itself with input × (1 + 1e-6 "
            f"noise): {spread(grads['pytorch_input_noise_1e-6'])}. Losses of steps 0-"
            f"{len(check['losses_dclkit']) - 1}: dclkit {', '.join(f'{v:.6f}' for v in check['losses_dclkit'])}, "
            f"PyTorch {', '.join(f'{v:.6f}' for v in check['losses_pytorch'])}; after them parameters differ by "
            f"{spread(check['parameters_after'])}, eval features by {check['features_after']:.1e}.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="the CIFAR-10 training tar (or folder, .npz, packed .npy)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--warmup-epochs", type=int, default=1)
    parser.add_argument("--width", type=float, default=0.25)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=None, help="peak rate (default dclkit's 0.06 × batch / 256)")
    parser.add_argument("--train-per-class", type=int, default=400, help="training images per class (the study's 400)")
    parser.add_argument("--eval-per-class", type=int, default=500, help="held-out images per class (the study's 500)")
    parser.add_argument("--split-seed", type=int, default=0, help="seed of the split (the study's 0)")
    parser.add_argument("--threads", type=int, default=1, help="threads of each child")
    parser.add_argument("--jobs", type=int, default=2, help="children at a time")
    parser.add_argument("--no-check", action="store_true", help="skip the agreement check")
    parser.add_argument("--json", help="append each run's result to this file (JSON lines)")
    parser.add_argument("--report", metavar="FILE", help="print the table of a --json file and stop")
    parser.add_argument("--child", choices=ENGINES, help=argparse.SUPPRESS)
    parser.add_argument("--arrays", help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child_main(args)
        return
    if args.report:
        with open(args.report) as lines:
            results = [json.loads(line) for line in lines if line.strip()]
        args.seeds = sorted({r["seed"] for r in results})
        report(args, results)
        return
    if not args.data:
        parser.error("--data is required")
    import numpy as np

    import dclkit

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    spec = dclkit.sweep_data.DataSpec.from_table({"path": args.data, "image_size": 32, "seed": args.split_seed,
                                                  "train_per_class": args.train_per_class,
                                                  "eval_per_class": args.eval_per_class})
    data = dclkit.sweep_data.load(spec)
    recipe = recipe_from(args, args.seeds[0])
    print(f"### DCL pretraining, dclkit vs PyTorch + lightly, same recipe ({now}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f})\n")
    print(describe_engines())
    print(f"data {spec.name}: {len(data.x_train)} training / {len(data.x_eval)} held-out images (split seed "
          f"{spec.seed}, fingerprint {data.fingerprint}); ResNet-18 CIFAR stem width {recipe.width:g} + SimCLR head, "
          f"DCL τ {recipe.temperature}, batch {recipe.batch}, {recipe.epochs} epochs ({recipe.warmup_epochs} warm-up), "
          f"SGD lr {recipe.lr:g} momentum {recipe.momentum} wd {recipe.weight_decay:g}; kNN k {recipe.knn_k} "
          f"τ {recipe.knn_temperature}; seeds {' '.join(map(str, args.seeds))}; {args.jobs} children at a time, "
          f"{args.threads} thread(s) each\n", flush=True)
    with tempfile.TemporaryDirectory(prefix="parity-") as folder:
        arrays = Path(folder) / "split.npz"
        np.savez(arrays, x_train=data.x_train, y_train=data.y_train, x_eval=data.x_eval, y_eval=data.y_eval)
        tasks = []
        for index, seed in enumerate(args.seeds):
            order = ENGINES if index % 2 == 0 else ENGINES[::-1]
            tasks += [(engine, seed, engine == "pytorch" and not args.no_check) for engine in order]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            futures = [pool.submit(launch, args, arrays, *task) for task in tasks]
            results = []
            for future in futures:
                try:
                    results.append(future.result())
                except RuntimeError as error:
                    print(f"  {error}", file=sys.stderr, flush=True)
    report(args, results)
    print(f"\nload at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

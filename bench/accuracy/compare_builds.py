"""`make bench-accuracy`: does this checkout learn as well as the code before the speed work?

Issue 10 asks that the speed work (Winograd convolutions, fused BatchNorm kernels, SIMD
dispatch) leave accuracy unchanged: "a run on the built-in data reaches the same kNN top-1 as
today's code, within run-to-run noise". This script checks it. It builds two release libraries:

- old: a commit (default 33613b0, the base of issue 10's branches) checked out in a throwaway
  `git worktree` and built there, driven through that checkout's own Python package;
- new: this checkout (built in place, incrementally).

For each seed it runs the demo's pretraining (`python -m dclkit demo`: DCL, ResNet-18 width
0.25, CIFAR stem, batch 128, 16x16 views, 10 epochs on the built-in MNIST sample), each build
with its own demo configuration, which must be the same apart from the seed, and scores the
final encoder as the demo does: weighted kNN top-1 (k=200, tau=0.1) and the linear probe, both
on the 4,000 / 1,000 split. Each run is one child process (`pretrain_once.py`); the runs of the
two builds alternate, `--jobs` at a time, so load from elsewhere falls on both alike.

Verdict rule, per metric: the difference of the means (new - old) is within run-to-run noise
when |difference| <= 2 * SE, SE = sqrt(s_old^2 / n_old + s_new^2 / n_new) with s the sample
standard deviation of each build's runs (ddof 1). Welch's t-test p-value is printed beside it.
The exit status is 1 when the new build's kNN top-1 is lower than the old one's beyond noise.

Before the runs, a float-level look (`step_gradients.py`, seconds): the demo encoder's features
and parameter gradients for one training-mode forward and backward of the same seeded batch, new
against old, beside the old build against itself with its input multiplied by (1 + 1e-6 noise)
and by (1 + 1e-5 noise). Gradients of a BatchNorm + ReLU network move by about 1% under a
1e-5 perturbation (ReLU masks flip near zero, and BatchNorm bias gradients are sums that nearly
cancel), so the builds' float32 rounding differences (Winograd, one-pass BatchNorm statistics)
show up at that level; the lines place the builds' difference on that scale. They are not a
verdict (see RESULTS.md).

`--new-matmul-precision bfloat16` (and `--old-matmul-precision`) runs a build's children with
`dclkit.set_matmul_precision` set so (through the environment variable
DCLKIT_BENCH_MATMUL_PRECISION, which `pretrain_once.py` and `step_gradients.py` read): with the same
library on both sides it compares bfloat16 products against float32 (issue 24).

Usage: compare_builds.py [--old COMMIT | --old-library SO --old-python DIR]
                         [--new-library SO --new-python DIR] [--seeds 0 1 2] [--epochs E]
                         [--old-matmul-precision P] [--new-matmul-precision P]
                         [--threads T] [--jobs J] [--keep-worktree] [--json FILE]
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPOSITORY = HERE.parents[1]
CHILD = HERE / "pretrain_once.py"
GRADIENT_CHILD = HERE / "step_gradients.py"
PERTURBATIONS = (1e-6, 1e-5)
DEFAULT_OLD = "33613b0"
SWIFT_BUILD = ["swift", "build", "-c", "release", "--product", "dclkit", "-Xswiftc", "-static-stdlib"]
METRICS = (("knn_top1", "kNN top-1"), ("linear_probe_top1", "linear probe"))


@dataclass
class Build:
    """A dclkit build to compare: its label, what it was built from, its library and Python package."""

    label: str
    source: str
    library: Path
    python: Path
    matmul_precision: str | None = None


def git(*args: str, cwd: Path = REPOSITORY) -> str:
    """The stripped stdout of a git command (raises on failure)."""
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def build_library(checkout: Path) -> Path:
    """Builds the release library of a checkout; returns the path of libdclkit.so."""
    print(f"building {checkout} ({' '.join(SWIFT_BUILD)})", flush=True)
    subprocess.run(SWIFT_BUILD, cwd=checkout, check=True, stdout=subprocess.DEVNULL)
    library = checkout / ".build" / "release" / "libdclkit.so"
    if not library.is_file():
        raise SystemExit(f"the build of {checkout} left no {library}")
    return library


def describe_checkout() -> str:
    """This checkout's commit, marked when the working tree differs from it."""
    commit = git("rev-parse", "--short", "HEAD")
    dirty = git("status", "--porcelain", "--untracked-files=no")
    return f"{commit} ({git('log', '-1', '--format=%s', 'HEAD')[:60]}){' + uncommitted changes' if dirty else ''}"


def run_python(build: Build, arguments: list[str], threads: int, what: str) -> str:
    """Runs `python arguments` against `build`'s package and library; returns its stdout."""
    environment = dict(os.environ, PYTHONPATH=str(build.python), DCLKIT_LIBRARY=str(build.library),
                       OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS=str(threads))
    if build.matmul_precision is not None:
        environment["DCLKIT_BENCH_MATMUL_PRECISION"] = build.matmul_precision
    done = subprocess.run([sys.executable, *arguments], env=environment, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{build.label} {what} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    return done.stdout


def run_child(build: Build, seed: int, epochs: int | None, threads: int, data: Path) -> dict:
    """One pretraining run of `build` with `seed` on the arrays of `data`; returns the child's JSON result."""
    arguments = [str(CHILD), "--seed", str(seed), "--threads", str(threads), "--data", str(data)]
    if epochs is not None:
        arguments += ["--epochs", str(epochs)]
    result = json.loads(run_python(build, arguments, threads, f"seed {seed}").strip().splitlines()[-1])
    print(f"  {build.label:>3} seed {seed}: kNN {100 * result['knn_top1']:.2f}%, "
          f"probe {100 * result['linear_probe_top1']:.2f}%, {result['train_seconds']:.0f} s training", flush=True)
    return result


def gradient_differences(old: Build, new: Build, folder: Path) -> dict[str, dict[str, float]]:
    """Per-array relative differences |a - b| / |a| (L2) of one step's features and parameter
    gradients: new against old, and old against old with its input perturbed by each of `PERTURBATIONS`."""
    import numpy as np

    def gradients(build: Build, name: str, perturbation: float = 0.0) -> Path:
        file = folder / f"gradients-{name}.npz"
        run_python(build, [str(GRADIENT_CHILD), str(file), "--perturbation", repr(perturbation)], 1, "gradients")
        return file

    with np.load(gradients(old, "old")) as arrays:
        reference = {name: arrays[name].astype(np.float64) for name in arrays.files}

    def relative(file: Path) -> dict[str, float]:
        with np.load(file) as arrays:
            return {name: float(np.linalg.norm(arrays[name] - value) / max(float(np.linalg.norm(value)), 1e-30))
                    for name, value in reference.items()}

    differences = {"new vs old": relative(gradients(new, "new"))}
    for perturbation in PERTURBATIONS:
        differences[f"old vs old, input x (1 + {perturbation:g} noise)"] = relative(
            gradients(old, f"old-{perturbation:g}", perturbation))
    return differences


def gradient_lines(differences: dict[str, dict[str, float]]) -> list[str]:
    """One line per comparison: the features' difference, then the median and largest gradient difference."""
    lines = []
    for label, relative in differences.items():
        grads = {name[len("grad."):]: value for name, value in relative.items() if name.startswith("grad.")}
        worst = max(grads, key=grads.get)
        lines.append(f"{label}: features {relative['features']:.1e}; gradients median {statistics.median(grads.values()):.1e}, "
                     f"largest {grads[worst]:.1e} ({worst}), {sum(value > 1e-4 for value in grads.values())} of "
                     f"{len(grads)} above 1e-4")
    return lines


def check_same_run(results: dict[str, list[dict]]) -> None:
    """Refuses to compare runs whose configuration, epochs or data differ between the builds."""
    for field in ("demo_config", "epochs", "data"):
        values = {label: {json.dumps(run[field], sort_keys=True) for run in runs} for label, runs in results.items()}
        if len({value for group in values.values() for value in group}) != 1:
            raise SystemExit(f"the builds did not run the same {field}: {values}")


def compare(old: list[float], new: list[float]) -> dict:
    """Means, sample standard deviations, the difference of means, its standard error and Welch's test."""
    from scipy.stats import ttest_ind

    sd_old, sd_new = statistics.stdev(old), statistics.stdev(new)
    difference = statistics.fmean(new) - statistics.fmean(old)
    se = math.sqrt(sd_old ** 2 / len(old) + sd_new ** 2 / len(new))
    welch_p = float(ttest_ind(new, old, equal_var=False).pvalue) if se > 0 else (1.0 if difference == 0 else 0.0)
    return {"mean_old": statistics.fmean(old), "mean_new": statistics.fmean(new), "sd_old": sd_old, "sd_new": sd_new,
            "difference": difference, "se": se, "within_noise": abs(difference) <= 2 * se, "welch_p": welch_p}


def markdown(results: dict[str, list[dict]], seeds: list[int], comparisons: dict[str, dict]) -> str:
    """The per-seed table, then the summary rows, in Markdown (percentages)."""
    lines = ["| seed | old kNN | new kNN | new - old | old probe | new probe | new - old |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for index, seed in enumerate(seeds):
        cells = []
        for metric, _ in METRICS:
            old, new = results["old"][index][metric], results["new"][index][metric]
            cells += [f"{100 * old:.2f}", f"{100 * new:.2f}", f"{100 * (new - old):+.2f}"]
        lines.append(f"| {seed} | " + " | ".join(cells) + " |")
    for name, key in (("mean", "mean"), ("sd (ddof 1)", "sd")):
        cells = []
        for metric, _ in METRICS:
            c = comparisons[metric]
            tail = f"{100 * c['difference']:+.2f}" if key == "mean" else f"SE {100 * c['se']:.2f}"
            cells += [f"{100 * c[key + '_old']:.2f}", f"{100 * c[key + '_new']:.2f}", tail]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def verdict_lines(comparisons: dict[str, dict]) -> list[str]:
    """One line per metric: the difference against 2 SE, Welch's p, and the verdict."""
    lines = []
    for metric, name in METRICS:
        c = comparisons[metric]
        verdict = "within run-to-run noise" if c["within_noise"] else (
            "new BETTER beyond noise" if c["difference"] > 0 else "new WORSE beyond noise")
        lines.append(f"{name}: new - old = {100 * c['difference']:+.2f} points, 2 SE = {200 * c['se']:.2f} points, "
                     f"Welch p = {c['welch_p']:.2f}: {verdict}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", default=DEFAULT_OLD, help=f"commit to compare against (default {DEFAULT_OLD})")
    parser.add_argument("--old-library", type=Path, help="take this old libdclkit.so instead of building --old")
    parser.add_argument("--old-python", type=Path, help="the python/ folder that goes with --old-library")
    parser.add_argument("--new-library", type=Path, help="take this libdclkit.so instead of building this checkout")
    parser.add_argument("--new-python", type=Path, default=REPOSITORY / "python",
                        help="the python/ folder of the new build (default: this checkout's)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--epochs", type=int, help="pretraining epochs (default: each build's demo epochs)")
    parser.add_argument("--threads", type=int, default=1, help="OpenBLAS and worker threads per run (default 1)")
    parser.add_argument("--jobs", type=int, default=2, help="runs at the same time (default 2)")
    parser.add_argument("--keep-worktree", action="store_true", help="keep the old commit's worktree and build")
    parser.add_argument("--json", type=Path, help="also write every run's result to this file")
    for side in ("old", "new"):
        parser.add_argument(f"--{side}-matmul-precision", choices=("float32", "bfloat16"),
                            help=f"dclkit.set_matmul_precision for the {side} build's runs (default: the build's own)")
    args = parser.parse_args()
    if len(args.seeds) < 2:
        parser.error("--seeds needs at least two seeds (the noise is their spread)")
    if (args.old_library is None) != (args.old_python is None):
        parser.error("--old-library and --old-python go together")

    workspace = Path(tempfile.mkdtemp(prefix="dclkit-accuracy-"))
    worktree = None
    try:
        if args.old_library is not None:
            old = Build("old", str(args.old_library), args.old_library.resolve(), args.old_python.resolve())
        else:
            commit = git("rev-parse", "--verify", args.old + "^{commit}")
            worktree = workspace / f"old-{commit[:7]}"
            git("worktree", "add", "--detach", str(worktree), commit)
            old = Build("old", f"{commit[:7]} ({git('log', '-1', '--format=%s', commit)[:60]})",
                        build_library(worktree), worktree / "python")
        new_library = args.new_library.resolve() if args.new_library else build_library(REPOSITORY)
        new = Build("new", str(args.new_library) if args.new_library else describe_checkout(),
                    new_library, args.new_python.resolve())

        old.matmul_precision, new.matmul_precision = args.old_matmul_precision, args.new_matmul_precision
        print(f"old: {old.source}\nnew: {new.source}", flush=True)
        # Both builds train and evaluate on the new build's built-in split, so that a change of the
        # split (datasets.stratified_split) is not mistaken for a change of accuracy.
        data = workspace / "builtin.npz"
        run_python(new, ["-c", "import sys, numpy as np; from dclkit import datasets; "
                         "np.savez(sys.argv[1], **datasets.builtin()._asdict())", str(data)], 1, "built-in data")
        differences = gradient_differences(old, new, workspace)
        print("one step's features and parameter gradients (relative L2 difference per array):")
        for line in gradient_lines(differences):
            print("  " + line, flush=True)
        print(f"seeds {args.seeds}, {args.threads} thread(s) per run, {args.jobs} run(s) at a time", flush=True)
        tasks = [(build, seed) for seed in args.seeds for build in (old, new)]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done = list(pool.map(lambda task: run_child(task[0], task[1], args.epochs, args.threads, data), tasks))
        results = {"old": done[0::2], "new": done[1::2]}
        check_same_run(results)
        comparisons = {metric: compare([run[metric] for run in results["old"]], [run[metric] for run in results["new"]])
                       for metric, _ in METRICS}
    finally:
        if worktree is not None and not args.keep_worktree:
            git("worktree", "remove", "--force", str(worktree))
        if worktree is None or not args.keep_worktree:
            shutil.rmtree(workspace, ignore_errors=True)
        elif worktree is not None:
            print(f"kept the old worktree: {worktree}")

    first = results["new"][0]
    print(f"\n{datetime.date.today()}, {_cpu_model()}; epochs {first['epochs']}, "
          f"demo configuration {json.dumps(first['demo_config'])}")
    print(f"SIMD: old {results['old'][0]['simd'] or 'none reported'}, new {first['simd'] or 'none reported'}; "
          f"matmul precision: old {results['old'][0].get('matmul_precision') or 'none reported'}, "
          f"new {first.get('matmul_precision') or 'none reported'}")
    print(markdown(results, args.seeds, comparisons))
    print("\nrule: within noise when |new - old| <= 2 SE, SE = sqrt(s_old^2/n + s_new^2/n)")
    for line in verdict_lines(comparisons):
        print(line)
    if args.json:
        args.json.write_text(json.dumps({"old": old.source, "new": new.source, "runs": results,
                                         "comparisons": comparisons, "gradient_differences": differences}, indent=1))
    knn = comparisons["knn_top1"]
    return 1 if not knn["within_noise"] and knn["difference"] < 0 else 0


def _cpu_model() -> str:
    """The CPU's model name, family and widest SIMD, from /proc/cpuinfo."""
    fields: dict[str, str] = {}
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                key, _, value = line.partition(":")
                fields.setdefault(key.strip(), value.strip())
    except OSError:
        return platform.processor() or "unknown CPU"
    flags = fields.get("flags", "").split()
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{fields.get('model name', 'unknown CPU')} (family {fields.get('cpu family', '?')}, {simd}), {os.cpu_count()} cores"


if __name__ == "__main__":
    sys.exit(main())

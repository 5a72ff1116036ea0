"""`make bench-peers`: dclkit against PyTorch + lightly for a whole pretraining step.

For each method (DCL and the baselines BYOL, SimSiam, Barlow Twins, VICReg) and configuration
(ResNet-18 width and batch, or ResNet-50 view side and batch) the run starts one child process
per engine (see `engines.py`); each child builds its model and views, then waits. The parent
asks the children for one step at a time, alternating the engines (ABBA order, so neither
always runs first after the other), so that load from elsewhere on the machine hits both alike.
Each engine runs `--warmup` untimed steps (the first step allocates), then `--repeats` timed ones.

Reported per row: the median step time as pairs/s (N images → N pairs), the ratio
dclkit / PyTorch (> 1: dclkit faster), and the memory a step adds: the child's peak resident
set during its steps (VmHWM, reset through /proc/self/clear_refs just before the first step)
minus its resident set before the first step (model, optimiser and views already built).

The thread-scaling rows (`--scaling`) are dclkit's alone: one child alternates steps at
`--threads` threads and at 1 thread (ABBA) and reports both medians and their ratio.

The AVX2 rows (`--avx2`) run DCL again with both engines held to AVX2 + FMA, as on a CPU without
AVX-512 (a Zen 3): dclkit's kernels through `DCLKIT_SIMD=avx2`, OpenBLAS's through
`OPENBLAS_CORETYPE=Haswell` (unless the environment already chose a core), PyTorch's through
`ATEN_CPU_CAPABILITY=avx2` and oneDNN's through `ONEDNN_MAX_CPU_ISA=AVX2`.

Usage: bench_peers.py [--methods M,...] [--configs C,...] [--scaling C,...] [--avx2 C,...]
[--repeats R] [--warmup W] [--threads T]. A configuration is W:N (ResNet-18, CIFAR stem, width W,
32×32, batch N) or r50:S:N (ResNet-50, ImageNet stem, S×S, batch N). Without --configs, DCL runs
at 1:64,1:128,0.25:128,r50:96:32,r50:224:16 and each baseline at 1:64,0.25:128.
Needs torch, torchvision, lightly and numpy, and dclkit importable (PYTHONPATH) with its
library (DCLKIT_LIBRARY); the Makefile's `bench-peers` target sets these up in `.peers/`.
"""
from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from engines import ENGINES, METHODS, Plan, Setup, make_plan  # noqa: E402

DEFAULT_CONFIGS = {"dcl": "1:64,1:128,0.25:128,r50:96:32,r50:224:16"}
BASELINE_CONFIGS = "1:64,0.25:128"
DEFAULT_SCALING = "1:64,0.25:128"
DEFAULT_AVX2 = "1:64,0.25:128"


def avx2_environment() -> dict[str, str]:
    """The variables that hold both engines (and OpenBLAS) to AVX2 + FMA; a core the user chose stays."""
    held = {"DCLKIT_SIMD": "avx2", "ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2"}
    if "OPENBLAS_CORETYPE" not in os.environ:
        held["OPENBLAS_CORETYPE"] = "Haswell"
    return held
ORDER = ("dclkit", "pytorch")


def resident_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(engine_name: str, plan: Plan, threads: int) -> None:
    """The child's side: build the engine, then answer `step [T]` with seconds and loss (at T
    threads when given) and `done` with memory."""
    engine = ENGINES[engine_name](plan, threads)
    baseline = resident_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current resident set
    reply = sys.stdout
    reply.write(f"ready {baseline}\n")
    reply.flush()
    for command in sys.stdin:
        words = command.split()
        if words and words[0] == "step":
            if len(words) > 1:
                engine.set_threads(int(words[1]))
            start = time.perf_counter()
            loss = engine.step()
            seconds = time.perf_counter() - start
            reply.write(f"{seconds!r} {loss!r}\n")
        else:
            reply.write(f"{resident_kib('VmHWM')} {baseline}\n")
            reply.flush()
            return
        reply.flush()


class Child:
    """A running engine child process and its line protocol."""

    def __init__(self, engine: str, plan: Plan, threads: int, held: dict[str, str] | None = None) -> None:
        environment = dict(os.environ, OMP_NUM_THREADS=str(threads), **(held or {}))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", engine, "--plan", plan.to_json(), "--threads", str(threads)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        self.engine = engine
        self.losses: list[float] = []
        word, _ = self._read().split()
        if word != "ready":
            raise RuntimeError(f"{engine} child: unexpected reply {word!r}")

    def _read(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.engine} child exited (status {self.process.wait()})")
        return line

    def step(self, threads: int | None = None) -> float:
        """Seconds of one step, at ``threads`` when given (the loss must be finite)."""
        self.process.stdin.write("step\n" if threads is None else f"step {threads}\n")
        self.process.stdin.flush()
        seconds, loss = (float(v) for v in self._read().split())
        if loss != loss or abs(loss) == float("inf"):
            raise RuntimeError(f"{self.engine}: non-finite loss {loss}")
        self.losses.append(loss)
        return seconds

    def finish(self) -> float:
        """MiB the steps added to the child's resident set (peak during steps − before them)."""
        self.process.stdin.write("done\n")
        self.process.stdin.flush()
        peak, baseline = (int(v) for v in self._read().split())
        self.process.wait()
        return (peak - baseline) / 1024


def measure(plan: Plan, threads: int, warmup: int, repeats: int, held: dict[str, str] | None = None) -> dict:
    """Median step seconds, step memory and losses of both engines for one plan (with the
    environment `held` added to both children's)."""
    children = {name: Child(name, plan, threads, held) for name in ORDER}
    times: dict[str, list[float]] = {name: [] for name in ORDER}
    for round_ in range(warmup + repeats):
        order = ORDER if round_ % 2 == 0 else ORDER[::-1]
        for name in order:
            seconds = children[name].step()
            if round_ >= warmup:
                times[name].append(seconds)
    result = {}
    for name in ORDER:
        result[name] = {"seconds": statistics.median(times[name]), "mib": children[name].finish(),
                        "losses": children[name].losses}
    return result


def measure_scaling(plan: Plan, threads: int, warmup: int, repeats: int) -> dict[int, float]:
    """dclkit's median step seconds at ``threads`` and at 1 thread, alternated in one child."""
    engine = Child("dclkit", plan, threads)
    counts = (threads, 1)
    times: dict[int, list[float]] = {count: [] for count in counts}
    for round_ in range(warmup + repeats):
        order = counts if round_ % 2 == 0 else counts[::-1]
        for count in order:
            seconds = engine.step(count)
            if round_ >= warmup:
                times[count].append(seconds)
    engine.finish()
    return {count: statistics.median(times[count]) for count in counts}


def cpu_model() -> str:
    """The CPU's model name, family and model from /proc/cpuinfo."""
    fields = {}
    with open("/proc/cpuinfo") as info:
        for line in info:
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    name = fields.get("model name") or platform.processor() or "unknown"
    return f"{name} (family {fields.get('cpu family', '?')} model {fields.get('model', '?')})"


def parse_configs(text: str) -> list[Setup]:
    """"W:N,r50:S:N" → the setups."""
    return [Setup.parse(item) for item in text.split(",") if item.strip()]


def describe_engines() -> str:
    """Versions of both engines (imported in the parent only for this line)."""
    import dclkit
    import lightly
    import torch

    info = dclkit.native_info()
    features = info.get("cpu_features")
    native = f"dclkit {info['version']} (Swift {info['swift']}, {info['blas_config']}"
    native += f", SIMD {features})" if features else ")"
    return f"{native}; torch {torch.__version__} (CPU capability {torch.backends.cpu.get_cpu_capability()}), lightly {lightly.__version__}"


def describe_plan(plan: Plan) -> str:
    """One line of what both engines build for a row."""
    return (f"- {plan.method}, {plan.setup.label()}, batch {plan.setup.batch}: head {plan.head} "
            f"{list(plan.head_dims)}, SGD lr {plan.lr:g}, momentum 0.9, weight decay {plan.weight_decay:g}")


def rate(pairs_per_second: float) -> str:
    """Pairs/s with one decimal, or two below 10 (ResNet-50's rows)."""
    return f"{pairs_per_second:.1f}" if pairs_per_second >= 10 else f"{pairs_per_second:.2f}"


def load() -> str:
    """The 1, 5 and 15 minute load averages."""
    return " / ".join(f"{value:.2f}" for value in os.getloadavg())


def print_rows(plans: list[Plan], args: argparse.Namespace, held: dict[str, str] | None = None) -> None:
    """The comparison table: one row per plan, both engines measured side by side."""
    print("\n| method | model | batch | dclkit pairs/s | PyTorch pairs/s | speed ratio | dclkit step adds MiB "
          "| PyTorch step adds MiB | memory ratio | losses dclkit / PyTorch (first → last) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for plan in plans:
        r = measure(plan, args.threads, args.warmup, args.repeats, held)
        ours, theirs = r["dclkit"], r["pytorch"]
        batch = plan.setup.batch
        losses = " / ".join(f"{lo['losses'][0]:.4g} → {lo['losses'][-1]:.4g}" for lo in (ours, theirs))
        print(f"| {plan.method} | {plan.setup.label()} | {batch} | {rate(batch / ours['seconds'])} "
              f"| {rate(batch / theirs['seconds'])} | {theirs['seconds'] / ours['seconds']:.2f} | {ours['mib']:,.0f} "
              f"| {theirs['mib']:,.0f} | {ours['mib'] / theirs['mib']:.2f} | {losses} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per engine and row")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (the first step allocates)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each engine")
    parser.add_argument("--methods", default=",".join(METHODS), help=f"comma-separated, of {', '.join(METHODS)}")
    parser.add_argument("--configs", default=None,
                        help="W:N (ResNet-18 width W, 32 px, batch N) or r50:S:N (ResNet-50, S px, batch N), "
                             f"comma-separated; default {DEFAULT_CONFIGS['dcl']} for dcl, {BASELINE_CONFIGS} for the baselines")
    parser.add_argument("--scaling", default=DEFAULT_SCALING,
                        help="configurations of dclkit's thread-scaling rows (DCL, --threads vs 1); '' for none")
    parser.add_argument("--avx2", default=DEFAULT_AVX2,
                        help="configurations of the DCL rows with both engines held to AVX2 + FMA; '' for none")
    parser.add_argument("--child", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    parser.add_argument("--plan", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, Plan.from_json(args.plan), args.threads)
        return
    if args.repeats < 1 or args.warmup < 1:
        parser.error("--repeats and --warmup must be at least 1")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {', '.join(METHODS)}")
    plans = [make_plan(method, setup) for method in methods
             for setup in parse_configs(args.configs or DEFAULT_CONFIGS.get(method, BASELINE_CONFIGS))]
    scaling = [make_plan("dcl", setup) for setup in parse_configs(args.scaling)]
    avx2 = [make_plan("dcl", setup) for setup in parse_configs(args.avx2)]

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"### A pretraining step, dclkit vs PyTorch + lightly ({now}, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load {load()})\n")
    print(describe_engines())
    print(f"Both views as one batch of 2N (both networks for BYOL), the method's loss, backward, SGD; "
          f"{args.threads} threads each, engines alternated, median of {args.repeats} steps after {args.warmup} "
          f"warm-up. DCL τ = 0.1; BYOL target τ = 0.996; Barlow Twins λ = 5e-3; VICReg 25/25/1. "
          f"Both engines build dclkit's resolved sizes:\n")
    for plan in dict.fromkeys(plans + scaling + avx2):
        print(describe_plan(plan))
    if plans:
        print_rows(plans, args)
    if avx2:
        held = avx2_environment()
        print("\nDCL with both engines held to AVX2 + FMA (" + ", ".join(f"{k}={v}" for k, v in held.items()) + "):")
        print_rows(avx2, args, held)
    if scaling:
        print(f"\ndclkit alone, DCL, one process alternating {args.threads} threads and 1 thread "
              f"(median of {args.repeats} steps each after {args.warmup} warm-up):\n")
        print(f"| model | batch | {args.threads} threads pairs/s | 1 thread pairs/s | ratio |")
        print("|---|---:|---:|---:|---:|")
        for plan in scaling:
            seconds = measure_scaling(plan, args.threads, args.warmup, args.repeats)
            batch = plan.setup.batch
            print(f"| {plan.setup.label()} | {batch} | {rate(batch / seconds[args.threads])} | {rate(batch / seconds[1])} "
                  f"| {seconds[1] / seconds[args.threads]:.2f} |", flush=True)
    print(f"\nload at the end: {load()}")


if __name__ == "__main__":
    main()

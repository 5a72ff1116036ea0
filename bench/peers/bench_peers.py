"""`make bench-peers`: dclkit against PyTorch + lightly for a whole DCL pretraining step.

For each configuration (ResNet-18 width, batch) the run starts one child process per engine
(see `engines.py`); each child builds its model and views, then waits. The parent asks the
children for one step at a time, alternating the engines (ABBA order, so neither always runs
first after the other), so that load from elsewhere on the machine hits both alike. Each
engine runs `--warmup` untimed steps (the first step allocates), then `--repeats` timed ones.

Reported per configuration: the median step time as pairs/s (N images → N pairs), the ratio
dclkit / PyTorch (> 1: dclkit faster), and the memory a step adds: the child's peak resident
set during its steps (VmHWM, reset through /proc/self/clear_refs just before the first step)
minus its resident set before the first step (model, optimiser and views already built).

Usage: bench_peers.py [--repeats R] [--warmup W] [--threads T] [--configs W:N,...]
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

from engines import ENGINES  # noqa: E402

DEFAULT_CONFIGS = "1:64,1:128,0.25:128"
ORDER = ("dclkit", "pytorch")


def resident_kib(field: str) -> int:
    """A field of /proc/self/status (VmRSS, VmHWM) in KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field}")


def child(engine_name: str, width: float, batch: int, threads: int) -> None:
    """The child's side: build the engine, then answer `step` with seconds and `done` with memory."""
    engine = ENGINES[engine_name](width, batch, threads)
    baseline = resident_kib("VmRSS")
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current resident set
    reply = sys.stdout
    reply.write(f"ready {baseline}\n")
    reply.flush()
    for command in sys.stdin:
        if command.strip() == "step":
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

    def __init__(self, engine: str, width: float, batch: int, threads: int) -> None:
        environment = dict(os.environ, OMP_NUM_THREADS=str(threads))
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--child", engine, "--threads", str(threads), "--configs", f"{width}:{batch}"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=environment)
        self.engine = engine
        word, _ = self._read().split()
        if word != "ready":
            raise RuntimeError(f"{engine} child: unexpected reply {word!r}")

    def _read(self) -> str:
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.engine} child exited (status {self.process.wait()})")
        return line

    def step(self) -> float:
        """Seconds of one step (the loss must be finite)."""
        self.process.stdin.write("step\n")
        self.process.stdin.flush()
        seconds, loss = (float(v) for v in self._read().split())
        if loss != loss or abs(loss) == float("inf"):
            raise RuntimeError(f"{self.engine}: non-finite loss {loss}")
        return seconds

    def finish(self) -> float:
        """MiB the steps added to the child's resident set (peak during steps − before them)."""
        self.process.stdin.write("done\n")
        self.process.stdin.flush()
        peak, baseline = (int(v) for v in self._read().split())
        self.process.wait()
        return (peak - baseline) / 1024


def measure(width: float, batch: int, threads: int, warmup: int, repeats: int) -> dict:
    """Median step seconds and step memory of both engines for one configuration."""
    children = {name: Child(name, width, batch, threads) for name in ORDER}
    times: dict[str, list[float]] = {name: [] for name in ORDER}
    for round_ in range(warmup + repeats):
        order = ORDER if round_ % 2 == 0 else ORDER[::-1]
        for name in order:
            seconds = children[name].step()
            if round_ >= warmup:
                times[name].append(seconds)
    result = {}
    for name in ORDER:
        result[name] = {"seconds": statistics.median(times[name]), "mib": children[name].finish()}
    return result


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo."""
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def parse_configs(text: str) -> list[tuple[float, int]]:
    """"W:N,W:N" → [(width, batch), ...]."""
    configs = []
    for item in text.split(","):
        width, batch = item.split(":")
        configs.append((float(width), int(batch)))
    return configs


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed steps per engine and configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first (the first step allocates)")
    parser.add_argument("--threads", type=int, default=2, help="threads for each engine")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="width:batch pairs, comma-separated")
    parser.add_argument("--child", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    args = parser.parse_args()
    configs = parse_configs(args.configs)
    if args.child:
        width, batch = configs[0]
        child(args.child, width, batch, args.threads)
        return
    if args.repeats < 1 or args.warmup < 1:
        parser.error("--repeats and --warmup must be at least 1")
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    print(f"### DCL step, dclkit vs PyTorch + lightly ({now}, {cpu_model()}, {os.cpu_count()} CPUs, "
          f"load {os.getloadavg()[0]:.2f})\n")
    print(describe_engines())
    print(f"ResNet-18 CIFAR stem + SimCLR head, 32×32, both views as one batch, DCL τ = {0.1}, SGD; "
          f"{args.threads} threads each, engines alternated, median of {args.repeats} steps after {args.warmup} warm-up\n")
    print("| width | batch | dclkit pairs/s | PyTorch pairs/s | speed ratio | dclkit step adds MiB "
          "| PyTorch step adds MiB | memory ratio |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    for width, batch in configs:
        r = measure(width, batch, args.threads, args.warmup, args.repeats)
        ours, theirs = r["dclkit"], r["pytorch"]
        print(f"| {width:g} | {batch} | {batch / ours['seconds']:.1f} | {batch / theirs['seconds']:.1f} "
              f"| {theirs['seconds'] / ours['seconds']:.2f} | {ours['mib']:,.0f} | {theirs['mib']:,.0f} "
              f"| {ours['mib'] / theirs['mib']:.2f} |", flush=True)
    print(f"\nload at the end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

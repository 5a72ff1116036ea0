"""Where a multi-threaded DCL step runs on one thread only (issue 24's thread-scaling row).

    python bench/scaling/serial_sections.py [--config 1:64] [--threads 2] [--steps 6]

Records `perf record -F 4999` of a child that runs dclkit's DCL step (bench/peers' engine, the
configuration W:N or r50:S:N) `steps` times after one warm-up, then cuts the samples of the
second half of the run into 1 ms buckets. A bucket where exactly one of the process's threads ran
(OpenBLAS's idle `blas_thread_server` spin not counted) is serial; prints the serial share and the
functions sampled in serial buckets (a parallel region's last worker, an unsplit loop, Python).
Needs `perf`, and dclkit importable with its library (PYTHONPATH, DCLKIT_LIBRARY). Run it on an
idle machine: another process's load makes buckets look serial.

2026-12-07, AMD EPYC Zen 4, 2 threads, idle: width 1, batch 64: 6.0% and 9.9% of the busy
milliseconds serial in two runs (in those: the small GEMM's and OpenBLAS's last workers 28-43% of
the samples, SGD's update 12-15%: it splits its work by parameter, and layer4's weights are most of
it; Winograd transforms 6-18%; page unmapping, memset and Python's garbage collector most of the
rest); width 0.25, batch 128: 6.8% (the small GEMM, page unmapping, Python). After SGD split its
elements rather than its parameters over the threads: 6.4% and 7.6% at width 1, SGD no longer among
the serial functions.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "peers"
IDLE = ("blas_thread_server", "sched_yield")

CHILD = """
import sys
sys.path.insert(0, {peers!r})
from engines import DclkitEngine, Setup, make_plan
engine = DclkitEngine(make_plan("dcl", Setup.parse({config!r})), {threads})
for _ in range({steps} + 1):
    engine.step()
"""


def record(config: str, threads: int, steps: int, data: Path) -> None:
    """perf's samples of the child's steps into `data`."""
    child = CHILD.format(peers=str(PEERS), config=config, threads=threads, steps=steps)
    subprocess.run(["perf", "record", "-q", "-F", "4999", "-o", str(data), "--", sys.executable, "-c", child],
                   check=True, env=dict(os.environ))


def buckets(data: Path) -> dict[int, dict[int, list[str]]]:
    """Per millisecond, per thread id, the functions sampled."""
    text = subprocess.run(["perf", "script", "-i", str(data), "-F", "tid,time,ip,sym"], capture_output=True, text=True,
                          check=True).stdout
    result: dict[int, dict[int, list[str]]] = collections.defaultdict(lambda: collections.defaultdict(list))
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            tid, seconds = int(parts[0]), float(parts[1].rstrip(":"))
        except ValueError:
            continue
        result[int(seconds * 1000)][tid].append(parts[3])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="1:64", help="W:N (ResNet-18 width W, batch N) or r50:S:N")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "perf.data"
        record(args.config, args.threads, args.steps, data)
        samples = buckets(data)
    keys = sorted(samples)
    keys = keys[len(keys) // 2:]  # the steps, past building and the warm-up
    serial, parallel = 0, 0
    functions: collections.Counter[str] = collections.Counter()
    for key in keys:
        busy = {tid: names for tid, names in samples[key].items() if not all(any(i in n for i in IDLE) for n in names)}
        if len(busy) == 1:
            serial += 1
            for names in busy.values():
                functions.update(name[:70] for name in names)
        elif busy:
            parallel += 1
    print(f"{args.config}, {args.threads} threads: {serial} of {serial + parallel} busy milliseconds ran one thread "
          f"({100 * serial / max(1, serial + parallel):.1f}%)")
    total = sum(functions.values())
    for name, count in functions.most_common(20):
        print(f"{100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()

"""Where a multi-threaded DCL step runs on one thread only (issue 24's thread-scaling row).

    python bench/scaling/serial_sections.py [--config 1:64] [--threads 2] [--steps 6]

Records `perf record -a -F 4999` (every CPU, CLOCK_MONOTONIC time stamps) while a child runs
dclkit's DCL step (bench/peers' engine, the configuration W:N or r50:S:N) once as a warm-up and
then `steps` times, and cuts the samples of those timed steps (the child prints their window; the
build, the warm-up and the teardown are left out) into 1 ms buckets. A bucket where exactly one
of the child's threads ran (OpenBLAS's idle `blas_thread_server` spin not counted) is serial:

- *serial* when no other process ran in that millisecond either: the step itself ran one thread
  (a parallel region's last worker, a worker woken late, an unsplit loop, Python).
- *contended* when another process did: the step's other thread may have been waiting for a
  core (load on a shared machine, not the library's doing). A nice-19 job counts too: with the
  kernel's session autogroups (`/proc/sys/kernel/sched_autogroup_enabled`) it competes as
  an equal session whatever its nice level.

Prints both shares of the busy milliseconds and the functions sampled in the serial buckets.
On a loaded machine, give the run's session the weight of nice −20 so that it sees the cores
nearly as when idle (root): `setsid sh -c 'echo -20 > /proc/self/autogroup && exec python3
bench/scaling/serial_sections.py'`. Needs `perf` with system-wide sampling (root or
perf_event_paranoid ≤ 0), and dclkit importable with its library (PYTHONPATH, DCLKIT_LIBRARY).

2026-12-07, AMD EPYC Zen 4, 2 threads, idle, before this script left out the teardown: width 1,
batch 64: 6.0% and 9.9% of the busy milliseconds serial in two runs (the small GEMM's and
OpenBLAS's last workers 28-43% of the samples, SGD's per-parameter update 12-15%, since split by
elements; page unmapping, memset and Python's garbage collector most of the rest: those were the
process's exit, which releases every buffer; a steady step neither faults pages nor unmaps: 183 001
page faults in runs of 2 and of 8 steps alike).

Later that day, load average 10-14, the run's session at autogroup nice -20, 4 steps: width 1,
batch 64: 0.7% serial, 14.3% beside another process, 214 ms of 5.6 s with no thread of the step
running (GCD's concurrentPerform waking its worker late); with a pool of spinning workers and
claimed chunks 1.3%, 8.4%, 24 ms. Width 0.25, batch 128: 0.8%, 38.9% -> 1.9%, 13.6% (the calling
thread's wait for the last worker, Winograd's weight-gradient pass and BatchNorm's reductions,
most of the serial rest). That pool was taken out again the same evening: under RLIMIT_AS it let
a small batch be refused at random (test_hostile.py, 1 run in 4); regions run on GCD again, the
chunks are still claimed one at a time. The refusals were the memory checks' count of OpenBLAS
buffers still to come, not the pool (fixed in `OpenBLASBuffers`). With that fixed the pool was
measured again (bench_peers --scaling 1:64,0.25:128, main's library alternated, load 6.5-8.6):
its session at autogroup nice -20, 9 runs each, 2-thread pairs/s 43.9 vs GCD's 43.5 (width 1)
and 438 vs 423 (width 0.25), ratios to 1 thread 1.74 vs 1.73 and 1.64 vs 1.62; at the session's
default weight beside the other sessions, 6 runs each, 11.6 vs 12.1 and 107 vs 137 (ratios 0.89
vs 0.93, 0.79 vs 0.99): spinning threads lose their core's time when the cores are shared. It
stays out.
"""
from __future__ import annotations

import argparse
import collections
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PEERS = Path(__file__).resolve().parents[1] / "peers"
IDLE = ("blas_thread_server", "sched_yield", "__schedule")  # waiting or spinning between regions

CHILD = """
import os
import sys
import time
sys.path.insert(0, {peers!r})
from engines import DclkitEngine, Setup, make_plan
engine = DclkitEngine(make_plan("dcl", Setup.parse({config!r})), {threads})
engine.step()
start = time.clock_gettime(time.CLOCK_MONOTONIC)
for _ in range({steps}):
    engine.step()
print("window", os.getpid(), start, time.clock_gettime(time.CLOCK_MONOTONIC), flush=True)
"""


@dataclass
class Bucket:
    """One millisecond's samples: the child's functions per thread, and whether another process ran."""
    threads: dict[int, list[str]] = field(default_factory=lambda: collections.defaultdict(list))
    contended: bool = False


def record(config: str, threads: int, steps: int, data: Path) -> tuple[tuple[int, int], float, float]:
    """perf's samples of every CPU into `data` while the child runs; returns the child's and
    perf's pids and the timed steps' window in seconds of CLOCK_MONOTONIC (perf's sample clock here)."""
    child = CHILD.format(peers=str(PEERS), config=config, threads=threads, steps=steps)
    with subprocess.Popen(["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-F", "4999", "-o", str(data), "--",
                           sys.executable, "-c", child], env=dict(os.environ), stdout=subprocess.PIPE, text=True) as perf:
        out, _ = perf.communicate()
    if perf.returncode != 0:
        raise SystemExit(f"perf record failed ({perf.returncode})")
    words = next(line for line in out.splitlines() if line.startswith("window")).split()
    return (int(words[1]), perf.pid), float(words[2]), float(words[3])


def buckets(data: Path, child: int, perf: int, window: tuple[float, float]) -> dict[int, Bucket]:
    """Per millisecond of the window, the child's functions per thread and whether another
    process (not perf itself) ran."""
    text = subprocess.run(["perf", "script", "-i", str(data), "-F", "pid,tid,time,ip,sym"], capture_output=True,
                          text=True, check=True).stdout
    result: dict[int, Bucket] = collections.defaultdict(Bucket)
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        try:
            pid, tid = (int(n) for n in parts[0].split("/"))
            seconds = float(parts[1].rstrip(":"))
        except ValueError:
            continue
        if not window[0] <= seconds < window[1]:
            continue
        bucket = result[int(seconds * 1000)]
        if pid == child:
            bucket.threads[tid].append(parts[3] if len(parts) > 3 else "?")
        elif pid not in (0, perf):
            bucket.contended = True
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="1:64", help="W:N (ResNet-18 width W, batch N) or r50:S:N")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        data = Path(folder) / "perf.data"
        (child, perf), start, end = record(args.config, args.threads, args.steps, data)
        samples = buckets(data, child, perf, (start, end))
    counts: collections.Counter[str] = collections.Counter()
    functions: collections.Counter[str] = collections.Counter()
    for bucket in samples.values():
        busy = {tid: names for tid, names in bucket.threads.items()
                if not all(any(i in n for i in IDLE) for n in names)}
        if len(busy) == 1:
            kind = "contended" if bucket.contended else "serial"
            if kind == "serial":
                for names in busy.values():
                    functions.update(name[:70] for name in names)
        else:
            kind = "parallel" if busy else "idle"
        counts[kind] += 1
    busy_total = max(1, counts["serial"] + counts["contended"] + counts["parallel"])
    print(f"{args.config}, {args.threads} threads, {args.steps} steps in {end - start:.2f} s: of {busy_total} busy "
          f"milliseconds {100 * counts['serial'] / busy_total:.1f}% serial, {100 * counts['contended'] / busy_total:.1f}% "
          f"one thread beside another process, {100 * counts['parallel'] / busy_total:.1f}% parallel "
          f"({counts['idle']} ms without a sample of the step)")
    total = sum(functions.values())
    for name, count in functions.most_common(20):
        print(f"{100 * count / total:5.1f}%  {name}")


if __name__ == "__main__":
    main()

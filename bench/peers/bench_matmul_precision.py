"""dclkit's training step with float32 products against `dclkit.set_matmul_precision("bfloat16")`
(issue 24's experiment): two dclkit children of `bench_peers.py` (same library, same plan), one
with `DCLKIT_BENCH_MATMUL_PRECISION=bfloat16`, asked for one step at a time in ABBA order so that
load from elsewhere falls on both alike. Prints each configuration's median step time per
precision, their ratio and the first losses (which should agree to about bfloat16's 2⁻⁸).

Usage: bench_matmul_precision.py [--configs 1:64,r50:96:32] [--repeats R] [--warmup W] [--threads T]
[--method dcl]. Needs what `bench_peers.py` needs for its dclkit child (dclkit importable, DCLKIT_LIBRARY).
"""
from __future__ import annotations

import argparse
import os
import statistics

from bench_peers import Child, cpu_model, load, parse_configs
from engines import make_plan

PRECISIONS = ("float32", "bfloat16")


def measure(config: str, method: str, threads: int, warmup: int, repeats: int) -> dict[str, list[float]]:
    """Step seconds of each precision's child for one configuration, alternated ABBA."""
    plan = make_plan(method, parse_configs(config)[0])
    children = {precision: Child("dclkit", plan, threads, {"DCLKIT_BENCH_MATMUL_PRECISION": precision})
                for precision in PRECISIONS}
    times: dict[str, list[float]] = {precision: [] for precision in PRECISIONS}
    for round_ in range(warmup + repeats):
        for precision in PRECISIONS if round_ % 2 == 0 else PRECISIONS[::-1]:
            seconds = children[precision].step()
            if round_ >= warmup:
                times[precision].append(seconds)
    for precision, child in children.items():
        child.finish()
        print(f"  {config} {precision}: losses {', '.join(f'{loss:.5f}' for loss in child.losses[:3])}", flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configs", default="1:64,r50:96:32")
    parser.add_argument("--method", default="dcl")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print(f"{cpu_model()}; {args.threads} threads; load before: {load()}; PID {os.getpid()}")
    print("| configuration | float32 s/step | bfloat16 s/step | float32 / bfloat16 |")
    rows = []
    for config in args.configs.split(","):
        times = measure(config, args.method, args.threads, args.warmup, args.repeats)
        single, half = statistics.median(times["float32"]), statistics.median(times["bfloat16"])
        rows.append(f"| {config} | {single:.3f} | {half:.3f} | {single / half:.2f} |")
    print("\n".join(rows))
    print(f"load after: {load()}")


if __name__ == "__main__":
    main()

"""`make bench`'s scaling section: the same DCL run (SyncBN, global batch B) on this machine as
W = 1 process with 2 threads and as W = 2 MPI ranks (`mpirun -n 2`) with 1 thread each:
seconds per step, and the share of a step spent inside collectives (the gradient average, the
projection gather, SyncBN's reductions; waiting for the slower rank included).

    python bench/scaling/bench_scaling.py [--width 1] [--batch 64] [--steps 6]

Each configuration trains one epoch of `steps` steps on random images after one warm-up epoch
of the same length (first-step allocations, thread start-up) and reports the second epoch
(rank 0's clock; the ranks wait for each other at every collective), and, for W = 2, the fused
gradient average alone (3 runs on the trained encoder's gradients, after a barrier). Prints a
Markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np


def worker(args: argparse.Namespace) -> None:
    """One configuration's training; rank 0 prints a JSON line."""
    import dclkit

    comm = dclkit.distributed.world()
    dclkit.set_num_threads(args.threads)
    images = np.random.default_rng(0).integers(0, 256, size=(args.batch * args.steps, 32, 32, 3), dtype=np.uint8)
    config = dclkit.TrainConfig(method="dcl", width=args.width, batch_size=args.batch, epochs=2, warmup_epochs=0,
                                sync_bn=True, seed=1)
    trainer = dclkit.Trainer(config, comm=comm)
    trainer.fit(images, epochs=1, progress=False)
    before = trainer.timings()
    trainer.fit(images, epochs=1, progress=False)
    after = trainer.timings()
    gradients = 0.0
    if comm is not None:  # the fused gradient average alone, on the trained encoder's gradients
        reducer = dclkit.distributed.GradientAllreduce(dclkit.distributed.Communicator(comm), trainer.encoder)
        comm.Barrier()
        start = time.perf_counter()
        for _ in range(3):
            reducer.run()
        gradients = (time.perf_counter() - start) / 3
    if trainer.rank == 0:
        seconds = trainer.history[-1]["seconds"]
        communication = after["communication"] - before["communication"]
        print(json.dumps({"ranks": trainer.world_size, "threads": args.threads, "step": seconds / args.steps,
                          "communication": communication / args.steps, "share": communication / seconds,
                          "gradients": gradients}))


def run(ranks: int, threads: int, args: argparse.Namespace) -> dict:
    """Runs the worker on `ranks` ranks of `threads` threads; rank 0's JSON."""
    here = Path(__file__).resolve()
    command = [sys.executable, str(here), "--worker", "--threads", str(threads), "--width", str(args.width),
               "--batch", str(args.batch), "--steps", str(args.steps)]
    env = dict(os.environ)  # the dclkit the caller imports: installed (make bench) or PYTHONPATH
    if ranks > 1:
        env.update(OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_btl="self,vader",
                   OMPI_MCA_btl_vader_single_copy_mechanism="none")
        command = ["mpirun", "-n", str(ranks), "--bind-to", "core", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--width", type=float, default=1.0, help="ResNet-18 width (default: 1)")
    parser.add_argument("--batch", type=int, default=64, help="global batch (default: 64)")
    parser.add_argument("--steps", type=int, default=6, help="timed steps (default: 6)")
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return
    print(f"\n## scaling: DCL + SyncBN, resnet18 width {args.width}, CIFAR stem, 32x32, global batch {args.batch}, "
          f"{os.cpu_count()} cores\n")
    if shutil.which("mpirun") is None:
        print("(skipped: mpirun is not installed; `make deps` installs Open MPI and mpi4py)")
        return
    print("| configuration | s / step | communication per step | share in communication | of it, the gradient average |")
    print("|---|---:|---:|---:|---:|")
    for ranks, threads in ((1, 2), (2, 1)):
        r = run(ranks, threads, args)
        print(f"| W = {ranks} x {threads} thread{'s' if threads > 1 else ''} | {r['step']:.3f} | "
              f"{1e3 * r['communication']:.1f} ms | {100 * r['share']:.1f}% | {1e3 * r['gradients']:.1f} ms |")


if __name__ == "__main__":
    main()

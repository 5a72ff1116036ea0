"""Cost of an allreduce through dclkit's communicator, against the same MPI called directly.

Run on one machine: `mpirun -n 2 python examples/mpi_collectives_bench.py` (as root add
`--allow-run-as-root`). Prints, per buffer size, the median time of

- `MPI_Allreduce` called through ctypes on libmpi itself (what a core that dlopens libmpi
  would pay: no Python in the loop),
- mpi4py's `Allreduce`, and mpi4py's `Reduce_scatter_block` + `Allgather`, on numpy arrays,
- `Communicator.allreduce_sum` (numpy → Swift core → ctypes callback → mpi4py
  `Reduce_scatter_block` + `Allgather` on zero-copy views → back), the path training uses.

The difference between the last two columns is the price of the callback design; the
difference between the reduce-scatter + all-gather and the plain allreduce is the price of
bitwise-identical sums on every rank.
"""
from __future__ import annotations

import ctypes
import statistics
import time

import numpy as np
from mpi4py import MPI

from dclkit import distributed

comm = MPI.COMM_WORLD
native = distributed.Communicator(comm)
libmpi = ctypes.CDLL("libmpi.so.40")  # Open MPI's; the handles below are Open MPI's pointers
libmpi.MPI_Allreduce.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p,
                                 ctypes.c_void_p, ctypes.c_void_p]
handles = [MPI._handleof(x) for x in (MPI.FLOAT, MPI.SUM, comm)]


def median_seconds(action, repeats: int) -> float:
    action()  # warm-up: connections, registration, first-touch of buffers
    times = []
    for _ in range(repeats):
        comm.Barrier()
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    # The slowest rank decides a collective's time.
    return max(comm.allgather(statistics.median(times)))


def reduce_scatter_allgather(x: np.ndarray) -> None:
    part = np.empty(x.size // comm.Get_size(), dtype=x.dtype)  # the sizes below divide by W = 2 and 4
    comm.Reduce_scatter_block(x, part)
    comm.Allgather(part, x)


rows = []
for count in (4, 1024, 1 << 20, 11_200_000):
    x, y = np.ones(count, dtype=np.float32), np.empty(count, dtype=np.float32)
    repeats = 200 if count <= 1024 else 10
    raw = median_seconds(lambda: libmpi.MPI_Allreduce(x.ctypes.data, y.ctypes.data, count, *handles), repeats)
    plain = median_seconds(lambda: comm.Allreduce(x, y), repeats)
    split = median_seconds(lambda: reduce_scatter_allgather(x.copy()), repeats)
    through = median_seconds(lambda: native.allreduce_sum(x), repeats)
    rows.append((count, raw, plain, split, through))

if comm.Get_rank() == 0:
    print(f"W = {comm.Get_size()}, {MPI.Get_library_version().splitlines()[0]}")
    print("| floats | libmpi MPI_Allreduce | mpi4py Allreduce | mpi4py Reduce_scatter_block + Allgather | dclkit allreduce_sum |")
    print("|---:|---:|---:|---:|---:|")
    for count, *times in rows:
        print(f"| {count:,} | " + " | ".join(f"{t * 1e6:,.1f} µs" for t in times) + " |")

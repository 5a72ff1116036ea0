"""Run under `mpirun -n W` by test_distributed.py: every rank loops over native allreduces
(through dclkit's communicator and mpi4py) until it is killed, after writing OUT_DIR/pid{r} once
the first collective has completed. The test SIGKILLs one rank and times how long the others
take to be gone. Exits 0 after 120 s if nothing happened (the test then fails).

Usage: python fault.py OUT_DIR"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

from dclkit import distributed

comm = distributed.Communicator(distributed.world())
values = np.ones(4096, dtype=np.float32)
deadline = time.monotonic() + 120
written = False
while time.monotonic() < deadline:
    total = comm.allreduce_sum(values)
    assert total[0] == comm.size
    if not written:
        with open(os.path.join(sys.argv[1], f"pid{comm.rank}"), "w") as out:
            out.write(str(os.getpid()))
        written = True
    time.sleep(0.01)

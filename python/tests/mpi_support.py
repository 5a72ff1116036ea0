"""What the MPI tests share: whether MPI is there, the mpirun line for W local ranks, and the
programs they run (mpi_programs/)."""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

import dclkit

PROGRAMS = Path(__file__).with_name("mpi_programs")
MPIRUN = shutil.which("mpirun")
MPI_MISSING = None if MPIRUN and importlib.util.find_spec("mpi4py") else (
    "mpirun or mpi4py is missing (`make deps` installs openmpi-bin, libopenmpi-dev and mpi4py)")


class RankZeroOfTwo:
    """The rank and size of an mpi4py-like communicator in this process: rank 0 of 2. Tests
    subclass it with the non-blocking collectives (`Ireduce_scatter_block`, `Iallgather`, `Ibcast`)
    they need, each returning a request with `Test()` or raising."""

    def Get_rank(self) -> int:
        return 0

    def Get_size(self) -> int:
        return 2


def require_mpi() -> None:
    """Skips (with the reason shown by -rs) when MPI is not installed; in CI, where the Makefile
    installs it, a missing MPI fails instead."""
    if MPI_MISSING:
        if os.environ.get("CI"):
            pytest.fail(MPI_MISSING)
        pytest.skip(MPI_MISSING)


@pytest.fixture
def mpi():
    """A test that needs mpirun and mpi4py."""
    require_mpi()


def mpirun_command(ranks: int, program: list[str]) -> tuple[list[str], dict]:
    """The mpirun line and environment that start `program` (an argument list) on `ranks` local
    ranks: shared memory between ranks, more ranks than cores allowed, no core binding, root
    allowed (CI runs as root), and this test's dclkit on the ranks' Python path."""
    env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_btl="self,vader", OMPI_MCA_btl_vader_single_copy_mechanism="none")
    package = str(Path(dclkit.__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([package] + [p for p in [os.environ.get("PYTHONPATH")] if p])
    command = [MPIRUN, "-n", str(ranks), "--oversubscribe", "--bind-to", "none", *program]
    return command, env


def python_program(name: str, *args: str) -> list[str]:
    """The argument list that runs mpi_programs/`name` with this interpreter."""
    return [sys.executable, str(PROGRAMS / name), *args]


def running(pid: int) -> bool:
    """True while `pid` exists and is not a zombie (an exited process not yet reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


@dataclasses.dataclass
class KilledRun:
    """What `kill_one_rank` saw: the job's status and output, the seconds from the kill until
    every rank was gone (or 60), and the ranks still running then."""
    returncode: int
    output: str
    elapsed: float
    survivors: list


def kill_one_rank(command: list[str], env: dict, pid_dir: Path, ranks: int, victim: int, ready: Callable[[], bool],
                  wait: float, settle: float, what: str) -> KilledRun:
    """Start the mpirun `command`, wait (up to `wait` s) until every rank has written its pid to
    `pid_dir`/pid{r} and `ready()` holds, let the ranks run `settle` s more, SIGKILL rank
    `victim` and watch the others for 60 s; `what` names the ready condition in the failure."""
    job = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    pids: dict[int, int] = {}
    try:
        deadline = time.monotonic() + wait
        while len(pids) < ranks or not ready():
            assert time.monotonic() < deadline, f"the ranks never {what}"
            assert job.poll() is None, f"the job ended early:\n{job.stdout.read()}"
            for r in range(ranks):
                path = pid_dir / f"pid{r}"
                if r not in pids and path.exists() and path.read_text():
                    pids[r] = int(path.read_text())
            time.sleep(0.05)
        time.sleep(settle)
        os.kill(pids[victim], signal.SIGKILL)
        killed = time.monotonic()
        output, _ = job.communicate(timeout=60)
        while time.monotonic() - killed < 60 and any(running(pid) for pid in pids.values()):
            time.sleep(0.1)
        elapsed = time.monotonic() - killed
        survivors = [r for r, pid in pids.items() if running(pid)]
    except subprocess.TimeoutExpired:
        pytest.fail("the job hung for 60 s after a rank was killed")
    finally:
        if job.poll() is None:
            job.kill()
            job.wait()
        for pid in pids.values():
            if running(pid):
                os.kill(pid, signal.SIGKILL)
    return KilledRun(job.returncode, output, elapsed, survivors)

"""What the MPI tests share: whether MPI is there, the mpirun line for W local ranks, and the
programs they run (mpi_programs/)."""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

import dclkit

PROGRAMS = Path(__file__).with_name("mpi_programs")
MPIRUN = shutil.which("mpirun")
MPI_MISSING = None if MPIRUN and importlib.util.find_spec("mpi4py") else (
    "mpirun or mpi4py is missing (`make deps` installs openmpi-bin, libopenmpi-dev and mpi4py)")


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

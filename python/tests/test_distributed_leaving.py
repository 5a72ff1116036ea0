"""Every rank of an MPI job ends in bounded time when one rank leaves: it raises an exception no
one catches, its program ends while the others still train, or it stays away from a collective
(busy elsewhere) beyond the collective time-out; and when all but one have ended their programs
and that one stays busy beyond the time-out. The MPI cases run mpi_programs/leave.py under
`mpirun -n 2` and `mpirun -n 4 --oversubscribe` with a subprocess time-out far above the
collective time-out, and read what each surviving rank raised; the time-out itself is also
checked in this process with a transport whose collectives never complete."""
from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

import dclkit
from dclkit import distributed

from mpi_support import RankZeroOfTwo, mpi, mpirun_command, python_program  # noqa: F401


# ---- one process: the time-out and its setting ------------------------------------------------

class _Pending:
    """An mpi4py-like request that never completes (its peers never come)."""

    def Test(self) -> bool:
        return False


class _SilentPeers(RankZeroOfTwo):
    """An mpi4py-like communicator of two ranks whose collectives start but never complete."""

    def Ireduce_scatter_block(self, send, receive):
        return _Pending()

    Iallgather = Ireduce_scatter_block

    def Ibcast(self, buffer, root):
        return _Pending()


def test_a_collective_that_never_completes_raises_DCLCommError_after_the_timeout_and_the_communicator_refuses_more():
    comm = distributed.Communicator(_SilentPeers(), timeout=0.3)
    start = time.monotonic()
    with pytest.raises(dclkit.DCLCommError, match=r"MPI allreduce failed: no answer within the 0\.3 s time-out"):
        comm.allreduce_sum(np.ones(5, dtype=np.float32))
    assert 0.3 <= time.monotonic() - start < 2.0
    start = time.monotonic()
    with pytest.raises(dclkit.DCLCommError, match="allgather failed: an earlier collective.*was given up"):
        comm.allgather(np.ones(3))
    assert time.monotonic() - start < 0.1  # refused at once: the given-up collective still holds MPI


class _Interrupted:
    """An mpi4py-like request whose wait is interrupted (Ctrl-C while the peers are away)."""

    def Test(self) -> bool:
        raise KeyboardInterrupt


class _InterruptedPeers(_SilentPeers):
    def Ibcast(self, buffer, root):
        return _Interrupted()


def test_an_interrupted_collective_is_given_up_like_a_timed_out_one():
    comm = distributed.Communicator(_InterruptedPeers(), timeout=60)
    with pytest.raises(dclkit.DCLCommError, match="MPI broadcast failed: KeyboardInterrupt"):
        comm.broadcast(np.ones(2))
    with pytest.raises(dclkit.DCLCommError, match=r"given up \(broadcast: interrupted by KeyboardInterrupt"):
        comm.allreduce_sum(np.ones(2))


def test_the_timeout_comes_from_the_argument_then_the_environment_then_600_seconds(monkeypatch):
    monkeypatch.delenv("DCLKIT_COLLECTIVE_TIMEOUT", raising=False)
    assert distributed.collective_timeout() == 600.0 == distributed.Communicator(_SilentPeers()).timeout
    monkeypatch.setenv("DCLKIT_COLLECTIVE_TIMEOUT", "2.5")
    assert distributed.Communicator(_SilentPeers()).timeout == 2.5
    assert distributed.Communicator(_SilentPeers(), timeout=7).timeout == 7.0
    monkeypatch.setenv("DCLKIT_COLLECTIVE_TIMEOUT", "soon")
    with pytest.raises(dclkit.DCLValueError, match="DCLKIT_COLLECTIVE_TIMEOUT must be a number of seconds"):
        distributed.Communicator(_SilentPeers())
    for bad in (0, -1.0, float("inf"), float("nan")):
        with pytest.raises(dclkit.DCLValueError, match="timeout must be a positive finite number"):
            distributed.Communicator(None, timeout=bad)
    with pytest.raises(dclkit.DCLTypeError, match="timeout must be a number"):
        distributed.Communicator(None, timeout="10")
    with pytest.raises(dclkit.DCLTypeError, match="enabled must be a bool"):
        distributed.abort_on_exception(1)


# ---- W ranks under mpirun: rank 1 leaves ------------------------------------------------------

# The collective time-out of the runs: short where the time-out is what ends the job; long where
# the job must end without waiting for it (the job's wall time is then checked against it).
SHORT, LONG = 3.0, 100.0
JOB_LIMIT = 240.0  # the subprocess time-out: far above both


def leave(ranks: int, scenario: str, out: Path, timeout: float) -> tuple[subprocess.CompletedProcess, float, dict]:
    """Runs leave.py `scenario` on `ranks` ranks with the collective time-out `timeout`; returns
    the job, its wall time and the records the ranks wrote."""
    command, env = mpirun_command(ranks, python_program("leave.py", scenario, str(out)))
    env["DCLKIT_COLLECTIVE_TIMEOUT"] = str(timeout)
    start = time.monotonic()
    try:
        job = subprocess.run(command, env=env, capture_output=True, text=True, timeout=JOB_LIMIT)
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f"the job did not end within {JOB_LIMIT} s:\n{hung.stdout}\n{hung.stderr}")
    records = {int(p.stem[4:]): json.loads(p.read_text()) for p in out.glob("rank*.json")}
    return job, time.monotonic() - start, records


def survivors(records: dict, ranks: int, output: str) -> None:
    """Checks that the ranks that wrote what they raised are survivors (not rank 1), and at least
    one: the first survivor to abort the job may kill the others before they write."""
    assert records and set(records) <= set(range(ranks)) - {1}, output


@pytest.mark.parametrize("ranks", [2, 4], ids=["W=2", "W=4"])
def test_a_rank_raising_inside_fit_aborts_the_job_without_waiting_for_the_timeout(mpi, tmp_path, ranks):
    job, seconds, _ = leave(ranks, "raises", tmp_path, LONG)
    output = job.stdout + job.stderr
    assert job.returncode != 0 and seconds < LONG, output
    assert "DCLValueError: eval_data must be" in output  # the traceback is printed first
    assert "rank 1 raised DCLValueError; aborting the MPI job" in output, output


@pytest.mark.parametrize("ranks", [2, 4], ids=["W=2", "W=4"])
def test_a_rank_whose_program_ends_makes_the_others_raise_DCLCommError_within_seconds(mpi, tmp_path, ranks):
    job, seconds, records = leave(ranks, "exits", tmp_path, LONG)
    output = job.stdout + job.stderr
    assert job.returncode != 0 and seconds < LONG, output
    survivors(records, ranks, output)
    for record in records.values():
        assert record["error"] == "DCLCommError", record
        assert "rank 1 ended its program after" in record["message"], record
        assert record["seconds"] < 15, record  # the first second is polled without looking for departures
    # The survivors caught the error and ended normally: their exit aborts the job, since MPI
    # cannot cancel the collective they gave up.
    assert "gave up a collective" in output, output


@pytest.mark.parametrize("ranks", [2, 4], ids=["W=2", "W=4"])
def test_a_rank_that_skips_fit_and_stays_busy_makes_the_others_time_out_and_abort(mpi, tmp_path, ranks):
    job, seconds, records = leave(ranks, "early", tmp_path, SHORT)
    output = job.stdout + job.stderr
    assert job.returncode != 0, output  # rank 1 sleeps 600 s: the job ended because the others aborted it
    survivors(records, ranks, output)
    for record in records.values():
        assert record["error"] == "DCLCommError", record
        assert "no answer within the 3 s time-out" in record["message"], record
        assert record["message"].startswith(("MPI allreduce failed", "MPI allgather failed", "MPI broadcast failed"))
        assert SHORT <= record["seconds"] < SHORT + 30, record
    # (Open MPI's own MPI_ABORT notice is not always printed while the job is torn down.)
    assert "raised DCLCommError; aborting the MPI job" in output, output


def test_ranks_that_are_slow_within_the_timeout_finish_normally(mpi, tmp_path):
    job, _, records = leave(2, "slow", tmp_path, 6.0)
    assert job.returncode == 0, job.stdout + job.stderr
    assert sorted(records) == [0, 1] and all(r.get("ok") and r["epoch"] == 3 for r in records.values()), records


def test_a_rank_whose_program_ended_aborts_the_job_when_another_stays_busy_beyond_the_timeout(mpi, tmp_path):
    job, _, records = leave(2, "lingers", tmp_path, SHORT)
    output = job.stdout + job.stderr
    assert job.returncode != 0 and sorted(records) == [0, 1], output  # rank 0 sleeps 600 s: it was aborted
    assert ("rank 1 has ended its program, but ranks [0] did not end theirs within the 3 s collective time-out"
            in output), output

"""dclkit.distributed: the one-process communicator in this process, and the MPI collectives
under `mpirun -n 2` and `mpirun -n 4 --oversubscribe` on this machine (programs in
mpi_programs/, launched by subprocess; the results are checked here against float64 numpy
references computed by the programs from every rank's inputs), a C program that drives
dclkit.h's communicator with its own MPI calls, and a rank killed in the middle of a loop."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import dclkit
from dclkit import distributed

from mpi_support import (PROGRAMS, RankZeroOfTwo, kill_one_rank, mpi, mpirun_command, python_program,  # noqa: F401
                         require_mpi)


# ---- one process, no MPI -------------------------------------------------------------------------

def test_world_is_none_without_a_launcher_and_mpi4py_is_not_imported(run_isolated):
    code, out, err = run_isolated("""
        import os, sys
        for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
            os.environ.pop(name, None)
        import dclkit
        assert dclkit.distributed.world() is None
        print("mpi4py" in sys.modules)
    """)
    assert code == 0, err
    assert out.strip() == "False"


def test_launched_size_reads_the_launcher_environment(monkeypatch):
    monkeypatch.delenv("PMI_SIZE", raising=False)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    assert distributed.launched_size() == 4
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "1")
    assert distributed.launched_size() == 1
    assert distributed.world() is None
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    monkeypatch.setenv("PMI_SIZE", "8")
    assert distributed.launched_size() == 8


def test_single_process_pieces_are_the_identity_or_the_local_statistics():
    comm = distributed.Communicator(None)
    assert (comm.rank, comm.size) == (0, 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 4)).astype(np.float32)
    assert np.array_equal(comm.allreduce_sum(x), x)
    assert np.array_equal(comm.allgather(x), x[None])
    assert np.array_equal(comm.broadcast(np.arange(3)), np.arange(3))
    assert np.array_equal(distributed.gather_projections(comm, x), x)
    assert np.array_equal(distributed.gather_projections_backward(comm, x), x)
    v = rng.normal(size=(7, 3)) * 3 + 5
    mean, var, n = distributed.sync_bn_statistics(comm, v.sum(0), (v * v).sum(0), 7)
    assert n == 7
    np.testing.assert_allclose(mean, v.mean(0), rtol=1e-12)
    np.testing.assert_allclose(var, v.var(0), rtol=1e-10)
    shuffled, permutation = distributed.shuffle_keys(comm, x, seed=1, step=2)
    assert np.array_equal(np.sort(permutation), np.arange(5))
    assert np.array_equal(shuffled, x[permutation])
    assert np.array_equal(distributed.unshuffle_keys(comm, shuffled[:, :2], permutation), x[:, :2])
    assert distributed.batch_share(comm, 10) == (10, 0)
    distributed.check_configuration(comm, '{"method": "dcl"}')


def test_single_process_gradient_allreduce_leaves_the_gradients_unchanged():
    encoder = dclkit.Encoder("resnet18", "cifar", width=0.125, head="simclr", head_dims=(16, 8), seed=1)
    _, z = encoder.forward(np.random.default_rng(1).normal(size=(2, 8, 8, 3)).astype(np.float32))
    encoder.backward(grad_z=np.ones_like(z))
    before = encoder.grads()
    reducer = distributed.GradientAllreduce(distributed.Communicator(None), encoder, bucket_floats=10_000)
    total = sum(g.size for g in before.values())
    assert reducer.bucket_count == -(-total // 10_000)
    reducer.run()
    after = encoder.grads()
    assert all(np.array_equal(before[k], after[k]) for k in before)


class _BrokenTransport(RankZeroOfTwo):
    """An mpi4py-like communicator of two ranks whose transport fails when a collective starts."""

    def Iallgather(self, send, receive):
        raise RuntimeError("link to rank 1 lost")

    def Ireduce_scatter_block(self, send, receive):
        raise RuntimeError("rank 1 is gone")

    def Ibcast(self, buffer, root):
        raise RuntimeError("rank 1 is gone")


def test_a_failing_transport_raises_DCLCommError_with_its_message():
    comm = distributed.Communicator(_BrokenTransport())
    with pytest.raises(dclkit.DCLCommError, match="allgather.*link to rank 1 lost"):
        distributed.check_configuration(comm, "{}")
    with pytest.raises(dclkit.DCLCommError, match="allreduce.*rank 1 is gone"):
        comm.allreduce_sum(np.ones(4, dtype=np.float32))
    with pytest.raises(dclkit.DCLCommError, match="broadcast"):
        distributed.shuffle_keys(comm, np.ones((2, 3)), seed=0, step=0)


def test_bad_arguments_raise_DCLErrors():
    comm = distributed.Communicator(None)
    with pytest.raises(dclkit.DCLTypeError, match="float32, float64 or int64"):
        comm.allreduce_sum(np.ones(3, dtype=np.int32))
    with pytest.raises(dclkit.DCLValueError, match="non-finite"):
        comm.allreduce_sum(np.array([1.0, np.nan]))
    with pytest.raises(dclkit.DCLValueError, match="root"):
        comm.broadcast(np.ones(2), root=1)
    with pytest.raises(dclkit.DCLValueError, match="not a permutation"):
        distributed.unshuffle_keys(comm, np.ones((2, 3)), np.array([0, 0]))
    with pytest.raises(dclkit.DCLValueError, match="batch_size"):
        distributed.batch_share(comm, 0)


# ---- W ranks under mpirun ------------------------------------------------------------------------

@pytest.fixture(scope="module", params=[2, 4], ids=["W=2", "W=4"])
def ranks(request, tmp_path_factory):
    """Runs mpi_programs/collectives.py on W ranks once and returns every rank's results."""
    require_mpi()
    out = tmp_path_factory.mktemp(f"collectives{request.param}")
    command, env = mpirun_command(request.param, python_program("collectives.py", str(out)))
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"mpirun failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    results = [json.loads((out / f"rank{r}.json").read_text()) for r in range(request.param)]
    assert [r["rank"] for r in results] == list(range(request.param))
    assert all(r["size"] == request.param for r in results)
    return results


def test_collectives_match_numpy(ranks):
    for r in ranks:
        assert r["allreduce"]["float32_error"] < 1e-6 * len(ranks)
        assert r["allreduce"]["float64_error"] < 1e-14
        assert r["allreduce"]["int64_exact"]
        assert r["allgather_exact"] and r["broadcast_exact"]
    assert len({r["allreduce"]["float32_digest"] for r in ranks}) == 1, "ranks received different sums"


def test_gather_backward_is_the_gradient_of_the_global_dcl_loss_at_own_rows(ranks):
    for r in ranks:
        g = r["gather"]
        assert g["forward_exact"]
        # The float64 reference is the library's DCL (value and gradient) on the global batch ...
        assert g["reference_loss_error"] < 1e-5 and g["reference_gradient_error"] < 1e-4
        # ... and the gathered backward of each rank's own term gives the global gradient at its rows
        # (float32 inputs of a float64 computation: rounding only).
        assert g["backward_error"] < 1e-6


def test_fused_gradient_allreduce_averages_in_buckets_with_identical_bytes(ranks):
    for r in ranks:
        f = r["fused"]
        assert f["ranks_differed_before"]
        assert f["buckets"] == -(-f["floats"] // 100_000) > 1
        assert f["error"] < 1e-6
    assert len({r["fused"]["digest"] for r in ranks}) == 1, "averaged gradients differ between ranks"


def test_sync_bn_statistics_and_backward_equal_those_of_the_concatenated_batch(ranks):
    for r in ranks:
        s = r["sync_bn"]
        assert s["count"] == s["expected_count"]
        assert s["mean_error"] < 1e-14 and s["var_error"] < 1e-11
        assert s["backward_error"] < 1e-6  # against central differences (h = 1e-5) in float64


def test_key_shuffle_spreads_rows_over_ranks_and_unshuffle_restores_them(ranks):
    for r in ranks:
        s = r["shuffle"]
        assert s["is_permutation"] and s["moves_rows"] and s["rows_exact"] and s["unshuffle_exact"]
    assert len({r["shuffle"]["permutation_digest"] for r in ranks}) == 1


def test_configuration_mismatch_raises_on_every_rank(ranks):
    last = len(ranks) - 1
    for r in ranks:
        assert r["config_same"]["error"] is None
        assert r["config_differs"]["error"] == "DCLValueError"
        assert f"rank {last} has" in r["config_differs"]["message"]
    assert len({r["config_differs"]["message"] for r in ranks}) == 1


def test_batch_share_and_an_indivisible_batch_raise_on_every_rank(ranks):
    w = len(ranks)
    for rank, r in enumerate(ranks):
        assert r["share"]["value"] == [3, 3 * rank]
        assert r["share_indivisible"]["error"] == "DCLValueError"
        assert f"divisible by the {w} ranks" in r["share_indivisible"]["message"]


def test_a_c_program_drives_the_communicator_with_its_own_mpi(mpi, tmp_path):
    header = Path(__file__).resolve().parents[2] / "Sources" / "DCLKitABI" / "dclkit.h"
    mpicc = shutil.which("mpicc")
    if not header.exists() or mpicc is None:
        pytest.skip("needs the repository's dclkit.h and mpicc (libopenmpi-dev)")
    library = Path(dclkit.lib._name).resolve()
    program = tmp_path / "c_collectives"
    subprocess.run([mpicc, "-O1", "-Wall", "-Werror", "-I", str(header.parent), str(PROGRAMS / "c_collectives.c"),
                    str(library), f"-Wl,-rpath,{library.parent}", "-o", str(program)], check=True, timeout=120)
    command, env = mpirun_command(3, [str(program)])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(done.stdout.split("\n")[:-1]) == [f"ok rank {r}" for r in range(3)]


def test_a_killed_rank_ends_the_job_nonzero_within_60_seconds(mpi, tmp_path):
    ranks, victim = 4, 2
    command, env = mpirun_command(ranks, python_program("fault.py", str(tmp_path)))
    killed = kill_one_rank(command, env, tmp_path, ranks, victim, ready=lambda: True, wait=60,
                           settle=0.5,  # the survivors are in the middle of their loop
                           what="completed their first collective")
    assert killed.returncode != 0
    assert not killed.survivors, f"ranks {killed.survivors} were still running 60 s after rank {victim} was killed"
    assert killed.elapsed < 60
    assert f"rank {victim}" in killed.output and "signal 9" in killed.output, killed.output

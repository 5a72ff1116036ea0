"""Data-parallel training through `dclkit.Trainer(config, comm=world())`: the program
mpi_programs/train.py runs alone (W = 1) and under `mpirun -n 2` and `mpirun -n 4
--oversubscribe`; the results of its ranks are compared here.

Tolerances of W = 2, 4 against W = 1 (dcl with sync_bn, global batch 8): the runs compute the
same function of the same views, but not in the same order: BatchNorm sums per process and then
over processes in float64, each rank's loss rows and the gradient average add float32 values in
another order. Such reorderings change a float32 result by a few units of 1e-7 relative per
sum, and sums over thousands of terms (convolution weight gradients) by about 1e-5 (measured on
2026-12-02: losses 2e-5 relative, first-step gradients 2.3e-5 of their largest value, weights
after the first step 2.3e-5). This tiny network amplifies any difference from step to step
(perturbing the W = 1 run's initial weights by 1e-6 relative moves its step-2 gradients by
5.7e-4 of their largest value and its step-4 gradients by 36%; a ReLU that flips near zero
moved the step-2 gradients of W = 2 against W = 1 by 11% once the kernels' summation order
changed), so an epoch is one step: the gradients of the first step, from the same weights, and
the weights after it are compared, with 10x (weights) to 100x (gradients) margins over the
measured differences; the losses of both epochs are compared too."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import dclkit

from mpi_support import RankZeroOfTwo, kill_one_rank, mpi, mpirun_command, python_program, require_mpi  # noqa: F401

LOSS_TOLERANCE = 1e-4       # relative, both epochs
GRADIENT_TOLERANCE = 2e-3   # of the largest gradient, after the first epoch
WEIGHT_TOLERANCE = 2e-4     # of the largest weight, after the first epoch


class _Done:
    """An mpi4py-like request that has completed."""

    def Test(self) -> bool:
        return True


class _TwinTransport(RankZeroOfTwo):
    """An mpi4py-like communicator of two ranks in one process: the other rank seems to send what
    this one sends (all-gather and broadcast work), and sums fail as if rank 1 had died."""

    def Iallgather(self, send, receive):
        receive.reshape(2, -1)[:] = np.asarray(send).reshape(1, -1)
        return _Done()

    def Ibcast(self, buffer, root):
        return _Done()

    def Ireduce_scatter_block(self, send, receive):
        raise RuntimeError("rank 1 is gone")


TWO_RANK_RUN = dict(width=0.125, image_size=8, batch_size=8, head_dims=(16, 8), epochs=1)


def test_a_failed_collective_in_a_step_raises_DCLCommError_and_writes_nothing(tmp_path):
    trainer = dclkit.Trainer(dclkit.TrainConfig(method="dcl", sync_bn=True, **TWO_RANK_RUN), comm=_TwinTransport())
    assert (trainer.rank, trainer.world_size) == (0, 2)
    images = np.random.default_rng(0).integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    with pytest.raises(dclkit.DCLCommError, match="allreduce.*rank 1 is gone"):
        trainer.fit(images, progress=False, checkpoint=tmp_path / "c.safetensors")
    assert trainer.step == 0 and not (tmp_path / "c.safetensors").exists()


def test_distributed_trainers_refuse_an_indivisible_batch_and_a_foreign_comm():
    with pytest.raises(dclkit.DCLValueError, match="batch_size 7 is the global batch.*divisible by the 2 ranks; use 6 or 8"):
        dclkit.Trainer(dclkit.TrainConfig(method="dcl", **dict(TWO_RANK_RUN, batch_size=7)), comm=_TwinTransport())
    with pytest.raises(TypeError, match="mpi4py communicator"):
        dclkit.Trainer(dclkit.TrainConfig(method="dcl", **TWO_RANK_RUN), comm="COMM_WORLD")


def run(ranks: int, out: Path, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """Runs train.py with `args` on `ranks` ranks (alone for 1) writing into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    program = python_program("train.py", args[0], str(out), *args[1:])
    if ranks == 1:
        command, env = program, dict(os.environ, PYTHONPATH=mpirun_command(1, [])[1]["PYTHONPATH"])
        for name in ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE"):
            env.pop(name, None)
    else:
        command, env = mpirun_command(ranks, program)
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"train.py {args} on {ranks} ranks failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
    return done


def results(out: Path, ranks: int) -> list:
    """Every rank's npz (arrays) or json (an error) written by train.py."""
    found = []
    for r in range(ranks):
        npz, text = out / f"rank{r}.npz", out / f"rank{r}.json"
        found.append(dict(np.load(npz)) if npz.exists() else json.loads(text.read_text()))
    return found


def deviation(a: dict, b: dict, prefix: str) -> float:
    """max |a - b| over the tensors named `prefix`..., relative to max |a| (counts excluded)."""
    keys = [k for k in a if k.startswith(prefix) and not k.endswith("num_batches_tracked")]
    assert keys and all(k in b for k in keys)
    x = np.concatenate([a[k].ravel() for k in keys]).astype(np.float64)
    y = np.concatenate([b[k].ravel() for k in keys]).astype(np.float64)
    return float(np.abs(x - y).max() / np.abs(x).max())


@pytest.fixture(scope="module")
def pair_runs(tmp_path_factory):
    """The dcl + sync_bn run on W = 1, 2, 4: {W: [rank results]}."""
    require_mpi()
    runs = {}
    for w in (1, 2, 4):
        out = tmp_path_factory.mktemp(f"pairs{w}")
        run(w, out, "pairs")
        runs[w] = results(out, w)
    return runs


def test_nnclr_dcl_with_sync_bn_on_two_ranks_equals_one_process(mpi, tmp_path):
    """The first step only: NNCLR's neighbour is an argmax over the support set, so from the
    second step on (the support set then holds the first step's projections) float32 rounding
    may pick another neighbour, and the runs part by more than rounding (measured: 2% of the
    largest gradient at step 2)."""
    runs = {}
    for w in (1, 2):
        run(w, tmp_path / f"w{w}", "nnclr")
        runs[w] = results(tmp_path / f"w{w}", w)
    alone = runs[1][0]
    for rank in runs[2]:
        assert abs(rank["losses"][0] - alone["losses"][0]) <= LOSS_TOLERANCE * abs(alone["losses"][0])
        assert deviation(alone, rank, "first_grad/") <= GRADIENT_TOLERANCE
        assert deviation(alone, rank, "first_state/") <= WEIGHT_TOLERANCE
        assert int(rank["support_hash"]) == int(runs[2][0]["support_hash"])  # one support set
    assert int(runs[2][0]["state_hash"]) == int(runs[2][1]["state_hash"])


@pytest.mark.parametrize("method", ["byol", "simsiam", "barlow-twins", "vicreg"])
def test_baselines_with_sync_bn_on_two_ranks_equal_one_process(mpi, tmp_path, method):
    """The non-contrastive baselines: BatchNorm (the predictor's and BYOL's target network's too)
    over the global batch, Barlow Twins' and VICReg's batch statistics over it through the loss;
    the first step's gradients and weights and both losses as for dcl, one state on both ranks."""
    runs = {}
    for w in (1, 2):
        run(w, tmp_path / f"w{w}", method)
        runs[w] = results(tmp_path / f"w{w}", w)
    alone = runs[1][0]
    for rank in runs[2]:
        assert np.abs(rank["losses"] - alone["losses"]).max() <= LOSS_TOLERANCE * np.abs(alone["losses"]).max()
        assert deviation(alone, rank, "first_grad/") <= GRADIENT_TOLERANCE
        assert deviation(alone, rank, "first_state/") <= WEIGHT_TOLERANCE
    assert int(runs[2][0]["state_hash"]) == int(runs[2][1]["state_hash"])


@pytest.mark.parametrize("w", [2, 4])
def test_dcl_with_sync_bn_on_w_ranks_equals_one_process(pair_runs, w):
    alone = pair_runs[1][0]
    for rank in pair_runs[w]:
        assert rank["step"] == alone["step"] == 2 and rank["epoch"] == alone["epoch"] == 2
        assert np.abs(rank["losses"] - alone["losses"]).max() <= LOSS_TOLERANCE * np.abs(alone["losses"]).max()
        assert deviation(alone, rank, "first_grad/") <= GRADIENT_TOLERANCE
        assert deviation(alone, rank, "first_state/") <= WEIGHT_TOLERANCE
        # The weights moved: the comparison is not between two copies of the initial weights.
        assert deviation(alone, rank, "first_state/") < 1e-3 * deviation(pair_runs[1][0], _initial(rank), "first_state/")
        assert rank["communication"] > 0
    assert alone["communication"] == 0


def _initial(rank: dict) -> dict:
    """The state dict of the run's initial encoder (the same seed and configuration)."""
    encoder = dclkit.Encoder("resnet18", "cifar", width=0.125, head="simclr", head_dims=(16, 8), seed=3)
    return {f"first_state/{k}": v for k, v in encoder.state_dict().items()}


@pytest.mark.parametrize("w", [2, 4])
def test_every_rank_holds_bitwise_identical_weights(pair_runs, w):
    ranks = pair_runs[w]
    assert len({int(r["state_hash"]) for r in ranks}) == 1
    for r in ranks[1:]:
        for key in ranks[0]:
            if key.startswith(("state/", "first_state/", "grad/")):
                assert np.array_equal(ranks[0][key], r[key]), key
    assert int(ranks[0]["state_hash"]) != int(pair_runs[1][0]["state_hash"])  # float noise, not a copy


@pytest.mark.parametrize("w", [2, 4])
def test_moco_queue_is_the_same_on_every_rank(mpi, tmp_path, w):
    run(w, tmp_path, "moco")
    ranks = results(tmp_path, w)
    assert len({int(r["queue_hash"]) for r in ranks}) == 1
    assert len({int(r["state_hash"]) for r in ranks}) == 1  # weights, key encoder, queue, optimiser
    assert int(ranks[0]["queue_hash"]) != int(ranks[0]["queue_start"])  # keys were enqueued
    for r in ranks:
        # Epoch 1 only fills the queue (4 warm-up steps of 8 keys into 32); epoch 2 trains with MoCHi.
        assert np.isnan(r["losses"][0]) and np.isfinite(r["losses"][1]) and r["step"] == 4
        assert r["losses"][1] == ranks[0]["losses"][1]


def test_mismatched_configurations_fail_on_every_rank(mpi, tmp_path):
    run(2, tmp_path, "mismatch")
    errors = results(tmp_path, 2)
    assert all(e["error"] == "DCLValueError" and "differs between ranks" in e["message"]
               and "rank 1 has" in e["message"] for e in errors)
    assert errors[0]["message"] == errors[1]["message"]


def test_ranks_holding_different_training_data_fail_on_every_rank_before_the_first_step(mpi, tmp_path):
    run(2, tmp_path, "data_mismatch")
    errors = results(tmp_path, 2)
    assert all(e["error"] == "DCLValueError" and "training data" in e["message"]
               and "differs between ranks" in e["message"] for e in errors)


def test_a_batch_not_divisible_by_the_ranks_fails_on_every_rank(mpi, tmp_path):
    run(4, tmp_path, "indivisible")
    errors = results(tmp_path, 4)
    assert all(e["error"] == "DCLValueError" and "batch_size 9 is the global batch" in e["message"]
               and "divisible by the 4 ranks" in e["message"] for e in errors)


def test_a_killed_rank_ends_the_run_and_its_checkpoint_resumes_on_another_w(mpi, tmp_path):
    ranks, victim = 4, 2
    checkpoint = tmp_path / "run.safetensors"
    command, env = mpirun_command(ranks, python_program("train.py", "fault", str(tmp_path), str(checkpoint)))
    killed = kill_one_rank(command, env, tmp_path, ranks, victim, ready=checkpoint.exists, wait=120,
                           settle=0.3,  # in the middle of a later epoch
                           what="wrote their first checkpoint")
    assert killed.returncode != 0 and not killed.survivors and killed.elapsed < 60
    assert f"rank {victim}" in killed.output and "signal 9" in killed.output, killed.output

    saved = dclkit.Trainer.resume(checkpoint)  # loadable, mid-run
    assert 1 <= saved.epoch < 500 and saved.step == 2 * saved.epoch
    resumed = {}
    for w in (1, 2):
        out = tmp_path / f"resume{w}"
        run(w, out, "resume", str(checkpoint))
        resumed[w] = results(out, w)
    alone = resumed[1][0]
    assert alone["resumed_epoch"] == saved.epoch and alone["epoch"] == saved.epoch + 1
    assert alone["step"] == saved.step + 2 and len(alone["losses"]) == saved.epoch + 1
    assert np.array_equal(alone["losses"][:-1], np.array([r["loss"] for r in saved.history]))
    for rank in resumed[2]:
        assert rank["epoch"] == alone["epoch"] and rank["step"] == alone["step"]
        assert abs(rank["losses"][-1] - alone["losses"][-1]) <= LOSS_TOLERANCE * abs(alone["losses"][-1])
        assert deviation(alone, rank, "state/") <= WEIGHT_TOLERANCE
    assert int(resumed[2][0]["state_hash"]) == int(resumed[2][1]["state_hash"])


def test_the_cli_trains_on_the_world_mpirun_started(mpi, tmp_path):
    images = np.random.default_rng(1).integers(0, 256, size=(16, 8, 8, 3), dtype=np.uint8)
    labels = np.arange(16) % 2
    np.savez(tmp_path / "data.npz", x_train=images, y_train=labels, x_test=images[:8], y_test=labels[:8])
    out = tmp_path / "run"
    command, env = mpirun_command(2, [sys.executable, "-m", "dclkit", "train", "--data", str(tmp_path / "data.npz"),
                                      "--out", str(out), "--width", "0.125", "--batch-size", "8", "--epochs", "2",
                                      "--sync-bn", "--threads", "1", "--quiet"])
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("saved ") == 1  # rank 0 alone reports and writes
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2] and all(0 <= r["knn_top1"] <= 1 for r in history)
    trainer = dclkit.Trainer.resume(out / "checkpoint.safetensors")
    assert trainer.epoch == 2 and trainer.step == 4 and trainer.config.sync_bn is True

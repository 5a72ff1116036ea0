"""``view_batchnorm``: BatchNorm statistics over both views as one batch ("joint", the default) or
over each view on its own ("per_view", a model called once per view). The field reaches the core
from Python and the command line, changes what a step computes, and a per-view run is exact under
resume. The layer's own math, and its independence of the thread count, are checked in the Swift
tests (BatchNormTests: one BatchNorm per group, the formula in double, finite differences)."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from dclkit import TrainConfig, Trainer

TINY = dict(width=0.0625, batch_size=8, image_size=8, head_dims=(16, 8), warmup_epochs=0, lr=0.05, seed=4,
            augment={"pipeline": "simclr", "blur": 0.0})


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(1).integers(0, 256, size=(24, 8, 8, 3), dtype=np.uint8)


def test_view_batchnorm_is_joint_unless_asked_and_round_trips():
    assert TrainConfig().view_batchnorm == "joint"
    config = TrainConfig(method="byol", view_batchnorm="per_view")
    assert config.view_batchnorm == "per_view"
    assert TrainConfig.from_json(config.to_json()) == config
    assert json.loads(config.to_json())["view_batchnorm"] == "per_view"


@pytest.mark.parametrize("value,error", [("per_image", ValueError), (2, TypeError)])
def test_a_bad_view_batchnorm_is_refused_naming_the_field(value, error):
    with pytest.raises(error, match="view_batchnorm"):
        TrainConfig(view_batchnorm=value)


@pytest.mark.parametrize("method", ["byol", "dcl"])
def test_per_view_changes_the_step_and_joint_is_the_default(method, images):
    losses = {}
    for setting in ["joint", "per_view", None]:
        extra = {} if setting is None else {"view_batchnorm": setting}
        trainer = Trainer(TrainConfig(method=method, epochs=1, **TINY, **extra))
        trainer.fit(images, progress=False)
        losses[setting] = trainer.history[-1]["loss"]
    assert losses[None] == losses["joint"]
    assert losses["per_view"] != losses["joint"] and np.isfinite(losses["per_view"])


@pytest.mark.parametrize("method", ["byol", "simsiam", "dcl"])
def test_a_per_view_run_resumes_exactly(method, images, tmp_path):
    config = TrainConfig(method=method, epochs=2, view_batchnorm="per_view", **TINY)
    straight = Trainer(config)
    straight.fit(images, progress=False)
    first = Trainer(config)
    first.fit(images, epochs=1, progress=False)
    first.save(tmp_path / "run.safetensors")
    del first
    resumed = Trainer.resume(tmp_path / "run.safetensors")
    assert resumed.config.view_batchnorm == "per_view"
    resumed.fit(images, progress=False)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert resumed.state_hash("") == straight.state_hash("")


def test_the_command_line_takes_view_batchnorm(tmp_path):
    def run(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "dclkit", "train", "--data", "builtin:digits", "--method", "byol",
                               "--width", "0.0625", "--epochs", "1", "--batch-size", "64", "--warmup-epochs", "0",
                               "--quiet", *args], capture_output=True, text=True, timeout=600)

    done = run("--view-batchnorm", "per_image", "--out", str(tmp_path / "bad"))
    assert done.returncode != 0 and "view_batchnorm" in done.stderr
    out = tmp_path / "run"
    done = run("--view-batchnorm", "per_view", "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert Trainer.resume(out / "checkpoint.safetensors").config.view_batchnorm == "per_view"


def test_a_sweep_run_at_joint_keeps_the_id_it_had_before_the_field(tmp_path):
    """The field is left out of a run's id at "joint" (``sweep.LATER_FIELDS``): committed study ids
    stay those their specs plan (test_study_ids.py); "per_view" is a run of its own."""
    from dclkit.sweep import plan

    np.savez(tmp_path / "pool.npz", x_train=np.zeros((8, 8, 8, 3), np.uint8), y_train=np.arange(8) % 2)
    table = {"base": dict(method="byol", epochs=1, **TINY), "cross": {"seed": [0]},
             "data": {"path": str(tmp_path / "pool.npz"), "eval_per_class": 2}, "evaluation": {"knn_k": 3}}
    default, = plan(table)
    joint, = plan({**table, "cross": {"seed": [0], "view_batchnorm": ["joint"]}})
    per_view, = plan({**table, "cross": {"seed": [0], "view_batchnorm": ["per_view"]}})
    assert default.id == joint.id and default.config == joint.config and default.config["view_batchnorm"] == "joint"
    assert per_view.id != joint.id

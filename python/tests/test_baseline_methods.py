"""The non-contrastive baselines (BYOL, SimSiam, Barlow Twins, VICReg) through the Python face:
``TrainConfig(method=...)`` resolves the method's defaults from the core, a tiny run trains with
finite losses, and a run saved after an epoch and resumed equals an uninterrupted one bit for
bit. Nothing here is specific to a method: the core's registry is the only place that knows them."""
from __future__ import annotations

import numpy as np
import pytest

from dclkit import TrainConfig, Trainer

BASELINES = ["barlow-twins", "vicreg", "simsiam", "byol"]
TINY = dict(width=0.0625, batch_size=8, image_size=8, head_dims=(16, 8), warmup_epochs=0, lr=0.05, seed=4,
            augment={"pipeline": "simclr", "blur": 0.0})


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).integers(0, 256, size=(24, 8, 8, 3), dtype=np.uint8)


@pytest.mark.parametrize("method", BASELINES)
def test_config_takes_the_methods_defaults_from_the_core(method):
    config = TrainConfig(method=method, batch_size=64)
    assert config.method == method
    assert config.head in ("simclr", "barlowtwins", "simsiam")
    assert len(config.head_dims) == 2 and config.lr > 0


@pytest.mark.parametrize("method", BASELINES)
def test_a_tiny_run_trains_with_finite_losses(method, images):
    trainer = Trainer(TrainConfig(method=method, epochs=2, **TINY))
    history = trainer.fit(images, progress=False)
    assert len(history) == 2 and trainer.step == 6
    assert all(np.isfinite(record["loss"]) for record in history)


@pytest.mark.parametrize("method", BASELINES)
def test_resume_equals_an_uninterrupted_run(method, images, tmp_path):
    straight = Trainer(TrainConfig(method=method, epochs=2, **TINY))
    straight.fit(images, progress=False)
    first = Trainer(TrainConfig(method=method, epochs=2, **TINY))
    first.fit(images, epochs=1, progress=False)
    first.save(tmp_path / "run.safetensors")
    del first
    resumed = Trainer.resume(tmp_path / "run.safetensors")
    resumed.fit(images, progress=False)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    assert resumed.state_hash("") == straight.state_hash("")

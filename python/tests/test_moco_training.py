"""MoCo-family training: moco, moco-dcl and mochi learn, and resume exactly (queue and key
encoder included)."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import TrainConfig, Trainer

TINY = dict(arch="resnet18", stem="cifar", width=0.125, batch_size=32, image_size=16, warmup_epochs=0,
            lr=0.1, seed=5, queue_size=128, momentum_encoder=0.9, shuffle_bn_groups=4,
            mochi_n_hard=16, mochi_s=8, mochi_s_prime=8, augment={"pipeline": "mocov2", "blur": 0.0})


@pytest.fixture(scope="module")
def images():
    return dclkit.datasets.builtin("digits").x_train[:256]


@pytest.mark.parametrize("method", ["moco", "moco-dcl", "mochi"])
def test_fit_lowers_the_loss(method, images):
    tr = Trainer(TrainConfig(method=method, epochs=6, **TINY))
    history = tr.fit(images, progress=False)
    assert history[-1]["loss"] < history[0]["loss"], [h["loss"] for h in history]


def test_symmetric_moco_trains(images):
    tr = Trainer(TrainConfig(method="moco", epochs=2, symmetric=True, **TINY))
    history = tr.fit(images, progress=False)
    assert all(np.isfinite(h["loss"]) for h in history)


@pytest.mark.parametrize("method", ["moco", "mochi"])
def test_resume_equals_an_uninterrupted_run(method, tmp_path, images):
    x = images[:128]
    config = dict(TINY, mochi_start_epoch=1)
    straight = Trainer(TrainConfig(method=method, epochs=2, **config))
    straight.fit(x, progress=False)

    first = Trainer(TrainConfig(method=method, epochs=2, **config))
    first.fit(x, epochs=1, progress=False)
    first.save(tmp_path / "moco.safetensors")
    del first
    resumed = Trainer.resume(tmp_path / "moco.safetensors")
    resumed.fit(x, progress=False)

    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in straight.history]
    a, b = straight.encoder.state_dict(), resumed.encoder.state_dict()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_checkpoint_holds_queue_and_key_encoder(tmp_path, images):
    safetensors = pytest.importorskip("safetensors.numpy")
    tr = Trainer(TrainConfig(method="moco", epochs=1, **TINY))
    tr.fit(images[:64], progress=False)
    tr.save(tmp_path / "m.safetensors")
    tensors = safetensors.load_file(str(tmp_path / "m.safetensors"))
    assert tensors["queue"].shape == (128, 128)
    np.testing.assert_allclose(np.linalg.norm(tensors["queue"], axis=1), 1.0, atol=1e-4)
    assert tensors["queue_ptr"][0] == 64 % 128
    assert "key_encoder.conv1.weight" in tensors and "encoder.conv1.weight" in tensors
    # The key encoder follows the query encoder but is not equal to it after training.
    assert not np.array_equal(tensors["key_encoder.conv1.weight"], tensors["encoder.conv1.weight"])


def test_queue_must_hold_a_symmetric_step():
    with pytest.raises(ValueError, match="queue_size"):
        Trainer(TrainConfig(method="moco", epochs=1, **dict(TINY, queue_size=32, mochi_n_hard=8), symmetric=True))

"""MoCo-family training: moco, moco-dcl and mochi learn, and resume exactly (queue and key
encoder included).

The tiny runs follow MoCo's CIFAR recipe scaled down (τ = 0.1, m = 0.99, SGD lr 0.03) with the
queue warm-up on: the first K/B = 4 steps only fill the queue with real keys, so every recorded
loss is measured against real keys (chance is log(K + 1) = 4.86) and a fall means learning, not
the queue trading MoCo's random start vectors (an easy task) for real keys (a hard one).
See docs/MOCO_TRAINING.md for why training on the random start vectors collapses.
"""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import TrainConfig, Trainer

TINY = dict(arch="resnet18", stem="cifar", width=0.125, batch_size=32, image_size=16, warmup_epochs=0,
            lr=0.03, temperature=0.1, seed=5, queue_size=128, momentum_encoder=0.99, shuffle_bn_groups=4,
            mochi_n_hard=16, mochi_s=8, mochi_s_prime=8, augment={"pipeline": "mocov2", "blur": 0.0})


@pytest.fixture(scope="module")
def images():
    return dclkit.datasets.builtin("digits").x_train[:256]


@pytest.mark.parametrize("method", ["moco", "moco-dcl", "mochi"])
def test_fit_lowers_the_loss_against_a_queue_of_real_keys(method, images):
    tr = Trainer(TrainConfig(method=method, epochs=6, **TINY))
    history = tr.fit(images, progress=False)
    losses = [h["loss"] for h in history]
    assert history[0]["warmup_steps"] == 128 // 32 and "warmup_steps" not in history[1]
    # Epoch 0 trains only after the queue is full, so every loss here is against real keys; the
    # last epoch is below the first by more than the epoch-to-epoch noise seen here (~0.03).
    assert losses[-1] < losses[0] - 0.1, losses


def test_warmup_steps_fill_the_queue_without_updating_the_encoder(images):
    tr = Trainer(TrainConfig(method="moco", epochs=1, **TINY))
    before = tr.encoder.state_dict()
    v0, v1 = dclkit.augment.MoCoV2(size=16, blur=0.0, normalize="cifar10")(images[:32], seed=1)
    losses = [tr.train_step(v0, v1) for _ in range(128 // 32)]
    assert all(np.isnan(x) for x in losses) and tr.step == 0
    after = tr.encoder.state_dict()
    for name in before:
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            np.testing.assert_array_equal(before[name], after[name], err_msg=name)
    assert np.isfinite(tr.train_step(v0, v1)) and tr.step == 1


def test_symmetric_moco_trains(images):
    tr = Trainer(TrainConfig(method="moco", epochs=2, symmetric=True, **TINY))
    history = tr.fit(images, progress=False)
    assert all(np.isfinite(h["loss"]) for h in history)


@pytest.mark.parametrize("method", ["moco", "mochi"])
def test_resume_equals_an_uninterrupted_run(method, tmp_path, images):
    x = images[:192]  # 6 steps per epoch: 4 queue warm-up steps, then 2 updates
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
    tr.fit(images[:192], progress=False)
    tr.save(tmp_path / "m.safetensors")
    tensors = safetensors.load_file(str(tmp_path / "m.safetensors"))
    assert tensors["queue"].shape == (128, 128)
    np.testing.assert_allclose(np.linalg.norm(tensors["queue"], axis=1), 1.0, atol=1e-4)
    assert tensors["queue_ptr"][0] == 192 % 128 and tensors["queue_filled"][0] == 128
    assert "key_encoder.conv1.weight" in tensors and "encoder.conv1.weight" in tensors
    # The key encoder follows the query encoder but is not equal to it after training.
    assert not np.array_equal(tensors["key_encoder.conv1.weight"], tensors["encoder.conv1.weight"])


def test_queue_must_hold_a_symmetric_step():
    with pytest.raises(ValueError, match="queue_size"):
        Trainer(TrainConfig(method="moco", epochs=1, **dict(TINY, queue_size=32, mochi_n_hard=8), symmetric=True))

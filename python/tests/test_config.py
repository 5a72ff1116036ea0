"""TrainConfig: method defaults, the batch-size rule for the learning rate, and bad configs."""
from __future__ import annotations

import pytest

import dclkit
from dclkit.config import TrainConfig


def test_simclr_family_defaults():
    cfg = TrainConfig(method="dcl", batch_size=512)
    assert (cfg.temperature, cfg.head, cfg.augment) == (0.1, "simclr", "simclr")
    assert cfg.lr == pytest.approx(0.06 * 512 / 256)


def test_moco_family_defaults():
    cfg = TrainConfig(method="moco", batch_size=256)
    assert (cfg.temperature, cfg.head, cfg.augment) == (0.2, "moco", "mocov2")
    assert cfg.lr == pytest.approx(0.03)


def test_lars_base_rate_and_absolute_lr():
    assert TrainConfig(optimizer="lars", batch_size=128).lr == pytest.approx(0.15)
    assert TrainConfig(lr=0.5, batch_size=128).lr == 0.5


def test_moco_cifar_preset():
    cfg = TrainConfig.moco_cifar(batch_size=128)
    assert (cfg.queue_size, cfg.momentum_encoder, cfg.temperature, cfg.symmetric) == (4096, 0.99, 0.1, True)
    assert cfg.augment["blur"] == 0.0


def test_json_round_trip():
    cfg = TrainConfig(method="mochi", head_dims=(64, 32), batch_size=64, queue_size=1024, mochi_n_hard=32)
    assert TrainConfig.from_json(cfg.to_json()) == cfg


@pytest.mark.parametrize(
    "kwargs,error",
    [
        ({"method": "byol"}, ValueError),
        ({"arch": "vgg"}, ValueError),
        ({"stem": "tiny"}, ValueError),
        ({"head": "linear"}, ValueError),
        ({"optimizer": "adam"}, ValueError),
        ({"method": 3}, TypeError),
        ({"batch_size": 1}, ValueError),
        ({"batch_size": 8.0}, TypeError),
        ({"epochs": 0}, ValueError),
        ({"temperature": 0.0}, ValueError),
        ({"temperature": float("nan")}, ValueError),
        ({"sigma": -1}, ValueError),
        ({"width": 0}, ValueError),
        ({"lr": float("inf")}, ValueError),
        ({"momentum": 1.0}, ValueError),
        ({"weight_decay": -1e-4}, ValueError),
        ({"image_size": 4}, ValueError),
        ({"head_dims": (64,)}, ValueError),
        ({"augment": "autoaugment"}, ValueError),
        ({"augment": 3}, TypeError),
        ({"method": "moco", "batch_size": 256, "queue_size": 1000}, ValueError),
        ({"method": "moco", "momentum_encoder": 1.0}, ValueError),
        ({"method": "mochi", "batch_size": 32, "queue_size": 64, "mochi_n_hard": 65}, ValueError),
        ({"method": "mochi", "mochi_s": -1}, ValueError),
        ({"method": "moco", "shuffle_bn_groups": 0}, ValueError),
    ],
)
def test_bad_configs_raise_at_construction(kwargs, error):
    with pytest.raises(error) as caught:
        TrainConfig(**kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


def test_from_json_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown"):
        TrainConfig.from_json('{"method": "dcl", "colour": "red"}')

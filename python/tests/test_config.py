"""TrainConfig: the core's defaults and rules reach Python, with errors that name the field."""
from __future__ import annotations

import pytest

import dclkit
from dclkit.config import TrainConfig, resolve


def test_simclr_family_defaults():
    cfg = TrainConfig(method="dcl", batch_size=512)
    assert (cfg.temperature, cfg.head, cfg.augment) == (0.1, "simclr", "simclr")
    assert cfg.lr == pytest.approx(0.06 * 512 / 256)
    assert cfg.head_dims == (512, 128) and isinstance(cfg.width, float)


def test_moco_family_defaults():
    cfg = TrainConfig(method="moco", batch_size=256)
    assert (cfg.temperature, cfg.head, cfg.augment) == (0.2, "moco", "mocov2")
    assert cfg.lr == pytest.approx(0.03)
    assert (cfg.queue_size, cfg.momentum_encoder, cfg.queue_warmup) == (65536, 0.999, True)


def test_sync_bn_is_off_unless_asked():
    assert TrainConfig().sync_bn is False and TrainConfig(sync_bn=True).sync_bn is True


def test_lars_base_rate_and_absolute_lr():
    assert TrainConfig(optimizer="lars", batch_size=128).lr == pytest.approx(0.15)
    assert TrainConfig(lr=0.5, batch_size=128).lr == 0.5


def test_moco_cifar_preset():
    cfg = TrainConfig.moco_cifar(batch_size=128)
    assert (cfg.queue_size, cfg.momentum_encoder, cfg.temperature, cfg.symmetric) == (4096, 0.99, 0.1, True)
    assert cfg.augment == {"pipeline": "mocov2", "blur": 0.0}


def test_json_round_trip():
    cfg = TrainConfig(method="mochi", head_dims=(64, 32), batch_size=64, queue_size=1024, mochi_n_hard=32)
    assert TrainConfig.from_json(cfg.to_json()) == cfg


def test_resolve_fills_the_shared_fields_and_the_methods_own():
    completed = resolve('{"method": "dclw", "batch_size": 64}')
    fields = dclkit.config.schema()["fields"]
    assert list(completed) == [f["name"] for f in fields if f["methods"] is None or "dclw" in f["methods"]]
    assert set(completed) < set(TrainConfig.__dataclass_fields__)
    assert completed["lr"] == pytest.approx(0.06 * 64 / 256) and completed["sigma"] == 0.5


def test_integral_floats_are_integers():
    cfg = TrainConfig(batch_size=8.0)
    assert cfg.batch_size == 8 and isinstance(cfg.batch_size, int)


@pytest.mark.parametrize(
    "kwargs,error,field",
    [
        ({"method": "swav"}, ValueError, "method"),
        ({"arch": "vgg"}, ValueError, "arch"),
        ({"stem": "tiny"}, ValueError, "stem"),
        ({"head": "linear"}, ValueError, "head"),
        ({"optimizer": "adam"}, ValueError, "optimizer"),
        ({"method": 3}, TypeError, "method"),
        ({"batch_size": 1}, ValueError, "batch_size"),
        ({"batch_size": 8.5}, TypeError, "batch_size"),
        ({"batch_size": True}, TypeError, "batch_size"),
        ({"epochs": 0}, ValueError, "epochs"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
        ({"sigma": -1}, ValueError, "sigma"),
        ({"width": 0}, ValueError, "width"),
        ({"lr": float("inf")}, ValueError, "lr"),
        ({"momentum": 1.0}, ValueError, "momentum"),
        ({"weight_decay": -1e-4}, ValueError, "weight_decay"),
        ({"weight_decay": float("inf")}, ValueError, "weight_decay"),
        ({"seed": 2**63}, ValueError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"image_size": 4}, ValueError, "image_size"),
        ({"head_dims": (64,)}, TypeError, "head_dims"),
        ({"head_dims": 5}, TypeError, "head_dims"),
        ({"head_dims": (64, 0)}, ValueError, "head_dims"),
        ({"augment": "autoaugment"}, ValueError, "augment"),
        ({"augment": 3}, TypeError, "augment"),
        ({"augment": {"flip": 1.5}}, ValueError, "augment.flip"),
        ({"augment": {"colour": 1}}, ValueError, "augment.colour"),
        ({"augment": {"pipeline": "mocov2", "strength": 0.5}}, ValueError, "augment.strength"),
        ({"method": "moco", "queue_warmup": 1}, TypeError, "queue_warmup"),
        ({"method": "dcl", "queue_size": 4096}, ValueError, "queue_size is a setting of moco, moco-dcl, mochi"),
        ({"sync_bn": "yes"}, TypeError, "sync_bn"),
        ({"method": object()}, TypeError, "method"),
        ({"method": "moco", "batch_size": 256, "queue_size": 1000}, ValueError, "queue_size"),
        ({"method": "moco", "momentum_encoder": 1.0}, ValueError, "momentum_encoder"),
        ({"method": "mochi", "batch_size": 32, "queue_size": 64, "mochi_n_hard": 65}, ValueError, "mochi_n_hard"),
        ({"method": "mochi", "mochi_s": -1}, ValueError, "mochi_s"),
        ({"method": "moco", "shuffle_bn_groups": 0}, ValueError, "shuffle_bn_groups"),
    ],
)
def test_bad_configs_raise_at_construction_naming_the_field(kwargs, error, field):
    with pytest.raises(error, match=field.replace(".", r"\.").replace("[", r"\[")) as caught:
        TrainConfig(**kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


@pytest.mark.parametrize(
    "text,error",
    [("5", TypeError), ("{", ValueError), ("[1, 2]", TypeError), ('{"method": "dcl", "colour": "red"}', ValueError),
     ('{"batch_size": "64"}', TypeError), ('{"method": "dcl", "method": "moco"}', ValueError)],
)
def test_from_json_rejects_what_is_not_a_configuration(text, error):
    with pytest.raises(error) as caught:
        TrainConfig.from_json(text)
    assert isinstance(caught.value, dclkit.DCLError)


def test_from_json_needs_a_string():
    with pytest.raises(dclkit.DCLTypeError):
        TrainConfig.from_json(b"{}")


def test_unknown_fields_and_surplus_arguments_are_dcl_type_errors():
    with pytest.raises(dclkit.DCLTypeError, match="unknown field bogus"):
        TrainConfig(bogus=1)
    with pytest.raises(dclkit.DCLTypeError, match="positional"):
        TrainConfig(*range(100))


def test_resume_with_a_wrong_comm_is_a_dcl_type_error(tmp_path):
    with pytest.raises(dclkit.DCLTypeError, match="comm"):
        dclkit.Trainer.resume(tmp_path / "none.safetensors", comm="x")

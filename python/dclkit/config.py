"""Training configuration: one validated dataclass for every method."""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Optional

from ._native import DCLTypeError, DCLValueError

__all__ = ["TrainConfig", "METHODS", "SIMCLR_FAMILY", "MOCO_FAMILY"]

SIMCLR_FAMILY = ("simclr", "dcl", "dclw")
MOCO_FAMILY = ("moco", "moco-dcl", "mochi")
METHODS = SIMCLR_FAMILY + MOCO_FAMILY
ARCHS = ("resnet18", "resnet34", "resnet50")
STEMS = ("cifar", "imagenet")
HEADS = ("simclr", "moco")
OPTIMIZERS = ("sgd", "lars")

# Base learning rates per 256 images, from the papers' recipes: SimCLR's LARS 0.3·B/256,
# MoCo v2's SGD 0.03·B/256, and SGD 0.06·B/256 for the SimCLR family (lightly's CIFAR benchmarks).
_BASE_LR = {"lars": 0.3, "sgd": 0.06, "moco-sgd": 0.03}


@dataclass
class TrainConfig:
    """Everything that defines a pretraining run; validated at construction.

    ``None`` fields take the method's default in ``__post_init__``: ``temperature`` 0.1 for the
    SimCLR family (simclr, dcl, dclw) and 0.2 for the MoCo family (moco, moco-dcl, mochi);
    ``head`` "simclr" / "moco"; ``augment`` "simclr" / "mocov2"; ``lr`` the base rate of the
    optimiser (SGD 0.06, MoCo's SGD 0.03, LARS 0.3) times ``batch_size / 256``. A given ``lr``
    is used as it is (absolute). ``weight_decay`` applies to every parameter except BatchNorm
    parameters and biases. ``augment`` is "simclr", "mocov2" or a dict of pipeline overrides with a
    "pipeline" key (see :mod:`dclkit.augment`).

    MoCo-family fields: ``queue_size`` K (a multiple of ``batch_size``), ``momentum_encoder`` m in
    [0, 1), ``shuffle_bn_groups`` (key-batch BN groups, the single-process stand-in for MoCo's
    shuffle-BN), ``symmetric`` (swap the views and average), and MoCHi's ``mochi_n_hard``,
    ``mochi_s``, ``mochi_s_prime``, ``mochi_start_epoch``. See :meth:`moco_cifar` for MoCo's CIFAR
    recipe.
    """

    method: str = "dcl"
    arch: str = "resnet18"
    stem: str = "cifar"
    width: float = 1.0
    head: Optional[str] = None
    head_dims: Optional[tuple] = None
    batch_size: int = 256
    epochs: int = 100
    image_size: int = 32
    temperature: Optional[float] = None
    sigma: float = 0.5
    optimizer: str = "sgd"
    lr: Optional[float] = None
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 10
    augment: Any = None
    seed: int = 0
    queue_size: int = 65536
    momentum_encoder: float = 0.999
    shuffle_bn_groups: int = 4
    symmetric: bool = False
    mochi_n_hard: int = 1024
    mochi_s: int = 256
    mochi_s_prime: int = 256
    mochi_start_epoch: int = 0

    def __post_init__(self) -> None:
        _choice(self.method, "method", METHODS)
        _choice(self.arch, "arch", ARCHS)
        _choice(self.stem, "stem", STEMS)
        _choice(self.optimizer, "optimizer", OPTIMIZERS)
        moco = self.method in MOCO_FAMILY
        if self.head is None:
            self.head = "moco" if moco else "simclr"
        _choice(self.head, "head", HEADS)
        if self.head_dims is not None:
            dims = tuple(self.head_dims)
            if len(dims) != 2 or not all(_is_int(d) and d >= 1 for d in dims):
                raise DCLValueError(f"head_dims must be (hidden, out) positive ints, got {self.head_dims!r}")
            self.head_dims = tuple(int(d) for d in dims)
        if self.temperature is None:
            self.temperature = 0.2 if moco else 0.1
        if self.augment is None:
            self.augment = "mocov2" if moco else "simclr"
        if isinstance(self.augment, str):
            _choice(self.augment, "augment", ("simclr", "mocov2"))
        elif isinstance(self.augment, dict):
            _choice(self.augment.get("pipeline", "simclr"), "augment['pipeline']", ("simclr", "mocov2"))
        else:
            raise DCLTypeError(f"augment must be None, 'simclr', 'mocov2' or a dict, got {type(self.augment).__name__}")
        _positive(self.width, "width")
        _positive(self.temperature, "temperature")
        _positive(self.sigma, "sigma")
        _int_at_least(self.batch_size, "batch_size", 2)
        _int_at_least(self.epochs, "epochs", 1)
        _int_at_least(self.image_size, "image_size", 8)
        _int_at_least(self.warmup_epochs, "warmup_epochs", 0)
        _int_at_least(self.seed, "seed", 0)
        _in_range(self.momentum, "momentum", 0.0, 1.0, upper_open=True)
        _in_range(self.weight_decay, "weight_decay", 0.0, math.inf)
        if self.lr is None:
            key = "moco-sgd" if (moco and self.optimizer == "sgd") else self.optimizer
            self.lr = _BASE_LR[key] * self.batch_size / 256
        _positive(self.lr, "lr")
        if moco:
            _int_at_least(self.queue_size, "queue_size", self.batch_size)
            if self.queue_size % self.batch_size != 0:
                raise DCLValueError(
                    f"queue_size ({self.queue_size}) must be a multiple of batch_size ({self.batch_size})")
            _in_range(self.momentum_encoder, "momentum_encoder", 0.0, 1.0, upper_open=True)
            _int_at_least(self.shuffle_bn_groups, "shuffle_bn_groups", 1)
            _int_at_least(self.mochi_n_hard, "mochi_n_hard", 1)
            if self.method == "mochi" and self.mochi_n_hard > self.queue_size:
                raise DCLValueError(f"mochi_n_hard ({self.mochi_n_hard}) must not exceed queue_size ({self.queue_size})")
            _int_at_least(self.mochi_s, "mochi_s", 0)
            _int_at_least(self.mochi_s_prime, "mochi_s_prime", 0)
            _int_at_least(self.mochi_start_epoch, "mochi_start_epoch", 0)
        if not isinstance(self.symmetric, bool):
            raise DCLTypeError(f"symmetric must be a bool, got {type(self.symmetric).__name__}")

    @classmethod
    def moco_cifar(cls, **overrides: Any) -> "TrainConfig":
        """MoCo's own CIFAR recipe: K = 4096, m = 0.99, τ = 0.1, symmetric loss, no blur,
        SGD lr 0.06, wd 5e-4; ``overrides`` replace any field (``method`` defaults to "moco")."""
        settings: dict[str, Any] = dict(
            method="moco", queue_size=4096, momentum_encoder=0.99, temperature=0.1, symmetric=True,
            augment={"pipeline": "mocov2", "blur": 0.0}, lr=0.06, weight_decay=5e-4, mochi_n_hard=32,
            mochi_s=16, mochi_s_prime=16,
        )
        settings.update(overrides)
        return cls(**settings)

    def to_json(self) -> str:
        """The configuration as JSON (stored in checkpoints)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """The configuration stored by :meth:`to_json`; unknown keys raise."""
        data = json.loads(text)
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise DCLValueError(f"unknown TrainConfig fields {sorted(unknown)}")
        if data.get("head_dims") is not None:
            data["head_dims"] = tuple(data["head_dims"])
        return cls(**data)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _choice(value: Any, name: str, options: tuple) -> None:
    if not isinstance(value, str):
        raise DCLTypeError(f"{name} must be a string, one of {options}, got {type(value).__name__}")
    if value not in options:
        raise DCLValueError(f"unknown {name} {value!r}; choose one of {', '.join(options)}")


def _number(x: Any, name: str) -> float:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        raise DCLTypeError(f"{name} must be a number, got {type(x).__name__}")
    return float(x)


def _positive(x: Any, name: str) -> None:
    value = _number(x, name)
    if not math.isfinite(value) or value <= 0:
        raise DCLValueError(f"{name} must be a finite positive number, got {x!r}")


def _in_range(x: Any, name: str, low: float, high: float, upper_open: bool = False) -> None:
    value = _number(x, name)
    too_high = value >= high if upper_open else value > high
    if math.isnan(value) or value < low or too_high or (math.isinf(value) and not math.isinf(high)):
        bracket = ")" if upper_open else "]"
        raise DCLValueError(f"{name} must be in [{low}, {high}{bracket}, got {x!r}")


def _int_at_least(x: Any, name: str, minimum: int) -> None:
    if not _is_int(x):
        raise DCLTypeError(f"{name} must be an int, got {type(x).__name__}")
    if x < minimum:
        raise DCLValueError(f"{name} must be at least {minimum}, got {x}")

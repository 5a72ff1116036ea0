"""Training configuration: one dataclass for every method, completed and checked by the core."""
from __future__ import annotations

import ctypes
import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from ._native import DCLTypeError, DCLValueError, call, functions

__all__ = ["TrainConfig", "resolve"]

_resolve = functions["dcl_config_resolve"]

# Fields whose values are floats in Python (JSON writes 1.0 as 1).
_FLOATS = ("width", "temperature", "sigma", "lr", "momentum", "weight_decay", "momentum_encoder")


def resolve(text: str) -> dict[str, Any]:
    """The completed configuration of a JSON object, as the core fills and checks it.

    Parameters
    ----------
    text : str
        A JSON object with any of :class:`TrainConfig`'s fields; absent or null fields take
        their defaults.

    Returns
    -------
    dict
        Every field, with its value.

    Raises
    ------
    DCLValueError, DCLTypeError
        For the first field that breaks a rule (the message names it), text that is not JSON or
        not an object, and unknown fields.
    """
    if not isinstance(text, str):
        raise DCLTypeError(f"the configuration must be a JSON string, got {type(text).__name__}")
    data = text.encode()
    needed = ctypes.c_int64()
    call(_resolve, data, None, 0, ctypes.byref(needed))
    buffer = ctypes.create_string_buffer(needed.value)
    call(_resolve, data, buffer, needed.value, ctypes.byref(needed))
    return json.loads(buffer.value.decode())


@dataclass
class TrainConfig:
    """Everything that defines a pretraining run; completed and checked at construction.

    The Swift core owns every default and every rule: ``__post_init__`` sends the fields to it
    and takes back the completed configuration, or raises a ``DCLValueError`` / ``DCLTypeError``
    naming the first bad field. ``None`` fields take their defaults: ``method`` "dcl", ``arch``
    "resnet18", ``stem`` "cifar", ``width`` 1.0, ``batch_size`` 256, ``epochs`` 100,
    ``image_size`` 32, ``sigma`` 0.5, ``optimizer`` "sgd", ``momentum`` 0.9, ``weight_decay``
    5e-4, ``warmup_epochs`` 10, ``seed`` 0; per method ``temperature`` 0.1 for the SimCLR family
    (simclr, dcl, dclw) and 0.2 for the MoCo family (moco, moco-dcl, mochi), ``head`` "simclr" /
    "moco", ``augment`` "simclr" / "mocov2"; ``head_dims`` (F, 128) with F the feature
    dimension; ``lr`` the base rate of the optimiser (SGD 0.06, MoCo's SGD 0.03, LARS 0.3) times
    ``batch_size / 256``. A given ``lr`` is used as it is (absolute). ``weight_decay`` applies
    to every parameter except BatchNorm parameters and biases. ``augment`` is "simclr",
    "mocov2" or a dict of pipeline overrides with an optional "pipeline" key (the keyword
    arguments of :class:`dclkit.augment.SimCLR` / :class:`~dclkit.augment.MoCoV2`, such as
    ``blur``, ``strength``, ``normalize``, ``scale``); ``normalize`` defaults to CIFAR-10's
    statistics up to 64 pixels and ImageNet's above. Integers are JSON numbers without a
    fraction (8.0 is 8), below 2**53.

    MoCo-family fields: ``queue_size`` K (a multiple of ``batch_size``, default 65536),
    ``momentum_encoder`` m in [0, 1) (0.999), ``shuffle_bn_groups`` (key-batch BN groups, the
    single-process stand-in for MoCo's shuffle-BN; 4), ``queue_warmup`` (True: the first
    ``queue_size / batch_size`` steps only fill the queue with real keys, no loss and no update,
    instead of training against MoCo's random start vectors, which collapses small runs; see
    docs/MOCO_TRAINING.md), ``symmetric`` (False; swap the views and average), and MoCHi's
    ``mochi_n_hard`` (1024), ``mochi_s`` (256), ``mochi_s_prime`` (256), ``mochi_start_epoch``
    (0). See :meth:`moco_cifar` for MoCo's CIFAR recipe.

    NNCLR (nnclr with InfoNCE, nnclr-dcl with DCL's denominator; SimCLR-family defaults):
    ``support_size`` K of the support set of past projections whose nearest neighbours are the
    positives (default 24 * ``batch_size``, the paper's 98304 at batch 4096; at least one batch).

    Distributed runs: ``sync_bn`` (False) makes BatchNorm use the statistics of the global batch,
    forward and backward, when the trainer is given a communicator of several ranks.
    """

    method: Optional[str] = None
    arch: Optional[str] = None
    stem: Optional[str] = None
    width: Optional[float] = None
    head: Optional[str] = None
    head_dims: Optional[tuple] = None
    batch_size: Optional[int] = None
    epochs: Optional[int] = None
    image_size: Optional[int] = None
    temperature: Optional[float] = None
    sigma: Optional[float] = None
    optimizer: Optional[str] = None
    lr: Optional[float] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    warmup_epochs: Optional[int] = None
    augment: Any = None
    seed: Optional[int] = None
    queue_size: Optional[int] = None
    momentum_encoder: Optional[float] = None
    shuffle_bn_groups: Optional[int] = None
    queue_warmup: Optional[bool] = None
    symmetric: Optional[bool] = None
    mochi_n_hard: Optional[int] = None
    mochi_s: Optional[int] = None
    mochi_s_prime: Optional[int] = None
    mochi_start_epoch: Optional[int] = None
    support_size: Optional[int] = None
    sync_bn: Optional[bool] = None

    def __post_init__(self) -> None:
        request = {f.name: _jsonable(getattr(self, f.name), f.name) for f in dataclasses.fields(self)}
        self._complete(resolve(json.dumps(request, allow_nan=False)))

    def _complete(self, completed: dict[str, Any]) -> None:
        for f in dataclasses.fields(self):
            value = completed[f.name]
            if f.name in _FLOATS:
                value = float(value)
            elif f.name == "head_dims":
                value = tuple(value)
            setattr(self, f.name, value)

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
        """The completed configuration as JSON (stored in checkpoints)."""
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        """The configuration of a JSON object such as :meth:`to_json` writes; unknown keys raise."""
        config = cls.__new__(cls)
        config._complete(resolve(text))
        return config


def _jsonable(value: Any, name: str, depth: int = 0) -> Any:
    """``value`` in JSON's types, for the core to check: numpy scalars and arrays become Python
    numbers and lists, tuples lists, and a non-finite float the name Python's ``json`` gives it
    ("NaN", "Infinity", "-Infinity"), which the core refuses as a non-finite value. A container
    nested deeper than the core's JSON reader takes (64 levels), such as one that holds itself,
    is refused here, before Python's recursion limit."""
    if depth > 64:
        raise DCLValueError(f"{name} is nested too deeply (or contains itself)")
    if isinstance(value, np.ndarray):
        value = value.tolist()
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else json.dumps(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, f"{name}[{i}]", depth + 1) for i, v in enumerate(value)]
    if isinstance(value, dict):
        for key in value:
            if not isinstance(key, str):
                raise DCLTypeError(f"{name} keys must be strings, got {key!r}")
        return {key: _jsonable(v, f"{name}.{key}", depth + 1) for key, v in value.items()}
    raise DCLTypeError(f"{name} must be a number, string, bool, list, dict or None, got {type(value).__name__}")

"""Training configuration: one dataclass for every method, completed and checked by the core."""
from __future__ import annotations

import dataclasses
import functools
import json
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._fields import METHODS, ConfigFields
from ._native import DCLTypeError, DCLValueError, functions, text_output

__all__ = ["TrainConfig", "resolve", "schema", "METHODS"]

_resolve = functions["dcl_config_resolve"]
_schema = functions["dcl_config_schema"]


@functools.cache
def _schema_text() -> str:
    return text_output(_schema)


def schema() -> dict[str, Any]:
    """The core's description of the run configuration.

    Returns
    -------
    dict
        ``{"version": 1, "fields": [...], "methods": [...]}``: every field with its ``type``,
        ``range`` or ``choices``, ``default`` or ``default_rule``, the ``methods`` that use it
        (``None``: all) and a one-line ``doc``; every method with its ``family``, ``label``,
        ``summary``, ``paper``, family ``defaults``, ``settings`` and ``checkpoint`` entries.
        A fresh copy on every call.
    """
    return json.loads(_schema_text())


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
        Every shared field and the method's own, with their values.

    Raises
    ------
    DCLValueError, DCLTypeError
        For the first field that breaks a rule (the message names it), text that is not JSON or
        not an object, unknown fields and values for settings of other methods.
    """
    if not isinstance(text, str):
        raise DCLTypeError(f"the configuration must be a JSON string, got {type(text).__name__}")
    return json.loads(text_output(_resolve, text.encode()))


@dataclass
class TrainConfig(ConfigFields):
    """Everything that defines a pretraining run; completed and checked at construction.

    The fields (generated from the core's schema, each with its doc, range and default) are
    the shared ones (method, encoder, batch, schedule, optimiser, augmentation, seed, SyncBN)
    and every method's own settings; a field another method owns stays ``None`` and giving it
    a value raises. The Swift core owns every default and every rule: ``__post_init__`` sends
    the fields to it and takes back the completed configuration, or raises a
    ``DCLValueError`` / ``DCLTypeError`` naming the first bad field. ``lr`` defaults to the
    method's base rate for the optimiser times ``batch_size / 256``; a given ``lr`` is
    absolute. Integers are JSON numbers without a fraction (8.0 is 8), below 2**53.
    ``dclkit.config.schema()`` lists the fields and methods; the README's method table too.
    """

    def __new__(cls, *args: Any, **fields: Any) -> TrainConfig:
        """Refuses unknown field names and surplus positional arguments with ``DCLTypeError``
        (naming the known fields) before the dataclass's ``__init__`` would raise a bare ``TypeError``."""
        known = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(fields) - set(known))
        if unknown or len(args) > len(known):
            what = f"unknown field {', '.join(unknown)}" if unknown else f"{len(args)} positional arguments"
            raise DCLTypeError(f"TrainConfig got {what}; the fields are {', '.join(known)}")
        return super().__new__(cls)

    def __post_init__(self) -> None:
        request = {f.name: _jsonable(getattr(self, f.name), f.name) for f in dataclasses.fields(self)}
        self._complete(resolve(json.dumps(request, allow_nan=False)))

    def _complete(self, completed: dict[str, Any]) -> None:
        kinds = _field_types()
        for f in dataclasses.fields(self):
            value = completed.get(f.name)
            if value is not None and kinds[f.name] == "number":
                value = float(value)
            elif value is not None and kinds[f.name] == "integer_pair":
                value = tuple(value)
            setattr(self, f.name, value)

    @classmethod
    def _completed(cls, text: str) -> TrainConfig:
        """The configuration of the core's completed JSON, taken as it is (not resolved again)."""
        config = cls.__new__(cls)
        config._complete(json.loads(text))
        return config

    @classmethod
    def moco_cifar(cls, **overrides: Any) -> TrainConfig:
        """MoCo's own CIFAR recipe: K = 4096, m = 0.99, τ = 0.1, symmetric loss, no blur,
        SGD lr 0.06, wd 5e-4, and for MoCHi N = 32, s = s' = 16; ``overrides`` replace any
        field (``method`` defaults to "moco")."""
        settings: dict[str, Any] = dict(
            method="moco", queue_size=4096, momentum_encoder=0.99, temperature=0.1, symmetric=True,
            augment={"pipeline": "mocov2", "blur": 0.0}, lr=0.06, weight_decay=5e-4,
        )
        if overrides.get("method") == "mochi":
            settings.update(mochi_n_hard=32, mochi_s=16, mochi_s_prime=16)
        settings.update(overrides)
        return cls(**settings)

    def to_json(self) -> str:
        """The completed configuration as JSON (the fields the run uses; what checkpoints store)."""
        return json.dumps({key: value for key, value in dataclasses.asdict(self).items() if value is not None},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TrainConfig:
        """The configuration of a JSON object such as :meth:`to_json` writes; unknown keys raise."""
        config = cls.__new__(cls)
        config._complete(resolve(text))
        return config


@functools.cache
def _field_types() -> dict[str, str]:
    """Each field's schema type ("integer", "number", ...), by name."""
    return {field["name"]: field["type"] for field in schema()["fields"]}


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

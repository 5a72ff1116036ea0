"""Argument checks specific to the augmentation functions; arrays, numbers and ints go through
the package's shared checkers (``dclkit._arrays``)."""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import _arrays
from .._native import DCLTypeError, DCLValueError

image_batch = _arrays.image_batch
number = _arrays.number
integer = _arrays.integer


def rgb_batch(img: Any, name: str = "img") -> tuple[np.ndarray, bool]:
    """One RGB image (H, W, 3) or a batch (N, H, W, 3), uint8, as a batch, and whether it was one
    image. The functional operations take one image as it is; the batch checks are
    :func:`dclkit._arrays.image_batch`'s."""
    try:
        single = np.ndim(img) == 3 and np.shape(img)[-1] == 3
    except ValueError:  # ragged nested lists: image_batch reports them
        single = False
    batch = _arrays.image_batch(np.asarray(img)[None] if single else img, name)
    if batch.shape[3] != 3:
        raise DCLValueError(f"{name} must have shape (H, W, 3) or (N, H, W, 3), got {np.shape(img)}")
    return batch, single


def in_range(x: Any, name: str, low: float, high: float) -> float:
    """``x`` as a finite float in [low, high]."""
    value = number(x, name)
    if not low <= value <= high:
        raise DCLValueError(f"{name} must lie in [{low}, {high}], got {x!r}")
    return value


def probability(x: Any, name: str) -> float:
    """``x`` as a probability in [0, 1]."""
    return in_range(x, name, 0.0, 1.0)


def interval(x: Any, name: str) -> tuple[float, float]:
    """A pair (low, high) of finite numbers with low <= high."""
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") or len(x) != 2:
        raise DCLTypeError(f"{name} must be a pair (min, max), got {x!r}")
    low, high = number(x[0], f"{name}[0]"), number(x[1], f"{name}[1]")
    if low > high:
        raise DCLValueError(f"{name} must be an increasing range (min <= max), got {x!r}")
    return low, high


def seed_value(x: Any, name: str) -> int:
    """An int in [0, 2**64), as the counter-based generator's key takes."""
    return integer(x, name, 0, 2**64 - 1)

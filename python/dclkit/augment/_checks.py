"""Argument checks shared by the augmentation functions: uint8 images and plain numbers."""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._native import DCLTypeError, DCLValueError


def uint8_array(x: Any, name: str) -> np.ndarray:
    """``x`` as a non-empty C-contiguous uint8 array; any other dtype is refused (no silent
    conversion of floats in [0, 1] or of int arrays that may hold values above 255)."""
    try:
        raw = np.asarray(x)
    except Exception as error:  # ragged lists and similar
        raise DCLTypeError(f"{name} must be a uint8 array ({error})") from None
    if raw.dtype != np.uint8:
        raise DCLTypeError(f"{name} must be a uint8 array, got dtype {raw.dtype}")
    if raw.size == 0:
        raise DCLValueError(f"{name} is empty (shape {raw.shape})")
    return np.ascontiguousarray(raw)


def rgb_batch(img: Any, name: str = "img") -> tuple[np.ndarray, bool]:
    """An RGB image (H, W, 3) or batch (N, H, W, 3) as a uint8 batch, and whether it was one image."""
    array = uint8_array(img, name)
    if array.ndim == 3 and array.shape[-1] == 3:
        return array[None], True
    if array.ndim == 4 and array.shape[-1] == 3:
        return array, False
    raise DCLValueError(f"{name} must have shape (H, W, 3) or (N, H, W, 3), got {array.shape}")


def image_batch(images: Any, name: str = "images") -> np.ndarray:
    """A batch (N, H, W, 3), (N, H, W, 1) or grayscale (N, H, W) as a uint8 (N, H, W, C) array.
    A 3-D array ending in 3 is refused as ambiguous (one RGB image, not 3-pixel-wide grays)."""
    array = uint8_array(images, name)
    if array.ndim == 3 and array.shape[-1] == 3:
        raise DCLValueError(f"{name} must be a batch (N, H, W, 3) or (N, H, W); shape {array.shape} looks like one "
                            f"RGB image: pass {name}[None]")
    if array.ndim == 3:
        return array[..., None]
    if array.ndim == 4 and array.shape[-1] in (1, 3):
        return array
    raise DCLValueError(f"{name} must have shape (N, H, W, 3) or (N, H, W) (grayscale), got {array.shape}")


def number(x: Any, name: str) -> float:
    """``x`` as a finite float."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise DCLTypeError(f"{name} must be a number, got {type(x).__name__}")
    value = float(x)
    if not math.isfinite(value):
        raise DCLValueError(f"{name} must be finite, got {x!r}")
    return value


def integer(x: Any, name: str) -> int:
    """``x`` as a Python int (bools refused)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise DCLTypeError(f"{name} must be an int, got {type(x).__name__}")
    return int(x)


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
    value = integer(x, name)
    if not 0 <= value < 2**64:
        raise DCLValueError(f"{name} must lie in [0, 2**64), got {value}")
    return value

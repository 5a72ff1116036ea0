"""Argument checks and conversions shared by the Python face: arrays in, arrays out."""
from __future__ import annotations

import ctypes
import math
from typing import Any

import numpy as np

from ._native import DCLTypeError, DCLValueError

FLOAT_P = ctypes.POINTER(ctypes.c_float)
UINT8_P = ctypes.POINTER(ctypes.c_uint8)


def float32_array(x: Any, name: str, ndim: int | None = None, finite: bool = True) -> np.ndarray:
    """``x`` as a C-contiguous float32 array; raises a named error for non-numeric input,
    the wrong rank, an empty array or (with ``finite``) NaN/Inf values."""
    try:
        raw = np.asarray(x)
    except Exception as error:  # ragged lists and similar
        raise DCLTypeError(f"{name} must be an array of real numbers ({error})") from None
    if raw.dtype == object or not (np.issubdtype(raw.dtype, np.number) or raw.dtype == np.bool_):
        raise DCLTypeError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
    if np.iscomplexobj(raw):
        raise DCLTypeError(f"{name} must be real, got dtype {raw.dtype}")
    if ndim is not None and raw.ndim != ndim:
        raise DCLValueError(f"{name} must have {ndim} dimensions, got shape {raw.shape}")
    if raw.size == 0:
        raise DCLValueError(f"{name} is empty (shape {raw.shape})")
    array = np.ascontiguousarray(raw, dtype=np.float32)
    if finite and not np.isfinite(array).all():
        raise DCLValueError(f"{name} contains NaN or infinite values (or values beyond float32's range)")
    return array


def positive_number(x: Any, name: str) -> float:
    """``x`` as a finite float greater than zero."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise DCLTypeError(f"{name} must be a number, got {type(x).__name__}")
    value = float(x)
    if not math.isfinite(value) or value <= 0:
        raise DCLValueError(f"{name} must be a finite positive number, got {x!r}")
    return value


def integer(x: Any, name: str, low: int, high: int) -> int:
    """``x`` as a Python int in ``[low, high]``; bools and non-integers raise ``DCLTypeError``."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise DCLTypeError(f"{name} must be an int, got {type(x).__name__}")
    if not low <= x <= high:
        raise DCLValueError(f"{name} must be between {low} and {high}, got {x}")
    return int(x)


def pointer(array: np.ndarray, ctype: Any = ctypes.c_float) -> Any:
    """A ctypes pointer to the first element of a contiguous array."""
    return array.ctypes.data_as(ctypes.POINTER(ctype))

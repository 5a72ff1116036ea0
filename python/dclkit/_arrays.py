"""Argument checks and conversions shared by the Python face: arrays in, arrays out.

Each kind of argument has one checker here, so the same bad value gives the same error
wherever it is passed: float arrays (:func:`float32_array`), image batches
(:func:`image_batch`, :func:`rgb_images`), labels (:func:`labels`), numbers and ints.
Arrays must hold real numbers: bool, signed or unsigned ints or floats (numpy kinds ``b``,
``i``, ``u``, ``f``); datetimes, timedeltas, complex numbers, strings and objects are refused
with :class:`DCLTypeError`.
"""
from __future__ import annotations

import ctypes
import math
import mmap
import os
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ._native import DCLMemoryError, DCLTypeError, DCLValueError

_REAL_KINDS = "biuf"


def available_memory() -> int:
    """Bytes of memory the machine can give now (0 when unknown): Linux's ``MemAvailable``
    (free memory plus what the page cache can give back), else the free pages, else the physical
    memory."""
    try:
        with open("/proc/meminfo", "rb") as info:
            for row in info:
                if row.startswith(b"MemAvailable:"):
                    return int(row.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    for pages in ("SC_AVPHYS_PAGES", "SC_PHYS_PAGES"):
        try:
            return os.sysconf(pages) * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError):
            continue
    return 0


def _real_array(x: ArrayLike, name: str, what: str, itemsize: int) -> NDArray[Any]:
    """``np.asarray(x)``, refused unless it holds real numbers (see the module's notes) and
    unless its conversion to ``itemsize``-byte elements fits the available memory
    (:func:`require_memory`)."""
    try:
        raw = np.asarray(x)
    except MemoryError:
        raise DCLMemoryError(f"cannot allocate {name}: converting it to an array exceeds the memory") from None
    except Exception as error:  # ragged lists and similar
        raise DCLTypeError(f"{name} must be {what} ({error})") from None
    if raw.dtype.kind not in _REAL_KINDS:
        raise DCLTypeError(f"{name} must be {what}, got dtype {raw.dtype}")
    require_memory(raw, name, itemsize)
    return raw


def require_memory(raw: np.ndarray, name: str, itemsize: int) -> None:
    """Refuses with ``DCLMemoryError`` an array whose contiguous copy of ``itemsize``-byte
    elements (what the checkers make of a broadcast or strided view, or of another dtype) would
    not fit the memory the machine has available (:func:`available_memory`), before numpy tries: ``np.broadcast_to(x[:1], (10**9,
    32, 32, 3))`` costs nothing, its copy 3 TB. An array that is already what the call needs is
    not copied and not refused."""
    if raw.flags.c_contiguous and raw.dtype.itemsize == itemsize and (raw.base is None or _memory_mapped(raw)):
        return
    needed = raw.size * max(itemsize, raw.dtype.itemsize)
    memory = available_memory()
    if memory and needed > memory:
        raise DCLMemoryError(f"{name} of shape {raw.shape} needs {needed / 2**30:.1f} GiB as a contiguous array, "
                             f"which exceeds the memory available ({memory / 2**30:.1f} GiB)")


def _memory_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` views a memory-mapped file (``np.load(path, mmap_mode="r")``, a packed
    data set): used as it is, it copies nothing, however large the file."""
    base: Any = array
    while base is not None:
        if isinstance(base, (np.memmap, mmap.mmap)):
            return True
        base = getattr(base, "base", None)
    return False


def _converted(raw: np.ndarray, name: str, convert: Any) -> np.ndarray:
    """``convert(raw)``, with numpy's own ``MemoryError`` as a ``DCLMemoryError`` naming ``name``."""
    try:
        return convert(raw)
    except MemoryError:
        raise DCLMemoryError(f"cannot allocate a copy of {name} of shape {raw.shape}") from None


def float32_array(x: ArrayLike, name: str, ndim: int | None = None, finite: bool = True) -> NDArray[np.float32]:
    """``x`` as a C-contiguous float32 array; raises a named error for non-real input,
    the wrong rank, an empty array or (with ``finite``) NaN/Inf values."""
    raw = _real_array(x, name, "an array of real numbers", 4)
    if ndim is not None and raw.ndim != ndim:
        raise DCLValueError(f"{name} must have {ndim} dimensions, got shape {raw.shape}")
    if raw.size == 0:
        raise DCLValueError(f"{name} is empty (shape {raw.shape})")
    array = _converted(raw, name, lambda a: np.ascontiguousarray(a, dtype=np.float32))
    if finite and not _converted(array, name, lambda a: np.isfinite(a).all()):
        raise DCLValueError(f"{name} contains NaN or infinite values (or values beyond float32's range)")
    return array


def image_batch(x: ArrayLike, name: str = "images", convert: bool = False) -> NDArray[np.uint8]:
    """A batch of images as C-contiguous uint8 (N, H, W, C), C = 1 or 3: the one image checker.

    Accepted shapes: (N, H, W, 3), (N, H, W, 1) and grayscale (N, H, W). A 3-D array whose last
    axis is 3 is refused as ambiguous (it looks like one RGB image: pass ``x[None]``).
    Without ``convert`` only uint8 is accepted (any other real dtype is a ``DCLTypeError``); with
    it, ints in [0, 255] are taken as levels and floats are scaled by 255 when their maximum is at
    most 1 (else taken as levels in [0, 255]) and rounded.
    """
    raw = _real_array(x, name, "an array of pixel values", 1)
    if raw.dtype == np.bool_ or (raw.dtype != np.uint8 and not convert):
        raise DCLTypeError(f"{name} must be uint8 images, got dtype {raw.dtype}")
    if raw.ndim == 3 and raw.shape[-1] == 3:
        raise DCLValueError(f"{name} must be a batch (N, H, W, 3) or (N, H, W); shape {raw.shape} looks like one "
                            f"RGB image: pass {name}[None]")
    if raw.ndim == 3:
        raw = raw[..., None]
    if raw.ndim != 4 or raw.shape[3] not in (1, 3):
        raise DCLValueError(f"{name} must have shape (N, H, W, 3), (N, H, W, 1) or (N, H, W), got {raw.shape}")
    if raw.size == 0:
        raise DCLValueError(f"{name} is empty (shape {raw.shape})")
    if raw.dtype != np.uint8:
        raw = _converted(raw, name, lambda a: _levels(a, name))
    return _converted(raw, name, np.ascontiguousarray)


def _levels(raw: NDArray[Any], name: str) -> NDArray[np.uint8]:
    """Pixel values of another real dtype as uint8 levels (see :func:`image_batch`)."""
    if raw.dtype.kind == "f" and not np.isfinite(raw).all():
        raise DCLValueError(f"{name} contains NaN or infinite values")
    low, high = raw.min(), raw.max()
    if low < 0 or high > 255:
        raise DCLValueError(f"{name} must lie in [0, 1] or [0, 255], got values from {low} to {high}")
    if raw.dtype.kind == "f":
        raw = np.rint(raw * 255.0 if high <= 1.0 else raw)
    return raw.astype(np.uint8)


def rgb_images(x: ArrayLike, name: str = "images", convert: bool = False) -> NDArray[np.uint8]:
    """:func:`image_batch` with grayscale repeated to three channels: uint8 (N, H, W, 3)."""
    batch = image_batch(x, name, convert)
    if batch.shape[3] == 3:
        return batch
    require_memory(np.broadcast_to(batch, batch.shape[:3] + (3,)), name, 1)
    return _converted(batch, name, lambda a: np.ascontiguousarray(np.repeat(a, 3, axis=3)))


def labels(y: ArrayLike, name: str, count: int, limit: int, column: bool = False, rows: str = "rows") -> NDArray[np.int64]:
    """``y`` as int64 (count,) of integers in ``[0, limit)``, one per one of the ``count``
    ``rows``; with ``column`` a (count, 1) array is accepted too (Keras stores CIFAR labels so)."""
    raw = _real_array(y, name, "an array of integer labels", 8)
    if raw.dtype.kind not in "iu":
        raise DCLTypeError(f"{name} must be an array of integers (class labels), got dtype {raw.dtype}")
    if column and raw.ndim == 2 and raw.shape[1] == 1:
        raw = raw[:, 0]
    if raw.ndim != 1:
        raise DCLValueError(f"{name} must have 1 dimension, shape (N,), got shape {raw.shape}")
    if raw.shape[0] != count:
        raise DCLValueError(f"{name} has {raw.shape[0]} labels for {count} {rows}")
    if raw.size and raw.min() < 0:
        raise DCLValueError(f"{name} must be non-negative, got {raw.min()}")
    if raw.size and raw.max() >= limit:
        raise DCLValueError(f"{name} must be below {limit}, got {raw.max()}")
    return _converted(raw, name, lambda a: np.ascontiguousarray(a, dtype=np.int64))


def number(x: Any, name: str) -> float:
    """``x`` as a finite float (bools and non-numbers raise ``DCLTypeError``)."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise DCLTypeError(f"{name} must be a number, got {type(x).__name__}")
    try:
        value = float(x)
    except OverflowError:
        value = math.inf
    if not math.isfinite(value):
        raise DCLValueError(f"{name} must be finite, got {x!r}")
    return value


def positive_number(x: Any, name: str) -> float:
    """``x`` as a finite float greater than zero."""
    value = number(x, name)
    if value <= 0:
        raise DCLValueError(f"{name} must be a finite positive number, got {x!r}")
    return value


def integer(x: Any, name: str, low: int | None = None, high: int | None = None) -> int:
    """``x`` as a Python int, in ``[low, high]`` where given; bools and non-integers raise
    ``DCLTypeError``: the one int-not-bool check."""
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)):
        raise DCLTypeError(f"{name} must be an int, got {type(x).__name__}")
    value = int(x)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"between {low} and {high}" if low is not None and high is not None else \
            (f"at least {low}" if low is not None else f"at most {high}")
        raise DCLValueError(f"{name} must be {bounds}, got {value}")
    return value


def path(x: Any, name: str = "path") -> bytes:
    """A file path as the bytes the operating system sees (``os.fsencode``: a name that is not
    UTF-8 keeps its bytes). NUL bytes are refused by :func:`dclkit._native.call`."""
    try:
        return os.fsencode(x)
    except TypeError:
        raise DCLTypeError(f"{name} must be a str, bytes or os.PathLike, got {type(x).__name__}") from None


def empty(shape: tuple, name: str, dtype: Any = np.float32) -> np.ndarray:
    """An output array, ``DCLMemoryError`` (naming it) when it cannot be allocated."""
    try:
        return np.empty(shape, dtype)
    except (MemoryError, ValueError) as error:
        raise DCLMemoryError(f"cannot allocate {name} of shape {shape} ({error})") from None


def pointer(array: np.ndarray, ctype: Any = ctypes.c_float) -> Any:
    """A ctypes pointer to the first element of a contiguous array."""
    return array.ctypes.data_as(ctypes.POINTER(ctype))

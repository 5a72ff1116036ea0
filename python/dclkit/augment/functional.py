"""Deterministic augmentation operations on uint8 images, computed by the Swift core.

Each function takes one RGB image (H, W, 3) or a batch (N, H, W, 3), dtype uint8, and returns
uint8 of the same rank. The arithmetic is torchvision's on uint8 tensors (``_functional_tensor``):
blends are truncated, resizes and blurs rounded, hue converted through HSV and quantised as
``convert_image_dtype`` does.

Examples
--------
>>> img = np.zeros((32, 32, 3), np.uint8)
>>> dclkit.augment.functional.adjust_hue(img, 0.25).shape
(32, 32, 3)
"""
from __future__ import annotations

import ctypes
from typing import Any, Callable

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _arrays
from .._native import DCLValueError, call, functions
from . import _checks

__all__ = [
    "resized_crop", "hflip", "adjust_brightness", "adjust_contrast", "adjust_saturation", "adjust_hue",
    "rgb_to_grayscale", "gaussian_blur", "solarize",
]

_resized_crop = functions["dcl_augment_resized_crop"]
_hflip = functions["dcl_augment_hflip"]
_brightness = functions["dcl_augment_adjust_brightness"]
_contrast = functions["dcl_augment_adjust_contrast"]
_saturation = functions["dcl_augment_adjust_saturation"]
_hue = functions["dcl_augment_adjust_hue"]
_grayscale = functions["dcl_augment_rgb_to_grayscale"]
_blur = functions["dcl_augment_gaussian_blur"]
_solarize = functions["dcl_augment_solarize"]


def _same_size(img: ArrayLike, function: Callable[..., int], *parameters: Any) -> NDArray[np.uint8]:
    """Runs a native operation that keeps the image size on an image or a batch."""
    batch, single = _checks.rgb_batch(img)
    out = _arrays.empty(batch.shape, "the output", np.uint8)
    n, h, w, _ = batch.shape
    call(function, _arrays.pointer(batch, ctypes.c_uint8), n, h, w, *parameters, _arrays.pointer(out, ctypes.c_uint8))
    return out[0] if single else out


def resized_crop(img: ArrayLike, top: int, left: int, height: int, width: int, size: int | tuple[int, int]) -> NDArray[np.uint8]:
    """Crops rows ``top:top+height`` and columns ``left:left+width`` and resizes the crop to ``size``.

    Bilinear interpolation with half-pixel centres, antialiased when shrinking (PyTorch's
    ``interpolate(..., antialias=True)``, as torchvision's ``resized_crop``); rounded to uint8.

    Parameters
    ----------
    img : ndarray, uint8, shape (H, W, 3) or (N, H, W, 3)
    top, left, height, width : int
        The crop; it must lie inside the image and not be empty.
    size : int or (int, int)
        Output side, or (height, width).

    Returns
    -------
    ndarray, uint8, shape (size_h, size_w, 3) or (N, size_h, size_w, 3)
    """
    batch, single = _checks.rgb_batch(img)
    n, h, w, _ = batch.shape
    top, left = _checks.integer(top, "top"), _checks.integer(left, "left")
    height, width = _checks.integer(height, "height"), _checks.integer(width, "width")
    if isinstance(size, (tuple, list)):
        if len(size) != 2:
            raise DCLValueError(f"size must be an int or a pair (height, width), got {size!r}")
        out_h, out_w = _checks.integer(size[0], "size[0]"), _checks.integer(size[1], "size[1]")
    else:
        out_h = out_w = _checks.integer(size, "size")
    if not (1 <= out_h <= 4096 and 1 <= out_w <= 4096):  # before numpy allocates the output; the core checks it too
        raise DCLValueError(f"size must be between 1 and 4096, got {size!r}")
    out = _arrays.empty((n, out_h, out_w, 3), "the output", np.uint8)
    call(_resized_crop, _arrays.pointer(batch, ctypes.c_uint8), n, h, w, 3, top, left, height, width,
         out_h, out_w, _arrays.pointer(out, ctypes.c_uint8))
    return out[0] if single else out


def hflip(img: ArrayLike) -> NDArray[np.uint8]:
    """Mirrors the image left to right. Shapes as for ``adjust_brightness``."""
    return _same_size(img, _hflip)


def adjust_brightness(img: ArrayLike, f: float) -> NDArray[np.uint8]:
    """Brightness: ``floor(min(f * v, 255))`` for every level, f >= 0 (1 is the identity).

    Parameters
    ----------
    img : ndarray, uint8, shape (H, W, 3) or (N, H, W, 3)
    f : float

    Returns
    -------
    ndarray, uint8, same shape as ``img``
    """
    return _same_size(img, _brightness, _checks.number(f, "f"))


def adjust_contrast(img: ArrayLike, f: float) -> NDArray[np.uint8]:
    """Contrast: ``floor(clip(f * v + (1 - f) * m, 0, 255))`` with m the mean of the image's
    (truncated) grayscale, per image; f >= 0. Shapes as for ``adjust_brightness``."""
    return _same_size(img, _contrast, _checks.number(f, "f"))


def adjust_saturation(img: ArrayLike, f: float) -> NDArray[np.uint8]:
    """Saturation: ``floor(clip(f * v + (1 - f) * L, 0, 255))`` with L the pixel's (truncated)
    grayscale; f >= 0. Shapes as for ``adjust_brightness``."""
    return _same_size(img, _saturation, _checks.number(f, "f"))


def adjust_hue(img: ArrayLike, f: float) -> NDArray[np.uint8]:
    """Hue: shifts the HSV hue by ``f`` turns, f in [-0.5, 0.5], and converts back; levels are
    quantised as ``floor(x * 255.999)`` on [0, 1]. Shapes as for ``adjust_brightness``."""
    return _same_size(img, _hue, _checks.number(f, "f"))


def rgb_to_grayscale(img: ArrayLike) -> NDArray[np.uint8]:
    """ITU-R 601-2 luma ``floor(0.2989 R + 0.587 G + 0.114 B)``, kept as 3 equal channels.
    Shapes as for ``adjust_brightness``."""
    return _same_size(img, _grayscale)


def gaussian_blur(img: ArrayLike, kernel_size: int, sigma: float) -> NDArray[np.uint8]:
    """Gaussian blur with a square ``kernel_size`` kernel (odd, >= 1) of standard deviation
    ``sigma`` > 0, reflect padding, rounded. Shapes as for ``adjust_brightness``."""
    return _same_size(img, _blur, _checks.integer(kernel_size, "kernel_size"), _checks.number(sigma, "sigma"))


def solarize(img: ArrayLike, threshold: float) -> NDArray[np.uint8]:
    """Inverts every level ``>= threshold`` (``v -> 255 - v``), threshold in [0, 255].
    Shapes as for ``adjust_brightness``."""
    return _same_size(img, _solarize, _checks.number(threshold, "threshold"))

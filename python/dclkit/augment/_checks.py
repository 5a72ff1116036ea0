"""Argument checks specific to the augmentation functions; arrays, numbers and ints go through
the package's shared checkers (``dclkit._arrays``)."""
from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _arrays
from .._native import DCLValueError

image_batch = _arrays.image_batch
number = _arrays.number
integer = _arrays.integer


def rgb_batch(img: ArrayLike, name: str = "img") -> tuple[NDArray[np.uint8], bool]:
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


def seed_value(x: Any, name: str) -> int:
    """An int in [0, 2**64), as the counter-based generator's key takes."""
    return integer(x, name, 0, 2**64 - 1)

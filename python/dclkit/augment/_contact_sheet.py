"""A PNG grid of images and their two augmented views, for looking at what the network sees."""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _arrays
from .._files import atomic_write
from .._native import DCLTypeError
from .._optional import require
from ._pipelines import SimCLR, TwoViewAugment

__all__ = ["contact_sheet", "views_grid"]


def contact_sheet(images: ArrayLike, path: str | os.PathLike, aug: Optional[TwoViewAugment] = None, seed: int = 0) -> Path:
    """Writes a PNG grid: for every image, the original next to its two views.

    Triplets (original, view 0, view 1) are laid out in a roughly square grid, separated by
    white gaps; small tiles are enlarged by an integer factor (nearest neighbour) to at least
    96 pixels, and originals are resampled to the view size.

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3) or (N, H, W)
    path : str or PathLike
        Where to write the PNG.
    aug : SimCLR, MoCoV2 or other TwoViewAugment, optional
        The pipeline; default ``SimCLR(size=min(H, W))``.
    seed : int
        Seed of the views (epoch 0).

    Returns
    -------
    Path
        ``path``.
    """
    require("PIL", "plots", "dclkit.augment.contact_sheet")
    from PIL import Image

    sheet = views_grid(images, aug, seed)
    target = Path(os.fsdecode(_arrays.path(path)))
    image = Image.fromarray(np.ascontiguousarray(sheet))
    atomic_write(target, lambda file: image.save(file, format="PNG"), "the contact sheet")
    return target


def views_grid(images: ArrayLike, aug: Optional[TwoViewAugment] = None, seed: int = 0) -> NDArray[np.uint8]:
    """The grid :func:`contact_sheet` writes, as an array: for every image, the original next to
    its two views (epoch 0), laid out as the module's contact sheet (TensorBoard shows it).

    Parameters
    ----------
    images : ndarray, uint8, shape (N, H, W, 3) or (N, H, W)
    aug : SimCLR, MoCoV2 or other TwoViewAugment, optional
        The pipeline; default ``SimCLR(size=min(H, W))``.
    seed : int
        Seed of the views.

    Returns
    -------
    ndarray, uint8, shape (rows, columns, 3)
    """
    batch = _arrays.rgb_images(images)
    n, h, w, _ = batch.shape
    if aug is None:
        aug = SimCLR(size=min(h, w))
    elif not isinstance(aug, TwoViewAugment):
        raise DCLTypeError(f"aug must be a dclkit.augment pipeline (SimCLR, MoCoV2), got {type(aug).__name__}")
    size = aug.size
    v0, v1 = aug.views_uint8(batch, seed=seed)
    rows = (np.arange(size) * h // size)[:, None]
    cols = (np.arange(size) * w // size)[None, :]
    originals = batch[:, rows, cols]
    tiles = np.stack([originals, v0, v1], axis=1)                        # (N, 3, S, S, 3)
    zoom = max(1, math.ceil(96 / size))
    tiles = tiles.repeat(zoom, axis=2).repeat(zoom, axis=3)
    gap = 4
    tiles = np.pad(tiles, ((0, 0), (0, 0), (0, gap), (0, gap), (0, 0)), constant_values=255)
    per_row = max(1, round(math.sqrt(n / 3)))                             # triplets per grid row
    grid_rows = math.ceil(n / per_row)
    tiles = np.pad(tiles, ((0, grid_rows * per_row - n), (0, 0), (0, 0), (0, 0), (0, 0)), constant_values=255)
    t = tiles.shape[2]
    sheet = tiles.reshape(grid_rows, per_row * 3, t, t, 3).transpose(0, 2, 1, 3, 4).reshape(grid_rows * t, per_row * 3 * t, 3)
    sheet = np.pad(sheet, ((gap, 0), (gap, 0), (0, 0)), constant_values=255)
    return np.ascontiguousarray(sheet)

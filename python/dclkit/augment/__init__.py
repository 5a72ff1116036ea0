"""Seeded two-view augmentations for contrastive learning, computed by the Swift core.

- :class:`SimCLR` and :class:`MoCoV2`: the papers' pipelines, every parameter overridable;
  ``v0, v1 = aug(images, seed=0, epoch=0)`` gives two float32 views (N, size, size, 3) of a uint8
  batch, the same whatever the thread count (``dclkit.set_num_threads``).
- :mod:`dclkit.augment.functional`: the deterministic operations on uint8 images.
- :func:`contact_sheet`: a PNG of images and their views; :func:`views_grid`: the same grid as an array.
"""
from __future__ import annotations

from . import functional
from ._contact_sheet import contact_sheet, views_grid
from ._pipelines import NORMALIZATIONS, MoCoV2, SimCLR, TwoViewAugment

__all__ = ["SimCLR", "MoCoV2", "TwoViewAugment", "NORMALIZATIONS", "contact_sheet", "views_grid", "functional"]

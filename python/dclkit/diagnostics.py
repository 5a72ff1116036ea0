"""The diagnostics every run records per epoch, on your own projections.

:func:`projection_diagnostics` computes, for one batch of two views, what the trainer adds to
each epoch's record from its training batches (see :class:`dclkit.Trainer`'s ``history``): the
negative–positive coupling multiplier of InfoNCE's gradient (Yeh et al. 2022), the mean positive
and negative cosine similarity, alignment and uniformity (Wang & Isola 2020) and SimSiam's
collapse metric.
"""
from __future__ import annotations

import ctypes
import math
from typing import Optional

import numpy as np
from numpy.typing import ArrayLike

from . import _arrays
from ._bindings import DCL_DIAGNOSTIC_COUNT
from ._native import DCLValueError, call, functions

__all__ = ["projection_diagnostics", "NAMES"]

_diagnostics = functions["dcl_projection_diagnostics"]

NAMES = ("npc_mean", "npc_p10", "npc_p50", "npc_p90", "positive_cosine", "negative_cosine", "alignment", "uniformity",
         "collapse_std")
"""The diagnostics' names, in the order of the core's ``dcl_projection_diagnostics``."""


def projection_diagnostics(z0: ArrayLike, z1: ArrayLike, temperature: Optional[float] = None,
                           queue: Optional[ArrayLike] = None) -> dict[str, float]:
    """The per-epoch diagnostics of one batch of two views.

    Every value is computed on the L2-normalised rows u:

    - ``npc_mean``, ``npc_p10``, ``npc_p50``, ``npc_p90``: InfoNCE's negative–positive coupling
      multiplier ``q_i = 1 − exp(s_ii'/τ) / (exp(s_ii'/τ) + Σ_{k∉{i,i'}} exp(s_ik/τ))`` over the 2N
      anchors (with a ``queue``: ``1 − exp(q·k⁺/τ) / (exp(q·k⁺/τ) + Σ_queue exp(q·n/τ))`` over the N
      queries); mean and percentiles (numpy's linear rule). Absent without ``temperature``.
    - ``positive_cosine``: mean u⁰_i·u¹_i; ``negative_cosine``: mean similarity to the negatives.
    - ``alignment``: mean ‖u⁰_i − u¹_i‖²; ``uniformity``: log mean over distinct pairs of the 2N
      rows of exp(−2‖u_i − u_k‖²).
    - ``collapse_std``: the standard deviation of each coordinate of u over the 2N rows, averaged
      over coordinates (about 1/√D healthy, 0 collapsed).

    Parameters
    ----------
    z0, z1 : array_like, float32, shape (N, D)
        The two views' outputs; row i of each is a positive pair; N >= 2.
    temperature : float, optional
        τ > 0 of the multipliers.
    queue : array_like, shape (K, D), optional
        Unit negatives (MoCo's queue): ``z0`` are the queries, ``z1`` the keys.

    Returns
    -------
    dict
        The values by name (the multipliers' only with ``temperature``).

    Examples
    --------
    >>> z = np.random.default_rng(0).normal(size=(64, 16)).astype(np.float32)
    >>> dclkit.diagnostics.projection_diagnostics(z, z + 0.1, temperature=0.1)["npc_mean"]
    """
    a = _arrays.float32_array(z0, "z0", ndim=2)
    b = _arrays.float32_array(z1, "z1", ndim=2)
    if a.shape != b.shape:
        raise DCLValueError(f"z0 and z1 must have the same shape, got {a.shape} and {b.shape}")
    tau = 0.0 if temperature is None else _arrays.positive_number(temperature, "temperature")
    negatives = None if queue is None else _arrays.float32_array(queue, "queue", ndim=2)
    if negatives is not None and negatives.shape[1] != a.shape[1]:
        raise DCLValueError(f"queue must have {a.shape[1]} columns like z0, got shape {negatives.shape}")
    values = np.empty(DCL_DIAGNOSTIC_COUNT, dtype=np.float64)
    call(_diagnostics, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1], tau,
         None if negatives is None else _arrays.pointer(negatives), 0 if negatives is None else negatives.shape[0],
         values.ctypes.data_as(ctypes.POINTER(ctypes.c_double)), DCL_DIAGNOSTIC_COUNT)
    return {name: float(value) for name, value in zip(NAMES, values) if not math.isnan(value)}

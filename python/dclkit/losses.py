"""Contrastive losses with their gradients, computed by the Swift core.

Each two-view loss takes ``z0, z1``: the raw (not yet normalised) projections of the two views
of N images, shape (N, D), N >= 2. Rows are L2-normalised inside; cosine similarities
s_ik form a 2N x 2N matrix; every one of the 2N views is an anchor once, its positive is the
other view of the same image. Each returns ``(loss, grad_z0, grad_z1)``: the mean over the 2N
anchors, and d loss / d z for the raw inputs as float32 arrays of the inputs' shape.

A zero row has similarity 0 with every row (norms are clamped at 1e-12, as ``F.normalize``).
"""
from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from . import _arrays
from ._native import DCLValueError, bind, call

__all__ = ["ntxent", "dcl", "dclw"]

_pair_loss = bind(
    "dcl_pair_loss",
    [ctypes.c_int32, _arrays.FLOAT_P, _arrays.FLOAT_P, ctypes.c_int64, ctypes.c_int64,
     ctypes.c_double, ctypes.c_double, ctypes.POINTER(ctypes.c_double), _arrays.FLOAT_P, _arrays.FLOAT_P],
)

_NTXENT, _DCL, _DCLW = 0, 1, 2


def _pair(objective: int, z0: Any, z1: Any, temperature: Any, sigma: Any) -> tuple[float, np.ndarray, np.ndarray]:
    a = _arrays.float32_array(z0, "z0", ndim=2)
    b = _arrays.float32_array(z1, "z1", ndim=2)
    if a.shape != b.shape:
        raise DCLValueError(f"z0 and z1 must have the same shape, got {a.shape} and {b.shape}")
    if a.shape[0] < 2:
        raise DCLValueError(f"z0 needs N >= 2 rows (a batch needs negatives), got shape {a.shape}")
    tau = _arrays.positive_number(temperature, "temperature")
    sig = _arrays.positive_number(sigma, "sigma")
    g0 = np.empty_like(a)
    g1 = np.empty_like(b)
    loss = ctypes.c_double()
    call(_pair_loss, objective, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1],
         tau, sig, ctypes.byref(loss), _arrays.pointer(g0), _arrays.pointer(g1))
    return loss.value, g0, g1


def ntxent(z0: Any, z1: Any, temperature: float = 0.1) -> tuple[float, np.ndarray, np.ndarray]:
    """NT-Xent / InfoNCE loss of SimCLR (Chen et al. 2020).

    ``l_i = -s_ip/τ + log Σ_{k≠i} exp(s_ik/τ)``, mean over the 2N views.

    Parameters
    ----------
    z0, z1 : array_like, shape (N, D)
        Raw projections of the two views; N >= 2.
    temperature : float
        τ > 0.

    Returns
    -------
    loss : float
    grad_z0, grad_z1 : ndarray, float32, shape (N, D)

    Examples
    --------
    >>> z0, z1 = np.random.randn(8, 16), np.random.randn(8, 16)
    >>> loss, g0, g1 = dclkit.losses.ntxent(z0, z1, temperature=0.1)
    """
    return _pair(_NTXENT, z0, z1, temperature, 0.5)


def dcl(z0: Any, z1: Any, temperature: float = 0.1) -> tuple[float, np.ndarray, np.ndarray]:
    """Decoupled contrastive loss, DCL (Yeh et al. 2022).

    The positive is removed from the denominator:
    ``l_i = -s_ip/τ + log Σ_{k∉{i,p}} exp(s_ik/τ)``, mean over the 2N views.

    Parameters
    ----------
    z0, z1 : array_like, shape (N, D)
        Raw projections of the two views; N >= 2.
    temperature : float
        τ > 0.

    Returns
    -------
    loss : float
    grad_z0, grad_z1 : ndarray, float32, shape (N, D)

    Examples
    --------
    >>> loss, g0, g1 = dclkit.losses.dcl(z0, z1, temperature=0.1)
    >>> z0 -= 0.1 * g0; z1 -= 0.1 * g1   # one gradient step
    """
    return _pair(_DCL, z0, z1, temperature, 0.5)


def dclw(z0: Any, z1: Any, temperature: float = 0.1, sigma: float = 0.5) -> tuple[float, np.ndarray, np.ndarray]:
    """Weighted decoupled contrastive loss, DCLW (Yeh et al. 2022).

    DCL with the positive term weighted by ``w_i = 2 - N·softmax_j(s_jj'/σ)_i`` (softmax over the
    N positive pairs, no gradient through w):
    ``l_i = -w_i s_ip/τ + log Σ_{k∉{i,p}} exp(s_ik/τ)``, mean over the 2N views.

    Parameters
    ----------
    z0, z1 : array_like, shape (N, D)
        Raw projections of the two views; N >= 2.
    temperature : float
        τ > 0.
    sigma : float
        σ > 0 of the weighting softmax (0.5 in the paper).

    Returns
    -------
    loss : float
    grad_z0, grad_z1 : ndarray, float32, shape (N, D)

    Examples
    --------
    >>> loss, g0, g1 = dclkit.losses.dclw(z0, z1, temperature=0.1, sigma=0.5)
    """
    return _pair(_DCLW, z0, z1, temperature, sigma)

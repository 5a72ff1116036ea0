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
from ._bindings import DCL_LOSS_DCL, DCL_LOSS_DCLW, DCL_LOSS_NTXENT, DCL_QUEUE_LOSS_DCL, DCL_QUEUE_LOSS_INFONCE
from ._native import DCLValueError, call, functions

__all__ = ["ntxent", "dcl", "dclw", "infonce_queue", "dcl_queue", "mochi_negatives"]

_pair_loss = functions["dcl_pair_loss"]


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
    return _pair(DCL_LOSS_NTXENT, z0, z1, temperature, 0.5)


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
    return _pair(DCL_LOSS_DCL, z0, z1, temperature, 0.5)


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
    return _pair(DCL_LOSS_DCLW, z0, z1, temperature, sigma)


# ---- Queue losses and MoCHi (MoCo family) ----------------------------------------------------

_queue_loss = functions["dcl_queue_loss"]
_mochi_negatives = functions["dcl_mochi_negatives"]


def _queries_and_queue(q: Any, queue: Any) -> tuple[np.ndarray, np.ndarray]:
    a = _arrays.float32_array(q, "q", ndim=2)
    bank = _arrays.float32_array(queue, "queue", ndim=2)
    if bank.shape[1] != a.shape[1]:
        raise DCLValueError(f"queue must have D = {a.shape[1]} columns like q, got shape {bank.shape}")
    return a, bank


def _queue(objective: int, q: Any, k: Any, queue: Any, temperature: Any,
           extra_negatives: Any) -> tuple[float, np.ndarray]:
    a, bank = _queries_and_queue(q, queue)
    b = _arrays.float32_array(k, "k", ndim=2)
    if a.shape != b.shape:
        raise DCLValueError(f"q and k must have the same shape, got {a.shape} and {b.shape}")
    tau = _arrays.positive_number(temperature, "temperature")
    extra, per_query = None, 0
    if extra_negatives is not None:
        extra = _arrays.float32_array(extra_negatives, "extra_negatives", ndim=3)
        if extra.shape[0] != a.shape[0] or extra.shape[2] != a.shape[1]:
            raise DCLValueError(f"extra_negatives must have shape (N, S, D) = ({a.shape[0]}, S, {a.shape[1]}), "
                                f"got {extra.shape}")
        per_query = extra.shape[1]
    grad = np.empty_like(a)
    loss = ctypes.c_double()
    call(_queue_loss, objective, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1],
         _arrays.pointer(bank), bank.shape[0], None if extra is None else _arrays.pointer(extra), per_query,
         tau, ctypes.byref(loss), _arrays.pointer(grad))
    return loss.value, grad


def infonce_queue(q: Any, k: Any, queue: Any, temperature: float = 0.2, *,
                  extra_negatives: Any = None) -> tuple[float, np.ndarray]:
    """InfoNCE against a queue of negatives, MoCo's loss (He et al. 2020; MoCo v2, Chen et al. 2020).

    With u = q/|q| and k⁺ = k/|k| (rows normalised inside):
    ``l_i = -log( exp(u_i·k⁺_i/τ) / (exp(u_i·k⁺_i/τ) + Σ_n exp(u_i·n/τ)) )``, the sum over the
    queue rows (and the query's extra negatives), mean over the N queries. Only q gets a gradient:
    keys, queue and extra negatives are constants, as MoCo's momentum-encoder keys are.

    Parameters
    ----------
    q, k : array_like, shape (N, D)
        Raw queries and their keys (row i of k is the positive of row i of q); N >= 1.
    queue : array_like, shape (K, D)
        The negatives, each row a unit vector (|norm - 1| <= 1e-3); K >= 1.
    temperature : float
        τ > 0 (0.2 in MoCo v2).
    extra_negatives : array_like, shape (N, S, D), optional
        Further negatives of each query, unit rows, for example MoCHi's
        (``np.concatenate(mochi_negatives(...), axis=1)``).

    Returns
    -------
    loss : float
    grad_q : ndarray, float32, shape (N, D)
        d loss / d q for the raw queries.

    Examples
    --------
    >>> q, k = np.random.randn(8, 16), np.random.randn(8, 16)
    >>> queue = np.random.randn(64, 16); queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    >>> loss, grad_q = dclkit.losses.infonce_queue(q, k, queue, temperature=0.2)
    """
    return _queue(DCL_QUEUE_LOSS_INFONCE, q, k, queue, temperature, extra_negatives)


def dcl_queue(q: Any, k: Any, queue: Any, temperature: float = 0.2, *,
              extra_negatives: Any = None) -> tuple[float, np.ndarray]:
    """Decoupled contrastive loss against a queue of negatives (DCL, Yeh et al. 2022, on MoCo's queue).

    The positive is removed from the denominator:
    ``l_i = -u_i·k⁺_i/τ + log Σ_n exp(u_i·n/τ)``, the sum over the queue rows (and the query's extra
    negatives), mean over the N queries; u and k⁺ are the normalised rows of q and k. Only q gets a
    gradient.

    Parameters
    ----------
    q, k : array_like, shape (N, D)
        Raw queries and their keys (row i of k is the positive of row i of q); N >= 1.
    queue : array_like, shape (K, D)
        The negatives, each row a unit vector (|norm - 1| <= 1e-3); K >= 1.
    temperature : float
        τ > 0.
    extra_negatives : array_like, shape (N, S, D), optional
        Further negatives of each query, unit rows.

    Returns
    -------
    loss : float
    grad_q : ndarray, float32, shape (N, D)
        d loss / d q for the raw queries.

    Examples
    --------
    >>> loss, grad_q = dclkit.losses.dcl_queue(q, k, queue, temperature=0.2)
    >>> loss < dclkit.losses.infonce_queue(q, k, queue, temperature=0.2)[0]  # one term fewer
    True
    """
    return _queue(DCL_QUEUE_LOSS_DCL, q, k, queue, temperature, extra_negatives)


def mochi_negatives(q: Any, queue: Any, n_hard: int, s: int, s_prime: int,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MoCHi's synthetic hard negatives (Kalantidis et al. 2020).

    For each query u = q/|q|, the ``n_hard`` queue rows with the highest u·n are kept (ties to the
    lower row); ``s`` negatives ``normalize(α n_i + (1-α) n_j)`` are mixed from two of them
    (drawn uniformly, α ~ U(0, 1)), and ``s_prime`` negatives ``normalize(β u + (1-β) n_j)`` from
    the query and one of them (β ~ U(0, 0.5)). They carry no gradient. Public implementations use
    n_hard = 1024, s = s_prime = 256 with large queues (K = 65536) and n_hard = 32,
    s = s_prime = 16 with K = 4096. The draws depend on ``seed`` and the inputs only.

    Parameters
    ----------
    q : array_like, shape (N, D)
        Raw queries; N >= 1.
    queue : array_like, shape (K, D)
        Unit rows (|norm - 1| <= 1e-3).
    n_hard : int
        1 <= n_hard <= K.
    s, s_prime : int
        Numbers of pair mixes and query mixes per query, >= 0.
    seed : int
        0 <= seed < 2**64.

    Returns
    -------
    mixed : ndarray, float32, shape (N, s, D)
    query_mixed : ndarray, float32, shape (N, s_prime, D)
        Unit vectors.

    Examples
    --------
    >>> mixed, query_mixed = dclkit.losses.mochi_negatives(q, queue, n_hard=32, s=16, s_prime=16)
    >>> extra = np.concatenate([mixed, query_mixed], axis=1)          # (N, 32, D)
    >>> loss, grad_q = dclkit.losses.infonce_queue(q, k, queue, extra_negatives=extra)
    """
    a, bank = _queries_and_queue(q, queue)
    hard = _arrays.integer(n_hard, "n_hard", 1)
    if hard > bank.shape[0]:
        raise DCLValueError(f"n_hard must be at most the queue size K = {bank.shape[0]}, got {hard}")
    mixes = _arrays.integer(s, "s", 0)
    query_mixes = _arrays.integer(s_prime, "s_prime", 0)
    key = _arrays.integer(seed, "seed", 0, 2**64 - 1)
    n, d = a.shape
    mixed = _arrays.empty((n, mixes, d), "the mixed negatives")
    query_mixed = _arrays.empty((n, query_mixes, d), "the query-mixed negatives")
    call(_mochi_negatives, _arrays.pointer(a), n, d, _arrays.pointer(bank), bank.shape[0], hard,
         mixes, query_mixes, key, _arrays.pointer(mixed), _arrays.pointer(query_mixed))
    return mixed, query_mixed

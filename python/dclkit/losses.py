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
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._bindings import (
    DCL_LOSS_DCL,
    DCL_LOSS_DCLW,
    DCL_LOSS_NTXENT,
    DCL_PREDICTION_BYOL,
    DCL_PREDICTION_NEGATIVE_COSINE,
    DCL_QUEUE_LOSS_DCL,
    DCL_QUEUE_LOSS_INFONCE,
)
from ._native import DCLValueError, call, functions

__all__ = ["ntxent", "dcl", "dclw", "infonce_queue", "dcl_queue", "mochi_negatives", "nnclr"]

_pair_loss = functions["dcl_pair_loss"]
_nnclr_loss = functions["dcl_nnclr_loss"]


def _pair(objective: int, z0: ArrayLike, z1: ArrayLike, temperature: Any,
          sigma: Any) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
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


def ntxent(z0: ArrayLike, z1: ArrayLike, temperature: float = 0.1) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
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


def dcl(z0: ArrayLike, z1: ArrayLike, temperature: float = 0.1) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
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


def dclw(z0: ArrayLike, z1: ArrayLike, temperature: float = 0.1,
         sigma: float = 0.5) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
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


def _queries_and_queue(q: ArrayLike, queue: ArrayLike) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    a = _arrays.float32_array(q, "q", ndim=2)
    bank = _arrays.float32_array(queue, "queue", ndim=2)
    if bank.shape[1] != a.shape[1]:
        raise DCLValueError(f"queue must have D = {a.shape[1]} columns like q, got shape {bank.shape}")
    return a, bank


def _queue(objective: int, q: ArrayLike, k: ArrayLike, queue: ArrayLike, temperature: Any,
           extra_negatives: Any) -> tuple[float, NDArray[np.float32]]:
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


def infonce_queue(q: ArrayLike, k: ArrayLike, queue: ArrayLike, temperature: float = 0.2, *,
                  extra_negatives: Optional[ArrayLike] = None) -> tuple[float, NDArray[np.float32]]:
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


def dcl_queue(q: ArrayLike, k: ArrayLike, queue: ArrayLike, temperature: float = 0.2, *,
              extra_negatives: Optional[ArrayLike] = None) -> tuple[float, NDArray[np.float32]]:
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


_NNCLR_OBJECTIVES = {"infonce": DCL_QUEUE_LOSS_INFONCE, "dcl": DCL_QUEUE_LOSS_DCL}


def nnclr(neighbours: ArrayLike, predictions: ArrayLike, temperature: float = 0.1,
          objective: str = "infonce") -> tuple[float, NDArray[np.float32]]:
    """NNCLR's loss, one direction (Dwibedi et al. 2021), as the ``nnclr`` / ``nnclr-dcl`` methods compute it.

    With q_i the nearest support-set neighbour of one view's projection i (a unit row, no
    gradient) and p̂_k = p_k/|p_k| the other view's predictions, s_ik = q_i·p̂_k/τ:
    ``l_i = -s_ii + log Σ_{k∈D_i} exp(s_ik)``, D_i every k (``"infonce"``) or k ≠ i (``"dcl"``,
    DCL's decoupled denominator), mean over the N rows. The method averages the two directions.

    Parameters
    ----------
    neighbours : array_like, shape (N, D)
        Unit rows (|norm - 1| <= 1e-3); 2 <= N <= 4096.
    predictions : array_like, shape (N, D)
        Raw predictions; row i is the positive of neighbour i.
    temperature : float
        τ > 0 (0.1 in NNCLR).
    objective : {"infonce", "dcl"}

    Returns
    -------
    loss : float
    grad_predictions : ndarray, float32, shape (N, D)

    Examples
    --------
    >>> q = np.random.randn(8, 16); q /= np.linalg.norm(q, axis=1, keepdims=True)
    >>> loss, grad = dclkit.losses.nnclr(q, np.random.randn(8, 16), temperature=0.1, objective="dcl")
    """
    if objective not in _NNCLR_OBJECTIVES:
        raise DCLValueError(f"objective must be one of {sorted(_NNCLR_OBJECTIVES)}, got {objective!r}")
    q = _arrays.float32_array(neighbours, "neighbours", ndim=2)
    p = _arrays.float32_array(predictions, "predictions", ndim=2)
    if q.shape != p.shape:
        raise DCLValueError(f"neighbours and predictions must have the same shape, got {q.shape} and {p.shape}")
    tau = _arrays.positive_number(temperature, "temperature")
    grad = np.empty_like(p)
    loss = ctypes.c_double()
    call(_nnclr_loss, _NNCLR_OBJECTIVES[objective], _arrays.pointer(q), _arrays.pointer(p), p.shape[0], p.shape[1], tau,
         ctypes.byref(loss), _arrays.pointer(grad))
    return loss.value, grad


def mochi_negatives(q: ArrayLike, queue: ArrayLike, n_hard: int, s: int, s_prime: int,
                    seed: int = 0) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
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


# ---- Non-contrastive losses (BYOL, SimSiam, Barlow Twins, VICReg) ------------------------------

__all__ += ["prediction_loss", "simsiam", "byol", "barlow_twins", "vicreg"]

_prediction_loss = functions["dcl_prediction_loss"]
_symmetric_prediction_loss = functions["dcl_symmetric_prediction_loss"]
_barlow_twins_loss = functions["dcl_barlow_twins_loss"]
_vicreg_loss = functions["dcl_vicreg_loss"]
_PREDICTION_FORMS = {"negative_cosine": DCL_PREDICTION_NEGATIVE_COSINE, "byol": DCL_PREDICTION_BYOL}


def _same_shape(names: tuple[str, ...], values: tuple[Any, ...], min_rows: int) -> list[NDArray[np.float32]]:
    """The arrays as float32 (N, D) matrices of one shape with N >= ``min_rows``."""
    arrays = [_arrays.float32_array(x, name, ndim=2) for name, x in zip(names, values)]
    for name, array in zip(names[1:], arrays[1:]):
        if array.shape != arrays[0].shape:
            raise DCLValueError(f"{names[0]} and {name} must have the same shape, got {arrays[0].shape} and {array.shape}")
    if arrays[0].shape[0] < min_rows:
        raise DCLValueError(f"{names[0]} needs N >= {min_rows} rows, got shape {arrays[0].shape}")
    return arrays


def _non_negative(x: Any, name: str) -> float:
    """``x`` as a finite float >= 0 (a loss weight)."""
    value = _arrays.number(x, name)
    if value < 0:
        raise DCLValueError(f"{name} must be >= 0, got {x!r}")
    return value


def _form(form: Any) -> int:
    if form not in _PREDICTION_FORMS:
        raise DCLValueError(f"form must be one of {sorted(_PREDICTION_FORMS)}, got {form!r}")
    return _PREDICTION_FORMS[form]


def prediction_loss(p: ArrayLike, z: ArrayLike, form: str = "negative_cosine") -> tuple[float, NDArray[np.float32]]:
    """Prediction loss of a predictor against stop-gradient targets, one direction (SimSiam, BYOL).

    ``form="negative_cosine"``: SimSiam's ``D(p, z) = -cos(p, z)`` (Chen & He 2021);
    ``form="byol"``: BYOL's ``|p/|p| - z/|z||² = 2 - 2·cos(p, z)`` (Grill et al. 2020);
    mean over the N rows. The targets are the stopped branch: no gradient is returned for them.
    Norms are clamped at 1e-12 (a zero row has cosine 0; a zero target gives no gradient).

    Parameters
    ----------
    p : array_like, shape (N, D)
        Raw predictions; N >= 1.
    z : array_like, shape (N, D)
        Targets (BYOL's target-network projections, SimSiam's other-view projections).
    form : {"negative_cosine", "byol"}

    Returns
    -------
    loss : float
    grad_p : ndarray, float32, shape (N, D)
        d loss / d p.

    Examples
    --------
    >>> p, z = np.random.randn(8, 16), np.random.randn(8, 16)
    >>> loss, grad_p = dclkit.losses.prediction_loss(p, z, form="byol")
    >>> -1 <= dclkit.losses.prediction_loss(p, z)[0] <= 1
    True
    """
    code = _form(form)
    a, b = _same_shape(("p", "z"), (p, z), 1)
    grad = np.empty_like(a)
    loss = ctypes.c_double()
    call(_prediction_loss, code, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1],
         ctypes.byref(loss), _arrays.pointer(grad))
    return loss.value, grad


def _symmetric(code: int, p1: ArrayLike, p2: ArrayLike, z1: ArrayLike,
               z2: ArrayLike) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
    a1, a2, b1, b2 = _same_shape(("p1", "p2", "z1", "z2"), (p1, p2, z1, z2), 1)
    g1, g2 = np.empty_like(a1), np.empty_like(a2)
    loss = ctypes.c_double()
    call(_symmetric_prediction_loss, code, _arrays.pointer(a1), _arrays.pointer(a2), _arrays.pointer(b1),
         _arrays.pointer(b2), a1.shape[0], a1.shape[1], ctypes.byref(loss), _arrays.pointer(g1), _arrays.pointer(g2))
    return loss.value, g1, g2


def simsiam(p1: ArrayLike, p2: ArrayLike, z1: ArrayLike, z2: ArrayLike) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
    """SimSiam's symmetric loss (Chen & He 2021).

    ``L = ½ D(p1, sg(z2)) + ½ D(p2, sg(z1))`` with ``D(p, z) = -cos(p, z)`` averaged over the N
    rows: each view's prediction against the other view's projection, which carries no gradient.

    Parameters
    ----------
    p1, p2 : array_like, shape (N, D)
        Raw predictions of view 1 and view 2; N >= 1.
    z1, z2 : array_like, shape (N, D)
        Projections of view 1 and view 2 (the stop-gradient targets).

    Returns
    -------
    loss : float
        In [-1, 1]; -1 when every prediction points along its target.
    grad_p1, grad_p2 : ndarray, float32, shape (N, D)
        d loss / d p1 and d loss / d p2; z1 and z2 get none.

    Examples
    --------
    >>> p1, p2, z1, z2 = (np.random.randn(8, 16) for _ in range(4))
    >>> loss, g1, g2 = dclkit.losses.simsiam(p1, p2, z1, z2)
    >>> p1 -= 0.1 * g1; p2 -= 0.1 * g2   # one gradient step on the predictions only
    """
    return _symmetric(DCL_PREDICTION_NEGATIVE_COSINE, p1, p2, z1, z2)


def byol(p1: ArrayLike, p2: ArrayLike, z1: ArrayLike, z2: ArrayLike) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
    """BYOL's symmetrised regression loss (Grill et al. 2020).

    Per pair ``l(q, z') = |q/|q| - z'/|z'||² = 2 - 2·cos(q, z')``, mean over the N rows, for the
    online predictions q against the target network's projections z' of the other view:
    ``L = ½ [L(p1, z2) + L(p2, z1)]``. The paper sums the two directions (``L + L̃``): its value
    and gradients are twice these (lightly's BYOL example takes the half, as here).

    Parameters
    ----------
    p1, p2 : array_like, shape (N, D)
        Raw online predictions of view 1 and view 2; N >= 1.
    z1, z2 : array_like, shape (N, D)
        Target-network projections of view 1 and view 2 (no gradient).

    Returns
    -------
    loss : float
        In [0, 4].
    grad_p1, grad_p2 : ndarray, float32, shape (N, D)
        d loss / d p1 and d loss / d p2; z1 and z2 get none.

    Examples
    --------
    >>> p1, p2, z1, z2 = (np.random.randn(8, 16) for _ in range(4))
    >>> loss, g1, g2 = dclkit.losses.byol(p1, p2, z1, z2)
    >>> abs(loss - (2 + 2 * dclkit.losses.simsiam(p1, p2, z1, z2)[0])) < 1e-5
    True
    """
    return _symmetric(DCL_PREDICTION_BYOL, p1, p2, z1, z2)


def barlow_twins(z_a: ArrayLike, z_b: ArrayLike, lambda_: float = 5e-3) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
    """Barlow Twins' redundancy-reduction loss (Zbontar et al. 2021).

    Each view is standardised per feature over the batch as ``BatchNorm1d`` without affine,
    ``(z - mean) / sqrt(var + 1e-5)`` with the biased variance; ``C = z̃_aᵀ z̃_b / N`` (D × D) and
    ``L = Σ_i (1 - C_ii)² + λ Σ_i Σ_{j≠i} C_ij²``. λ = 5e-3 is the paper's (for D = 8192);
    ``1 / D`` is a common choice for small projectors.

    Parameters
    ----------
    z_a, z_b : array_like, shape (N, D)
        Embeddings of the two views (row i of both from image i); N >= 2, D <= 16384.
    lambda_ : float
        λ >= 0, the weight of the off-diagonal terms.

    Returns
    -------
    loss : float
    grad_a, grad_b : ndarray, float32, shape (N, D)
        d loss / d z_a and d loss / d z_b, through the standardisation.

    Examples
    --------
    >>> z_a = np.random.randn(32, 64); z_b = z_a + 0.1 * np.random.randn(32, 64)
    >>> loss, g_a, g_b = dclkit.losses.barlow_twins(z_a, z_b, lambda_=1 / 64)
    >>> z_a -= 0.01 * g_a; z_b -= 0.01 * g_b   # one gradient step
    """
    a, b = _same_shape(("z_a", "z_b"), (z_a, z_b), 2)
    weight = _non_negative(lambda_, "lambda_")
    g_a, g_b = np.empty_like(a), np.empty_like(b)
    loss = ctypes.c_double()
    call(_barlow_twins_loss, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1], weight,
         ctypes.byref(loss), _arrays.pointer(g_a), _arrays.pointer(g_b))
    return loss.value, g_a, g_b


def vicreg(z_a: ArrayLike, z_b: ArrayLike, invariance: float = 25.0, variance: float = 25.0,
           covariance: float = 1.0) -> tuple[float, NDArray[np.float32], NDArray[np.float32]]:
    """VICReg's variance-invariance-covariance loss (Bardes, Ponce & LeCun 2022).

    With Z = ``z_a``, Z' = ``z_b``: ``s = mean((Z - Z')²)`` over the N·D elements,
    ``v(Z) = (1/D) Σ_j max(0, 1 - sqrt(Var(z_j) + 1e-4))`` (unbiased variance),
    ``c(Z) = (1/D) Σ_{i≠j} Cov(Z)_ij²`` (``Cov = (Z - mean)ᵀ (Z - mean) / (N - 1)``) and
    ``L = λ s + μ ½[v(Z) + v(Z')] + ν [c(Z) + c(Z')]``: the official code's reductions (the paper
    writes ``s`` without the 1/D and ``μ [v(Z) + v(Z')]``); λ = μ = 25, ν = 1 as in the paper.

    Parameters
    ----------
    z_a, z_b : array_like, shape (N, D)
        Embeddings of the two views; N >= 2, D <= 16384.
    invariance, variance, covariance : float
        λ, μ, ν >= 0.

    Returns
    -------
    loss : float
    grad_a, grad_b : ndarray, float32, shape (N, D)
        d loss / d z_a and d loss / d z_b.

    Examples
    --------
    >>> z_a = np.random.randn(32, 64); z_b = z_a + 0.1 * np.random.randn(32, 64)
    >>> loss, g_a, g_b = dclkit.losses.vicreg(z_a, z_b)
    >>> z_a -= 0.01 * g_a; z_b -= 0.01 * g_b   # one gradient step
    """
    a, b = _same_shape(("z_a", "z_b"), (z_a, z_b), 2)
    weights = [_non_negative(invariance, "invariance"), _non_negative(variance, "variance"),
               _non_negative(covariance, "covariance")]
    g_a, g_b = np.empty_like(a), np.empty_like(b)
    loss = ctypes.c_double()
    call(_vicreg_loss, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1], *weights,
         ctypes.byref(loss), _arrays.pointer(g_a), _arrays.pointer(g_b))
    return loss.value, g_a, g_b

"""Evaluation of frozen features: weighted kNN and the linear probe, computed by the Swift core.

Both take the features of a labelled training set and a labelled test set, fit on the first,
and return **top-1 accuracy on the test set as a fraction in [0, 1]** (0.913 means 91.3%).

Features are float arrays of shape (N, D) (converted to float32; NaN and infinity are rejected);
labels are integer arrays of shape (N,) with values in [0, C), where C is one more than the
largest label of either set.
"""
from __future__ import annotations

import ctypes
import warnings
from typing import Any, Literal, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._bindings import DCL_KNN_DEFAULT_K, DCL_KNN_DEFAULT_TEMPERATURE_MILLI
from ._native import DCLValueError, call, functions

__all__ = ["knn", "linear_probe"]

MAX_CLASSES = 1 << 20
"""The most classes the core's evaluation takes."""
DEFAULT_K = DCL_KNN_DEFAULT_K
"""InstDisc's k of the weighted kNN (the core's monitor default)."""
DEFAULT_TEMPERATURE = DCL_KNN_DEFAULT_TEMPERATURE_MILLI / 1000
"""InstDisc's τ of the vote weights (the core's monitor default)."""

_knn = functions["dcl_knn"]
_linear_probe = functions["dcl_linear_probe"]


def _int64_pointer(array: NDArray[np.int64]) -> Any:
    return _arrays.pointer(array, ctypes.c_int64)


def _data(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike,
          test_labels: ArrayLike) -> tuple[tuple, NDArray[np.int64]]:
    """The checked leading arguments of both native calls, and an empty predictions array."""
    xtr = _arrays.float32_array(train_feats, "train_feats", ndim=2)
    xte = _arrays.float32_array(test_feats, "test_feats", ndim=2)
    if xtr.shape[1] != xte.shape[1]:
        raise DCLValueError(f"train_feats and test_feats must have the same number of columns, got {xtr.shape} and {xte.shape}")
    ytr = _arrays.labels(train_labels, "train_labels", xtr.shape[0], MAX_CLASSES, rows="feature rows")
    yte = _arrays.labels(test_labels, "test_labels", xte.shape[0], MAX_CLASSES, rows="feature rows")
    classes = int(max(ytr.max(), yte.max())) + 1
    head = (_arrays.pointer(xtr), _int64_pointer(ytr), xtr.shape[0],
            _arrays.pointer(xte), _int64_pointer(yte), xte.shape[0], xtr.shape[1], classes)
    return head, np.empty(xte.shape[0], dtype=np.int64)


@overload
def knn(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, k: int = ...,
        temperature: float = ..., return_predictions: Literal[False] = ...) -> float: ...
@overload
def knn(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, k: int = ...,
        temperature: float = ..., *, return_predictions: Literal[True]) -> tuple[float, NDArray[np.int64]]: ...
@overload
def knn(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, k: int = ...,
        temperature: float = ..., return_predictions: bool = ...) -> float | tuple[float, NDArray[np.int64]]: ...
def knn(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, k: int = DEFAULT_K,
        temperature: float = DEFAULT_TEMPERATURE, return_predictions: bool = False) -> float | tuple[float, NDArray[np.int64]]:
    """Weighted k-nearest-neighbour top-1 accuracy (InstDisc, Wu et al. 2018; MoCo's kNN monitor).

    Rows are L2-normalised whatever their scale (each row is divided by its largest magnitude
    first, so features times 1e-38 or 1e30 give the same answer); each test row's ``k`` most cosine-similar
    training rows vote for their labels with weight ``exp(s / temperature)``; the class with the largest summed weight is the
    prediction. ``k`` is clamped to the training set size; equal similarities keep the lower
    training index and equal scores the lower class. Test rows are processed in chunks (bounded memory).

    Parameters
    ----------
    train_feats : array_like, shape (N, D)
    train_labels : array_like of int, shape (N,)
    test_feats : array_like, shape (M, D)
    test_labels : array_like of int, shape (M,)
    k : int
        Neighbours per vote, >= 1 (200 as in InstDisc).
    temperature : float
        τ > 0 of the vote weights (0.1 as in InstDisc). Any finite τ > 0 is accepted: as τ → 0
        (down to 5e-324) the vote tends to the most similar rows', never NaN.
    return_predictions : bool
        Also return the predicted classes.

    Returns
    -------
    top1 : float
        Fraction of test rows classified correctly, in [0, 1].
    predictions : ndarray of int64, shape (M,)
        Only with ``return_predictions=True``.

    Examples
    --------
    >>> top1 = dclkit.evaluate.knn(f_train, y_train, f_test, y_test, k=200, temperature=0.1)
    """
    k = _arrays.integer(k, "k", 1, 2**62)
    tau = _arrays.positive_number(temperature, "temperature")
    head, predictions = _data(train_feats, train_labels, test_feats, test_labels)
    top1 = ctypes.c_double()
    call(_knn, *head, k, tau, ctypes.byref(top1), _int64_pointer(predictions))
    return (top1.value, predictions) if return_predictions else top1.value


@overload
def linear_probe(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, l2: float = ...,
                 max_iter: int = ..., return_predictions: Literal[False] = ...) -> float: ...
@overload
def linear_probe(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, l2: float = ...,
                 max_iter: int = ..., *, return_predictions: Literal[True]) -> tuple[float, NDArray[np.int64]]: ...
@overload
def linear_probe(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, l2: float = ...,
                 max_iter: int = ..., return_predictions: bool = ...) -> float | tuple[float, NDArray[np.int64]]: ...
def linear_probe(train_feats: ArrayLike, train_labels: ArrayLike, test_feats: ArrayLike, test_labels: ArrayLike, l2: float = 1e-4,
                 max_iter: int = 1000, return_predictions: bool = False) -> float | tuple[float, NDArray[np.int64]]:
    """Linear-probe top-1 accuracy: softmax regression on standardised frozen features.

    Features are standardised with the training set's mean and standard deviation (constant
    features map to 0). The probe minimises ``mean cross-entropy + l2/2 * ||W||^2`` (bias not
    penalised; the same optimum as scikit-learn's ``LogisticRegression(C=1/(l2*N))``) with
    full-batch, deterministic L-BFGS until the largest gradient entry is <= 1e-6 or the loss stops
    decreasing; a ``RuntimeWarning`` says when ``max_iter`` ran out first.

    Parameters
    ----------
    train_feats : array_like, shape (N, D)
    train_labels : array_like of int, shape (N,)
    test_feats : array_like, shape (M, D)
    test_labels : array_like of int, shape (M,)
    l2 : float
        L2 strength > 0 on the weights, relative to the mean cross-entropy.
    max_iter : int
        L-BFGS iteration limit, 1 to 1,000,000.
    return_predictions : bool
        Also return the predicted classes.

    Returns
    -------
    top1 : float
        Fraction of test rows classified correctly, in [0, 1].
    predictions : ndarray of int64, shape (M,)
        Only with ``return_predictions=True``.

    Examples
    --------
    >>> top1 = dclkit.evaluate.linear_probe(f_train, y_train, f_test, y_test)
    """
    lam = _arrays.positive_number(l2, "l2")
    max_iter = _arrays.integer(max_iter, "max_iter", 1, 1_000_000)
    head, predictions = _data(train_feats, train_labels, test_feats, test_labels)
    top1, iterations, converged = ctypes.c_double(), ctypes.c_int64(), ctypes.c_int32()
    call(_linear_probe, *head, lam, max_iter, ctypes.byref(top1), _int64_pointer(predictions),
         ctypes.byref(iterations), ctypes.byref(converged))
    if not converged.value:
        warnings.warn(f"linear_probe: L-BFGS stopped at max_iter={max_iter} before converging; "
                      "raise max_iter or l2", RuntimeWarning, stacklevel=2)
    return (top1.value, predictions) if return_predictions else top1.value

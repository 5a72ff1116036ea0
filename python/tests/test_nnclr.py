"""NNCLR's loss and gradient against an independent float64 numpy reference written from the
paper's formula (Dwibedi et al. 2021), with and without DCL's decoupled denominator."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit


def native(objective, q, p, tau):
    return dclkit.losses.nnclr(q, p, temperature=tau, objective=objective)


def reference(q, p, tau, decoupled):
    """l_i = -q_i.p^_i/tau + log sum_{k in D_i} exp(q_i.p^_k/tau), mean over i, in float64."""
    p_hat = p / np.linalg.norm(p, axis=1, keepdims=True)
    s = q @ p_hat.T / tau
    if decoupled:
        s_den = s.copy()
        np.fill_diagonal(s_den, -np.inf)
    else:
        s_den = s
    peak = s_den.max(axis=1, keepdims=True)
    return float(np.mean(-np.diag(s) + (peak[:, 0] + np.log(np.exp(s_den - peak).sum(axis=1)))))


@pytest.mark.parametrize("objective,decoupled", [("infonce", False), ("dcl", True)])
def test_nnclr_loss_and_gradient_match_numpy(objective, decoupled):
    rng = np.random.default_rng(int(decoupled))
    n, d, tau = 7, 5, 0.3
    q = rng.standard_normal((n, d))
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    p = rng.standard_normal((n, d))
    loss, grad = native(objective, q.astype(np.float32), p.astype(np.float32), tau)
    q64, p64 = q.astype(np.float32).astype(np.float64), p.astype(np.float32).astype(np.float64)
    assert loss == pytest.approx(reference(q64, p64, tau, decoupled), rel=1e-5)
    numeric = np.zeros_like(p64)
    for index in np.ndindex(p64.shape):
        step = np.zeros_like(p64)
        step[index] = 1e-6
        numeric[index] = (reference(q64, p64 + step, tau, decoupled) - reference(q64, p64 - step, tau, decoupled)) / 2e-6
    np.testing.assert_allclose(grad, numeric, rtol=1e-3, atol=1e-4)


def test_nnclr_loss_refuses_bad_input():
    q = np.eye(4, 3, dtype=np.float32)[:3] * 2  # rows of norm 2 are not unit neighbours
    p = np.ones((3, 3), np.float32)
    with pytest.raises(dclkit.DCLValueError, match="q"):
        native("infonce", q, p, 0.1)
    with pytest.raises(dclkit.DCLValueError, match="temperature"):
        native("infonce", q / 2, p, 0.0)
    with pytest.raises(dclkit.DCLValueError, match="objective"):
        native("swav", q / 2, p, 0.1)

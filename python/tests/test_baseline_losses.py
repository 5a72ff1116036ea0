"""The non-contrastive baselines' losses (BYOL / SimSiam prediction loss, Barlow Twins, VICReg)
against independent float64 numpy references written from the papers' formulas, the stop-gradient
of the prediction loss, zero vectors and zero variance, and bad inputs at both boundaries."""
from __future__ import annotations

import ctypes

import numpy as np
import pytest

from dclkit import losses
from dclkit._native import DCLTypeError, DCLValueError, call



# ---- references, float64, from the formulas ---------------------------------------------------

def cosines(p, z):
    """Row-wise cos(p_i, z_i), norms clamped at 1e-12 as F.normalize."""
    p, z = np.asarray(p, np.float64), np.asarray(z, np.float64)
    norm_p = np.maximum(np.linalg.norm(p, axis=1), 1e-12)
    norm_z = np.maximum(np.linalg.norm(z, axis=1), 1e-12)
    return np.sum(p * z, axis=1) / (norm_p * norm_z)


def prediction_reference(p, z, form):
    """SimSiam: mean of D = -cos; BYOL: mean of |p/|p| - z/|z||² = 2 - 2 cos."""
    c = cosines(p, z)
    return float(np.mean(-c if form == "negative_cosine" else 2 - 2 * c))


def barlow_reference(a, b, lam):
    """Σ_i (1 - C_ii)² + λ Σ_{i≠j} C_ij², C = ẑ_aᵀ ẑ_b / N, ẑ = (z - mean)/sqrt(biased var + 1e-5)."""
    def standardise(x):
        x = np.asarray(x, np.float64)
        return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + 1e-5)
    n = a.shape[0]
    c = standardise(a).T @ standardise(b) / n
    on = np.sum((1 - np.diag(c)) ** 2)
    off = np.sum(c ** 2) - np.sum(np.diag(c) ** 2)
    return float(on + lam * off)


def vicreg_reference(a, b, lam=25.0, mu=25.0, nu=1.0):
    """λ mean((Z - Z')²) + μ ½[v(Z) + v(Z')] + ν [c(Z) + c(Z')], unbiased (co)variances, γ = 1, ε = 1e-4."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    n, d = a.shape

    def v(x):
        return np.mean(np.maximum(0.0, 1 - np.sqrt(x.var(axis=0, ddof=1) + 1e-4)))

    def c(x):
        centred = x - x.mean(axis=0)
        cov = centred.T @ centred / (n - 1)
        return (np.sum(cov ** 2) - np.sum(np.diag(cov) ** 2)) / d

    return float(lam * np.mean((a - b) ** 2) + mu * 0.5 * (v(a) + v(b)) + nu * (c(a) + c(b)))


def numerical_gradient(f, x, h=1e-6):
    """Central differences of the float64 function f at x (error ~1e-9 for these smooth losses)."""
    x = np.array(x, np.float64)
    grad = np.zeros_like(x)
    for index in np.ndindex(*x.shape):
        saved = x[index]
        x[index] = saved + h
        plus = f(x)
        x[index] = saved - h
        minus = f(x)
        x[index] = saved
        grad[index] = (plus - minus) / (2 * h)
    return grad


def assert_close(actual, expected, what, rtol=2e-4, atol=2e-5):
    """float32 results against float64 references: relative 2e-4 of the largest entry plus 2e-5."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = max(1.0, float(np.max(np.abs(expected))))
    np.testing.assert_allclose(actual, expected, rtol=0, atol=atol + rtol * scale, err_msg=what)


def two_views(n, d, seed, noise=0.5):
    """z_b a noisy copy of z_a, features on scales 0.3 to 2 and with offsets."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.3, 2.0, size=d)
    a = rng.standard_normal((n, d)) * scales + rng.uniform(-2, 2, size=d)
    b = a + noise * scales * rng.standard_normal((n, d))
    return a.astype(np.float32), b.astype(np.float32)


SHAPES = [(2, 3, 0), (5, 7, 1), (8, 16, 2), (16, 4, 3), (16, 16, 4)]


# ---- prediction loss (BYOL, SimSiam) ----------------------------------------------------------

@pytest.mark.parametrize("form", ["negative_cosine", "byol"])
@pytest.mark.parametrize("n,d,seed", SHAPES)
def test_prediction_loss_and_gradient_match_the_reference(form, n, d, seed):
    rng = np.random.default_rng(seed)
    p = rng.standard_normal((n, d)).astype(np.float32)
    z = rng.standard_normal((n, d)).astype(np.float32)
    loss, grad = losses.prediction_loss(p, z, form=form)
    assert abs(loss - prediction_reference(p, z, form)) < 1e-5
    # Targets held fixed: the reference is differentiated with respect to p only.
    expected = numerical_gradient(lambda x: prediction_reference(x, z, form), p)
    assert_close(grad, expected, f"{form} grad_p")


@pytest.mark.parametrize("name", ["simsiam", "byol"])
@pytest.mark.parametrize("n,d,seed", SHAPES)
def test_symmetric_losses_cross_the_views_and_match_the_reference(name, n, d, seed):
    form = "negative_cosine" if name == "simsiam" else "byol"
    rng = np.random.default_rng(100 + seed)
    p1, p2, z1, z2 = (rng.standard_normal((n, d)).astype(np.float32) for _ in range(4))
    loss, g1, g2 = getattr(losses, name)(p1, p2, z1, z2)

    def reference(q1, q2):
        return 0.5 * prediction_reference(q1, z2, form) + 0.5 * prediction_reference(q2, z1, form)

    assert abs(loss - reference(p1, p2)) < 1e-5
    assert_close(g1, numerical_gradient(lambda x: reference(x, p2), p1), f"{name} grad_p1")
    assert_close(g2, numerical_gradient(lambda x: reference(p1, x), p2), f"{name} grad_p2")


def test_byol_is_two_plus_twice_simsiam():
    rng = np.random.default_rng(7)
    p1, p2, z1, z2 = (rng.standard_normal((6, 5)) for _ in range(4))
    byol, b1, b2 = losses.byol(p1, p2, z1, z2)
    simsiam, s1, s2 = losses.simsiam(p1, p2, z1, z2)
    assert abs(byol - (2 + 2 * simsiam)) < 1e-5
    assert_close(b1, 2 * s1, "grad_p1")
    assert_close(b2, 2 * s2, "grad_p2")


def test_the_stopped_targets_move_the_loss_but_not_the_prediction_gradients():
    """The API returns no target gradient; moving z1 changes the loss (through L(p2, z1)) but not
    d L / d p1, and with SimSiam's tie z = p the returned gradient is the stop-gradient one, which
    differs from the full derivative through the tie."""
    rng = np.random.default_rng(8)
    p1, p2, z1, z2 = (rng.standard_normal((4, 6)).astype(np.float32) for _ in range(4))
    result = losses.simsiam(p1, p2, z1, z2)
    assert len(result) == 3
    loss, g1, g2 = result
    moved, h1, h2 = losses.simsiam(p1, p2, z1 + 0.5, z2)
    assert abs(moved - loss) > 1e-3
    np.testing.assert_array_equal(h1, g1)
    assert not np.array_equal(h2, g2)
    # Tie the targets to the predictions: the full derivative differs from the stopped one.
    loss, g1, _ = losses.simsiam(p1, p2, p1, p2)
    full = numerical_gradient(lambda x: 0.5 * prediction_reference(x, p2, "negative_cosine")
                              + 0.5 * prediction_reference(p2, x, "negative_cosine"), p1)
    stopped = numerical_gradient(lambda x: 0.5 * prediction_reference(x, p2, "negative_cosine"), p1)
    assert_close(g1, stopped, "stop-gradient grad_p1")
    assert np.max(np.abs(full - g1)) > 1e-2


def test_zero_rows_have_cosine_zero_and_a_zero_target_gives_no_gradient():
    rng = np.random.default_rng(9)
    p = rng.standard_normal((3, 4)).astype(np.float32)
    z = rng.standard_normal((3, 4)).astype(np.float32)
    z[0] = 0
    p[1] = 0
    loss, grad = losses.prediction_loss(p, z)
    assert abs(loss - (-cosines(p[2:], z[2:])[0] / 3)) < 1e-6
    assert np.all(np.isfinite(grad))
    assert np.all(grad[0] == 0)


# ---- Barlow Twins -----------------------------------------------------------------------------

@pytest.mark.parametrize("lam", [5e-3, 0.1])
@pytest.mark.parametrize("n,d,seed", [s for s in SHAPES if s[0] >= 2])
def test_barlow_twins_loss_and_gradients_match_the_reference(lam, n, d, seed):
    a, b = two_views(n, d, seed)
    loss, g_a, g_b = losses.barlow_twins(a, b, lambda_=lam)
    expected = barlow_reference(a, b, lam)
    assert abs(loss - expected) <= 1e-5 * max(1.0, expected)
    assert_close(g_a, numerical_gradient(lambda x: barlow_reference(x, b, lam), a), "grad_a")
    assert_close(g_b, numerical_gradient(lambda x: barlow_reference(a, x, lam), b), "grad_b")


def test_barlow_twins_with_a_constant_feature_counts_it_once_and_stays_finite():
    a, b = two_views(8, 5, 11)
    a[:, 3] = 0.25
    loss, g_a, g_b = losses.barlow_twins(a, b, lambda_=1 / 5)
    assert abs(loss - barlow_reference(a, b, 1 / 5)) < 1e-5 * max(1.0, loss)
    assert loss >= 1
    assert np.all(np.isfinite(g_a)) and np.all(np.isfinite(g_b))
    # B's features all vary, so its gradient is well conditioned and matches the reference.
    assert_close(g_b, numerical_gradient(lambda x: barlow_reference(a, x, 1 / 5), b), "grad_b")


# ---- VICReg -----------------------------------------------------------------------------------

@pytest.mark.parametrize("weights", [(25.0, 25.0, 1.0), (1.0, 3.0, 0.5)])
@pytest.mark.parametrize("n,d,seed", [s for s in SHAPES if s[0] >= 2])
def test_vicreg_loss_and_gradients_match_the_reference(weights, n, d, seed):
    a, b = two_views(n, d, 20 + seed)
    loss, g_a, g_b = losses.vicreg(a, b, *weights)
    expected = vicreg_reference(a, b, *weights)
    assert abs(loss - expected) <= 1e-5 * max(1.0, expected)
    assert_close(g_a, numerical_gradient(lambda x: vicreg_reference(x, b, *weights), a), "grad_a")
    assert_close(g_b, numerical_gradient(lambda x: vicreg_reference(a, x, *weights), b), "grad_b")


def test_vicreg_constant_feature_hits_the_hinge_but_gets_no_variance_gradient():
    a, b = two_views(6, 4, 31)
    a[:, 2] = b[:, 2] = 1.5
    loss, g_a, g_b = losses.vicreg(a, b)
    assert abs(loss - vicreg_reference(a, b)) < 1e-5 * max(1.0, loss)
    assert loss >= 25 * 0.5 * 2 * (1 - 0.01) / 4 - 1e-5
    assert np.all(g_a[:, 2] == 0) and np.all(g_b[:, 2] == 0)


# ---- header constants and bad inputs ----------------------------------------------------------

GOOD = np.ones((4, 3), np.float32) + np.arange(12, dtype=np.float32).reshape(4, 3) ** 1.5


@pytest.mark.parametrize("call_loss", [
    lambda: losses.prediction_loss(GOOD, GOOD[:3]),
    lambda: losses.prediction_loss(GOOD, GOOD, form="cosine"),
    lambda: losses.prediction_loss(GOOD[0], GOOD[0]),
    lambda: losses.simsiam(GOOD, GOOD, GOOD, GOOD[:, :2]),
    lambda: losses.byol(GOOD, np.full((4, 3), np.nan), GOOD, GOOD),
    lambda: losses.barlow_twins(GOOD[:1], GOOD[:1]),
    lambda: losses.barlow_twins(GOOD, GOOD.T),
    lambda: losses.barlow_twins(GOOD, GOOD, lambda_=-1e-3),
    lambda: losses.barlow_twins(GOOD, GOOD, lambda_=float("inf")),
    lambda: losses.barlow_twins(np.zeros((4, 16385), np.float32), np.zeros((4, 16385), np.float32)),
    lambda: losses.vicreg(GOOD, GOOD, covariance=-1),
    lambda: losses.vicreg(GOOD, GOOD, variance=float("nan")),
    lambda: losses.vicreg(GOOD[:1], GOOD[:1]),
    lambda: losses.vicreg(GOOD, np.full((4, 3), np.inf)),
    lambda: losses.vicreg(np.zeros((0, 3)), np.zeros((0, 3))),
])
def test_bad_inputs_raise_dcl_value_error(call_loss):
    with pytest.raises(DCLValueError):
        call_loss()


def test_non_numbers_raise_dcl_type_error():
    with pytest.raises(DCLTypeError):
        losses.vicreg(GOOD, GOOD, invariance="25")
    with pytest.raises(DCLTypeError):
        losses.barlow_twins(np.array([["a", "b"], ["c", "d"]]), GOOD)


def test_the_c_boundary_refuses_what_the_python_face_would_not_pass():
    """Calls the exported functions directly: null pointers, sizes, codes and weights are checked
    in Swift too, and come back as DCLValueError, never a crash."""
    x = np.ascontiguousarray(GOOD)
    g = np.empty_like(x)
    ptr = x.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    out = g.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
    loss = ctypes.byref(ctypes.c_double())
    cases = [
        (losses._prediction_loss, (0, None, ptr, 4, 3, loss, out)),
        (losses._prediction_loss, (2, ptr, ptr, 4, 3, loss, out)),
        (losses._prediction_loss, (0, ptr, ptr, 0, 3, loss, out)),
        (losses._prediction_loss, (0, ptr, ptr, 4, 3, None, out)),
        (losses._symmetric_prediction_loss, (1, ptr, ptr, ptr, None, 4, 3, loss, out, out)),
        (losses._symmetric_prediction_loss, (1, ptr, ptr, ptr, ptr, 1 << 20, 1 << 20, loss, out, out)),
        (losses._barlow_twins_loss, (ptr, ptr, 1, 3, 5e-3, loss, out, out)),
        (losses._barlow_twins_loss, (ptr, ptr, 4, 3, -1.0, loss, out, out)),
        (losses._barlow_twins_loss, (ptr, ptr, 4, 3, float("nan"), loss, out, out)),
        (losses._barlow_twins_loss, (ptr, ptr, 4, 3, 5e-3, loss, out, None)),
        (losses._barlow_twins_loss, (ptr, ptr, 2, 1 << 15, 5e-3, loss, out, out)),
        (losses._vicreg_loss, (ptr, ptr, 4, 3, 25.0, -25.0, 1.0, loss, out, out)),
        (losses._vicreg_loss, (ptr, None, 4, 3, 25.0, 25.0, 1.0, loss, out, out)),
        (losses._vicreg_loss, (ptr, ptr, -4, 3, 25.0, 25.0, 1.0, loss, out, out)),
        (losses._vicreg_loss, (ptr, ptr, 1 << 40, 1 << 40, 25.0, 25.0, 1.0, loss, out, out)),
    ]
    for function, arguments in cases:
        with pytest.raises(DCLValueError):
            call(function, *arguments)


def test_overflowing_inputs_are_reported_not_returned():
    big = np.full((4, 3), 3e38, np.float32)
    big[::2] = -3e38
    with pytest.raises(DCLValueError, match="not finite"):
        losses.vicreg(big, -big)

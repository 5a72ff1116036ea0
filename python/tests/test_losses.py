"""The two-view losses against an independent float64 numpy reference, and their bad inputs."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import losses
from dclkit._bindings import DCL_INVALID_ARGUMENT


def reference(z0: np.ndarray, z1: np.ndarray, tau: float, objective: str, sigma: float = 0.5):
    """Loss and gradient from the papers' formulas, float64, gradient by autodiff-free algebra.

    Written from the formulas, not from the Swift code: the gradient is obtained by central
    differences of the float64 loss (exact to ~1e-9 at this step), so the reference shares
    no derivation with the code under test."""

    def loss_of(z0, z1, weights=None):
        n = z0.shape[0]
        z = np.concatenate([z0, z1]).astype(np.float64)
        u = z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)
        s = u @ u.T
        total = 0.0
        pos_sims = np.array([s[i, i + n] for i in range(n)])
        if weights is None:
            if objective == "dclw":
                e = np.exp(pos_sims / sigma)
                weights = 2 - n * e / e.sum()
            else:
                weights = np.ones(n)
        for i in range(2 * n):
            p = (i + n) % (2 * n)
            keep = [k for k in range(2 * n) if k != i and (objective == "ntxent" or k != p)]
            logits = s[i, keep] / tau
            m = logits.max()
            total += -weights[i % n] * s[i, p] / tau + m + np.log(np.exp(logits - m).sum())
        return total / (2 * n), weights

    value, weights = loss_of(z0, z1)
    # DCLW's weights carry no gradient: hold them at their value here.
    grads = []
    h = 1e-6
    for which in (0, 1):
        g = np.zeros_like(z0, dtype=np.float64)
        for idx in np.ndindex(z0.shape):
            a, b = z0.astype(np.float64).copy(), z1.astype(np.float64).copy()
            target = a if which == 0 else b
            target[idx] += h
            plus = loss_of(a, b, weights)[0]
            target[idx] -= 2 * h
            minus = loss_of(a, b, weights)[0]
            g[idx] = (plus - minus) / (2 * h)
        grads.append(g)
    return value, grads[0], grads[1]


FUNCTIONS = {"ntxent": losses.ntxent, "dcl": losses.dcl, "dclw": losses.dclw}


@pytest.mark.parametrize("objective", ["ntxent", "dcl", "dclw"])
@pytest.mark.parametrize("n,d,tau", [(2, 1, 0.5), (2, 3, 0.1), (5, 4, 0.2), (8, 16, 0.07), (16, 8, 1.0)])
def test_loss_and_gradient_match_float64_reference(objective, n, d, tau):
    rng = np.random.default_rng(n * 100 + d)
    z0 = rng.standard_normal((n, d))
    z1 = z0 + 0.5 * rng.standard_normal((n, d))
    value, g0, g1 = FUNCTIONS[objective](z0, z1, temperature=tau)
    ref_value, ref_g0, ref_g1 = reference(z0, z1, tau, objective)
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-5)
    assert g0.dtype == np.float32 and g0.shape == z0.shape and g1.shape == z1.shape
    # float32 arithmetic inside: gradients agree to ~1e-6 relative to their scale.
    scale = max(np.abs(ref_g0).max(), np.abs(ref_g1).max(), 1e-3)
    np.testing.assert_allclose(g0, ref_g0, atol=2e-5 * scale + 1e-6, rtol=1e-4)
    np.testing.assert_allclose(g1, ref_g1, atol=2e-5 * scale + 1e-6, rtol=1e-4)


def test_dclw_sigma_changes_the_loss():
    rng = np.random.default_rng(1)
    z0, z1 = rng.standard_normal((6, 5)), rng.standard_normal((6, 5))
    a = losses.dclw(z0, z1, 0.2, sigma=0.5)[0]
    b = losses.dclw(z0, z1, 0.2, sigma=5.0)[0]
    assert a != pytest.approx(b)
    assert a == pytest.approx(reference(z0, z1, 0.2, "dclw", 0.5)[0], rel=1e-5)
    assert b == pytest.approx(reference(z0, z1, 0.2, "dclw", 5.0)[0], rel=1e-5)


def test_float64_and_non_contiguous_inputs_are_converted():
    rng = np.random.default_rng(2)
    big = rng.standard_normal((8, 10))
    z0, z1 = big[:, ::2], big[:, 1::2]  # non-contiguous float64 views
    value, g0, _ = losses.dcl(z0, z1)
    expected = losses.dcl(np.ascontiguousarray(z0, np.float32), np.ascontiguousarray(z1, np.float32))
    assert value == pytest.approx(expected[0])
    np.testing.assert_array_equal(g0, expected[1])
    assert losses.dcl(z0.tolist(), z1.tolist())[0] == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize(
    "z0,z1,kwargs,error,fragment",
    [
        (np.zeros((4,)), np.zeros((4,)), {}, ValueError, "dimensions"),
        (np.ones((1, 3)), np.ones((1, 3)), {}, ValueError, "N >= 2"),
        (np.ones((0, 3)), np.ones((0, 3)), {}, ValueError, "empty"),
        (np.ones((3, 2)), np.ones((3, 3)), {}, ValueError, "same shape"),
        (np.array([[np.nan, 1], [1, 2]]), np.ones((2, 2)), {}, ValueError, "z0"),
        (np.ones((2, 2)), np.array([[np.inf, 1], [1, 2]]), {}, ValueError, "z1"),
        (np.ones((2, 2)), np.ones((2, 2)), {"temperature": 0.0}, ValueError, "temperature"),
        (np.ones((2, 2)), np.ones((2, 2)), {"temperature": -1.0}, ValueError, "temperature"),
        (np.ones((2, 2)), np.ones((2, 2)), {"temperature": float("nan")}, ValueError, "temperature"),
        (np.ones((2, 2)), np.ones((2, 2)), {"temperature": "hot"}, TypeError, "temperature"),
        ([["a", "b"], ["c", "d"]], np.ones((2, 2)), {}, TypeError, "z0"),
        (np.ones((2, 2)), np.array([[1 + 1j, 1], [1, 1]]), {}, TypeError, "z1"),
    ],
)
def test_bad_inputs_raise_named_errors(z0, z1, kwargs, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        losses.dcl(z0, z1, **kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


@pytest.mark.parametrize("sigma", [0.0, -2.0, float("inf")])
def test_dclw_rejects_bad_sigma(sigma):
    with pytest.raises(dclkit.DCLValueError, match="sigma"):
        losses.dclw(np.ones((2, 2)), np.eye(2), sigma=sigma)


def test_native_checks_hold_without_the_python_checks(run_isolated):
    """The C ABI validates on its own: null pointers and bad sizes give status codes, not crashes."""
    code, out, err = run_isolated(
        """
        import ctypes
        import dclkit
        from dclkit._bindings import DCL_LOSS_DCL as DCL
        from dclkit._native import functions, lib
        f = functions["dcl_pair_loss"]
        buf = (ctypes.c_float * 8)()
        loss = ctypes.c_double()
        print(f(DCL, None, buf, 2, 2, 0.1, 0.5, ctypes.byref(loss), buf, buf), lib.dcl_last_error().decode())
        print(f(DCL, buf, buf, 1, 2, 0.1, 0.5, ctypes.byref(loss), buf, buf), lib.dcl_last_error().decode())
        print(f(9, buf, buf, 2, 2, 0.1, 0.5, ctypes.byref(loss), buf, buf), lib.dcl_last_error().decode())
        print(f(DCL, buf, buf, 2, 2, -0.1, 0.5, ctypes.byref(loss), buf, buf), lib.dcl_last_error().decode())
        print(f(DCL, buf, buf, 2, 2, 0.1, 0.5, None, buf, buf), lib.dcl_last_error().decode())
        print(f(DCL, buf, buf, 20000, 2, 0.1, 0.5, ctypes.byref(loss), buf, buf), lib.dcl_last_error().decode())
        """
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [int(line.split()[0]) for line in lines] == [DCL_INVALID_ARGUMENT] * 6
    assert "z0 is a null pointer" in lines[0]
    assert "at least 2" in lines[1]
    assert "objective" in lines[2]
    assert "temperature" in lines[3]
    assert "loss is a null pointer" in lines[4]
    assert "too large" in lines[5]


def test_zero_row_gives_finite_loss():
    z0 = np.zeros((3, 4))
    z0[1:] = 1.0
    value, g0, g1 = losses.dcl(z0, np.ones((3, 4)))
    assert np.isfinite(value)

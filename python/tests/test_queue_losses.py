"""The queue losses (MoCo's InfoNCE, DCL on the queue) against an independent float64 numpy
reference, MoCHi's synthetic negatives against the paper's definitions, and bad inputs."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit
from dclkit import losses
from dclkit._bindings import DCL_INVALID_ARGUMENT, DCL_OK


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def reference_row_losses(q, k, queue, tau, objective, extra=None):
    """Per-query losses from the published formulas, float64.

    InfoNCE (MoCo): l = -log(exp(q·k+/τ) / (exp(q·k+/τ) + Σ_n exp(q·n/τ))).
    DCL on the queue: l = -q·k+/τ + log Σ_n exp(q·n/τ).
    q and k are normalised first; n runs over the queue and the query's extra negatives."""
    q = unit_rows(np.asarray(q, np.float64))
    k = unit_rows(np.asarray(k, np.float64))
    negatives = np.asarray(queue, np.float64) @ q.T  # (K, N)
    logits = negatives.T / tau  # (N, K)
    if extra is not None:
        logits = np.concatenate([logits, np.einsum("nsd,nd->ns", np.asarray(extra, np.float64), q) / tau], axis=1)
    positive = np.sum(q * k, axis=1) / tau
    if objective == "infonce":
        logits = np.concatenate([positive[:, None], logits], axis=1)
    top = logits.max(axis=1, keepdims=True)
    log_denominator = top[:, 0] + np.log(np.exp(logits - top).sum(axis=1))
    return -positive + log_denominator


def reference(q, k, queue, tau, objective, extra=None):
    """The mean loss and d loss / d q, float64. The gradient is central differences of the float64
    loss (step 1e-6, error ~1e-9), so it shares no derivation with the code under test. Query i's
    loss depends on row i of q only, so one perturbed column gives that column for every row."""
    q = np.asarray(q, np.float64)
    n, d = q.shape
    value = reference_row_losses(q, k, queue, tau, objective, extra).mean()
    grad = np.zeros_like(q)
    h = 1e-6
    for j in range(d):
        step = np.zeros_like(q)
        step[:, j] = h
        plus = reference_row_losses(q + step, k, queue, tau, objective, extra)
        minus = reference_row_losses(q - step, k, queue, tau, objective, extra)
        grad[:, j] = (plus - minus) / (2 * h) / n
    return value, grad


FUNCTIONS = {"infonce": losses.infonce_queue, "dcl": losses.dcl_queue}


def problem(n, d, size, s, seed):
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((n, d))
    k = q + 0.5 * rng.standard_normal((n, d))
    queue = unit_rows(rng.standard_normal((size, d)))
    extra = unit_rows(rng.standard_normal((n, s, d))) if s else None
    return q, k, queue, extra


@pytest.mark.parametrize("objective", ["infonce", "dcl"])
@pytest.mark.parametrize(
    "n,d,size,s,tau",
    [(1, 1, 1, 0, 0.5), (2, 3, 5, 0, 0.2), (8, 16, 64, 0, 0.07), (16, 8, 256, 0, 1.0), (4, 16, 32, 3, 0.2),
     (5, 6, 17, 8, 0.1)],
)
def test_loss_and_gradient_match_float64_reference(objective, n, d, size, s, tau):
    q, k, queue, extra = problem(n, d, size, s, seed=n * 1000 + d * 10 + s)
    value, grad = FUNCTIONS[objective](q, k, queue, temperature=tau, extra_negatives=extra)
    ref_value, ref_grad = reference(q, k, queue, tau, objective, extra)
    # float32 GEMM and exp inside, float64 sums: the loss agrees to ~1e-6 relative.
    assert value == pytest.approx(ref_value, rel=1e-5, abs=1e-5)
    assert grad.dtype == np.float32 and grad.shape == q.shape
    # Gradients agree to ~1e-6 relative to their scale (float32 arithmetic, scaled by 1/τ).
    scale = max(np.abs(ref_grad).max(), 1e-3)
    np.testing.assert_allclose(grad, ref_grad, atol=2e-5 * scale + 1e-6, rtol=1e-4)


@pytest.mark.parametrize("objective", ["infonce", "dcl"])
def test_extra_negatives_act_like_a_longer_queue_for_one_query(objective):
    q, k, queue, extra = problem(1, 8, 20, 5, seed=3)
    with_extra = FUNCTIONS[objective](q, k, queue, extra_negatives=extra)
    longer = FUNCTIONS[objective](q, k, np.concatenate([queue, extra[0]]))
    assert with_extra[0] == pytest.approx(longer[0], rel=1e-6)
    np.testing.assert_allclose(with_extra[1], longer[1], rtol=1e-4, atol=1e-6)


def test_dcl_queue_is_below_infonce_queue():
    q, k, queue, _ = problem(6, 8, 32, 0, seed=4)
    assert losses.dcl_queue(q, k, queue)[0] < losses.infonce_queue(q, k, queue)[0]


def test_default_temperature_is_moco_v2s():
    q, k, queue, _ = problem(3, 4, 8, 0, seed=5)
    assert losses.infonce_queue(q, k, queue)[0] == pytest.approx(reference(q, k, queue, 0.2, "infonce")[0], rel=1e-5)


# ---- MoCHi ------------------------------------------------------------------------------------


def mochi_problem(n=6, d=8, size=200, seed=0):
    rng = np.random.default_rng(seed)
    return 2.5 * rng.standard_normal((n, d)), unit_rows(rng.standard_normal((size, d)))


def test_mochi_outputs_are_unit_vectors_of_the_documented_shapes():
    q, queue = mochi_problem()
    mixed, query_mixed = losses.mochi_negatives(q, queue, n_hard=16, s=5, s_prime=7)
    assert mixed.shape == (6, 5, 8) and query_mixed.shape == (6, 7, 8)
    assert mixed.dtype == np.float32 and query_mixed.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(mixed, axis=2), 1, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(query_mixed, axis=2), 1, atol=1e-5)
    none, only = losses.mochi_negatives(q, queue, n_hard=4, s=0, s_prime=2)
    assert none.shape == (6, 0, 8) and only.shape == (6, 2, 8)


def test_mochi_mixes_follow_the_papers_definitions():
    """With n_hard = 2 every pair mix is α n_a + (1-α) n_b (normalised) over the two most similar
    queue rows with α in [0, 1], and every query mix is β u + (1-β) n_j with n_j one of them and
    β in [0, 0.5): solved here by least squares on the 2-vector span."""
    q, queue = mochi_problem(n=5, d=12, size=50, seed=1)
    u = unit_rows(q)
    mixed, query_mixed = losses.mochi_negatives(q, queue, n_hard=2, s=6, s_prime=6, seed=3)
    for i in range(len(q)):
        hardest = np.argsort(-(queue @ u[i]))[:2]
        basis = queue[hardest].T  # (D, 2)
        for h in mixed[i]:
            coef, residual, *_ = np.linalg.lstsq(basis, h, rcond=None)
            assert np.abs(basis @ coef - h).max() < 1e-5
            assert (coef >= -1e-5).all()
        for h in query_mixed[i]:
            fits = []
            for j in hardest:
                basis = np.stack([u[i], queue[j]], axis=1)
                coef = np.linalg.lstsq(basis, h, rcond=None)[0]
                if np.abs(basis @ coef - h).max() < 1e-5:
                    fits.append(coef[0] / coef.sum())
            assert fits and all(-1e-5 <= beta < 0.5 for beta in fits)


def test_mochi_negatives_are_harder_than_the_queue():
    """On average q·h is higher for the synthetic negatives than for the queue rows; and query mixes
    keep q·h' < sqrt((1 + c)/2), the similarity of the bisector of q and n_j (β = 1/2), c = q·n_j."""
    q, queue = mochi_problem(n=8, d=8, size=256, seed=2)
    u = unit_rows(q)
    mixed, query_mixed = losses.mochi_negatives(q, queue, n_hard=16, s=32, s_prime=32)
    sims = u @ queue.T
    assert np.einsum("nsd,nd->ns", mixed, u).mean() > sims.mean() + 0.3
    query_sims = np.einsum("nsd,nd->ns", query_mixed, u)
    assert (query_sims <= np.sqrt((1 + sims.max(axis=1, keepdims=True)) / 2) + 1e-5).all()
    assert (query_sims >= np.sort(sims, axis=1)[:, -16][:, None] - 1e-5).all()


def test_mochi_draws_depend_on_the_seed_not_the_thread_count():
    q, queue = mochi_problem(seed=3)
    saved = dclkit.get_num_threads()
    try:
        dclkit.set_num_threads(1)
        one = losses.mochi_negatives(q, queue, 16, 8, 8, seed=7)
        dclkit.set_num_threads(2)
        two = losses.mochi_negatives(q, queue, 16, 8, 8, seed=7)
    finally:
        dclkit.set_num_threads(saved)
    np.testing.assert_array_equal(one[0], two[0])
    np.testing.assert_array_equal(one[1], two[1])
    other = losses.mochi_negatives(q, queue, 16, 8, 8, seed=8)
    assert not np.array_equal(one[0], other[0])


# ---- Bad inputs ----------------------------------------------------------------------------------

GOOD_Q = np.ones((2, 3))
GOOD_QUEUE = np.eye(3)


@pytest.mark.parametrize(
    "args,kwargs,error,fragment",
    [
        ((np.ones((2, 3)), np.ones((2, 4)), GOOD_QUEUE), {}, ValueError, "same shape"),
        ((GOOD_Q, GOOD_Q, np.eye(4)), {}, ValueError, "D = 3"),
        ((GOOD_Q, GOOD_Q, 2 * GOOD_QUEUE), {}, ValueError, "queue row 0 has norm"),
        ((GOOD_Q, GOOD_Q, np.zeros((2, 3))), {}, ValueError, "queue row 0"),
        ((np.array([[np.nan, 1, 1], [1, 1, 1]]), GOOD_Q, GOOD_QUEUE), {}, ValueError, "q contains NaN"),
        ((GOOD_Q, np.array([[np.inf, 1, 1], [1, 1, 1]]), GOOD_QUEUE), {}, ValueError, "k contains NaN"),
        ((GOOD_Q, GOOD_Q, np.array([[np.nan, 0, 0]])), {}, ValueError, "queue contains NaN"),
        ((GOOD_Q, GOOD_Q, np.ones(3)), {}, ValueError, "queue must have 2 dimensions"),
        ((GOOD_Q, GOOD_Q, np.ones((0, 3))), {}, ValueError, "queue is empty"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"temperature": 0.0}, ValueError, "temperature"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"temperature": float("nan")}, ValueError, "temperature"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"temperature": "warm"}, TypeError, "temperature"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"extra_negatives": np.ones((2, 3))}, ValueError, "extra_negatives"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"extra_negatives": np.ones((3, 1, 3)) / np.sqrt(3)}, ValueError, "(N, S, D)"),
        ((GOOD_Q, GOOD_Q, GOOD_QUEUE), {"extra_negatives": np.ones((2, 1, 3))}, ValueError, "extra_negatives row 0"),
    ],
)
@pytest.mark.parametrize("function", [losses.infonce_queue, losses.dcl_queue])
def test_queue_loss_bad_inputs_raise_named_errors(function, args, kwargs, error, fragment):
    with pytest.raises(error, match=fragment.replace("(", r"\(").replace(")", r"\)")) as caught:
        function(*args, **kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


@pytest.mark.parametrize(
    "args,kwargs,error,fragment",
    [
        ((GOOD_Q, GOOD_QUEUE, 4, 1, 1), {}, ValueError, "n_hard must be at most the queue size K = 3"),
        ((GOOD_Q, GOOD_QUEUE, 0, 1, 1), {}, ValueError, "n_hard must be at least 1"),
        ((GOOD_Q, GOOD_QUEUE, 2, -1, 1), {}, ValueError, "s must be at least 0"),
        ((GOOD_Q, GOOD_QUEUE, 2, 1, -3), {}, ValueError, "s_prime must be at least 0"),
        ((GOOD_Q, GOOD_QUEUE, 2.0, 1, 1), {}, TypeError, "n_hard must be an int"),
        ((GOOD_Q, GOOD_QUEUE, 2, 1, 1), {"seed": -1}, ValueError, "seed"),
        ((GOOD_Q, GOOD_QUEUE, 2, 1, 1), {"seed": 2**64}, ValueError, "seed"),
        ((GOOD_Q, np.eye(4), 2, 1, 1), {}, ValueError, "D = 3"),
        ((GOOD_Q, 3 * GOOD_QUEUE, 2, 1, 1), {}, ValueError, "queue row 0 has norm"),
        ((np.array([[1, np.nan, 0]]), GOOD_QUEUE, 2, 1, 1), {}, ValueError, "q contains NaN"),
    ],
)
def test_mochi_bad_inputs_raise_named_errors(args, kwargs, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        losses.mochi_negatives(*args, **kwargs)
    assert isinstance(caught.value, dclkit.DCLError)


def test_native_checks_hold_without_the_python_checks(run_isolated):
    """The C ABI validates on its own: null pointers, bad codes and sizes give status codes."""
    code, out, err = run_isolated(
        """
        import ctypes
        import dclkit
        from dclkit._bindings import DCL_QUEUE_LOSS_DCL as DCL, DCL_QUEUE_LOSS_INFONCE as INFONCE
        from dclkit._native import functions, lib
        loss_fn = functions["dcl_queue_loss"]
        mochi = functions["dcl_mochi_negatives"]
        buf = (ctypes.c_float * 16)(*([1.0] + [0.0] * 15))
        loss = ctypes.c_double()
        def show(status):
            print(status, lib.dcl_last_error().decode() if status else "")
        show(loss_fn(INFONCE, None, buf, 1, 1, buf, 1, None, 0, 0.2, ctypes.byref(loss), buf))
        show(loss_fn(7, buf, buf, 1, 1, buf, 1, None, 0, 0.2, ctypes.byref(loss), buf))
        show(loss_fn(INFONCE, buf, buf, 1, 1, buf, 1, None, 2, 0.2, ctypes.byref(loss), buf))
        show(loss_fn(DCL, buf, buf, 1, 1, buf, 0, None, 0, 0.2, ctypes.byref(loss), buf))
        show(loss_fn(DCL, buf, buf, 1 << 40, 1, buf, 1, None, 0, 0.2, ctypes.byref(loss), buf))
        show(loss_fn(DCL, buf, buf, 1, 1, buf, 1, None, 0, -1.0, ctypes.byref(loss), buf))
        show(mochi(buf, 1, 1, buf, 1, 2, 1, 1, 0, buf, buf))
        show(mochi(buf, 1, 1, buf, 1, 1, 1, 0, 0, None, None))
        show(mochi(buf, 1, 1, buf, 1, 1, -1, 0, 0, buf, buf))
        show(mochi(buf, 1, 1, buf, 1, 1, 0, 0, 0, None, None))
        """
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [int(line.split()[0]) for line in lines] == [DCL_INVALID_ARGUMENT] * 9 + [DCL_OK]
    assert "q is a null pointer" in lines[0]
    assert "objective" in lines[1]
    assert "extra_negatives is a null pointer" in lines[2]
    assert "K (rows of queue)" in lines[3]
    assert "too large" in lines[4]
    assert "temperature" in lines[5]
    assert "n_hard must be at most" in lines[6]
    assert "mixed is a null pointer" in lines[7]
    assert "s must be at least 0" in lines[8]

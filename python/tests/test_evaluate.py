"""kNN and the linear probe against independent references (numpy float64, scikit-learn),
and their bad inputs."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

import dclkit
from dclkit import evaluate
from dclkit._bindings import DCL_INVALID_ARGUMENT


def knn_reference(xtr, ytr, xte, k, tau, classes):
    """Weighted kNN from InstDisc's definition, float64: cosine similarity, the k most similar
    training rows (ties to the lower index), weight exp(s/τ), class score = sum of weights,
    arg-max (ties to the lower class)."""
    a = xtr.astype(np.float64)
    b = xte.astype(np.float64)
    a /= np.linalg.norm(a, axis=1, keepdims=True)
    b /= np.linalg.norm(b, axis=1, keepdims=True)
    sims = b @ a.T
    k = min(k, a.shape[0])
    top = np.argsort(-sims, axis=1, kind="stable")[:, :k]
    scores = np.zeros((b.shape[0], classes))
    for q in range(b.shape[0]):
        np.add.at(scores[q], ytr[top[q]], np.exp(sims[q, top[q]] / tau))
    return scores.argmax(axis=1)


def blobs(rng, n, m, d, classes, separation):
    """Gaussian classes around shared random centres: n training and m test rows (float32) with labels."""
    centres = separation * rng.standard_normal((classes, d))

    def draw(count):
        labels = rng.integers(0, classes, count)
        return (centres[labels] + rng.standard_normal((count, d))).astype(np.float32), labels

    return (*draw(n), *draw(m))


@pytest.mark.parametrize(
    "n,m,d,classes,k,tau",
    [(500, 200, 16, 5, 200, 0.1), (300, 150, 8, 3, 1, 0.1), (200, 100, 32, 10, 20, 0.07),
     (50, 80, 4, 4, 200, 0.5), (1000, 300, 64, 10, 200, 0.1)],
)
def test_knn_matches_float64_reference(n, m, d, classes, k, tau):
    rng = np.random.default_rng(n + d + k)
    xtr, ytr, xte, yte = blobs(rng, n, m, d, classes, 0.5)
    top1, predictions = evaluate.knn(xtr, ytr, xte, yte, k=k, temperature=tau, return_predictions=True)
    expected = knn_reference(xtr, ytr, xte, k, tau, classes)
    np.testing.assert_array_equal(predictions, expected)
    assert top1 == (expected == yte).mean()
    assert evaluate.knn(xtr, ytr, xte, yte, k=k, temperature=tau) == top1


def test_knn_default_arguments_are_k200_tau01():
    rng = np.random.default_rng(7)
    xtr, ytr, xte, yte = blobs(rng, 600, 100, 12, 6, 0.4)
    _, predictions = evaluate.knn(xtr, ytr, xte, yte, return_predictions=True)
    np.testing.assert_array_equal(predictions, knn_reference(xtr, ytr, xte, 200, 0.1, 6))


def test_knn_accepts_float64_lists_and_any_integer_labels():
    rng = np.random.default_rng(3)
    xtr, ytr, xte, yte = blobs(rng, 100, 40, 5, 3, 1.0)
    base = evaluate.knn(xtr, ytr, xte, yte, k=10)
    assert evaluate.knn(xtr.astype(np.float64).tolist(), ytr.astype(np.uint8), xte.astype(np.float64),
                        yte.astype(np.int32).tolist(), k=10) == base
    assert 0.0 <= base <= 1.0


def test_linear_probe_separates_separable_data():
    rng = np.random.default_rng(0)
    xtr, ytr, xte, yte = blobs(rng, 1000, 500, 20, 5, 3.0)
    assert evaluate.linear_probe(xtr, ytr, xte, yte) >= 0.95


@pytest.mark.parametrize("l2", [1e-4, 1e-2])
def test_linear_probe_agrees_with_scikit_learn(l2):
    """Same objective as LogisticRegression(C = 1/(l2·N)) on the same standardised features:
    both converge to the same unique optimum, so predictions agree except, at most, for test
    points within rounding of a decision boundary."""
    rng = np.random.default_rng(1)
    n, m = 1500, 600
    xtr, ytr, xte, yte = blobs(rng, n, m, 24, 6, 0.35)
    xtr[:, 3] *= 50.0  # unequal feature scales: standardisation matters
    xte[:, 3] *= 50.0
    top1, predictions = evaluate.linear_probe(xtr, ytr, xte, yte, l2=l2, return_predictions=True)
    scaler = StandardScaler().fit(xtr.astype(np.float64))
    reference = LogisticRegression(C=1.0 / (l2 * n), tol=1e-10, max_iter=10_000)
    reference.fit(scaler.transform(xtr.astype(np.float64)), ytr)
    expected = reference.predict(scaler.transform(xte.astype(np.float64)))
    assert 0.5 < top1 < 0.99  # a non-trivial, non-separable problem
    assert (predictions == expected).mean() >= 0.995
    assert top1 == pytest.approx((expected == yte).mean(), abs=0.005)


def test_linear_probe_warns_when_max_iter_runs_out():
    rng = np.random.default_rng(2)
    xtr, ytr, _, _ = blobs(rng, 300, 1, 10, 4, 0.5)
    with pytest.warns(RuntimeWarning, match="max_iter=1"):
        top1 = evaluate.linear_probe(xtr, ytr, xtr, ytr, max_iter=1)
    assert 0.0 <= top1 <= 1.0


def test_class_seen_only_in_test_set_counts_as_a_miss():
    xtr = np.array([[1.0, 0.0], [0.0, 1.0]])
    xte = np.array([[1.0, 0.1], [0.1, 1.0]])
    assert evaluate.knn(xtr, [0, 1], xte, [0, 2], k=1) == 0.5
    assert evaluate.linear_probe(xtr, [0, 1], xte, [0, 2]) == 0.5


GOOD = dict(train_feats=np.eye(3), train_labels=[0, 1, 2], test_feats=np.eye(3), test_labels=[0, 1, 2])


@pytest.mark.parametrize(
    "change,error,fragment",
    [
        ({"train_feats": np.array([[np.nan, 0, 0], [0, 1, 0], [0, 0, 1]])}, ValueError, "train_feats"),
        ({"test_feats": np.array([[np.inf, 0, 0], [0, 1, 0], [0, 0, 1]])}, ValueError, "test_feats"),
        ({"test_feats": np.eye(3, 4)}, ValueError, "same number of columns"),
        ({"train_feats": np.ones(3)}, ValueError, "dimensions"),
        ({"train_feats": np.ones((0, 3)), "train_labels": []}, ValueError, "empty"),
        ({"train_labels": [0, 1]}, ValueError, "2 labels for 3"),
        ({"test_labels": [0, -1, 2]}, ValueError, "test_labels"),
        ({"train_labels": [0, 1, 2**40]}, ValueError, "train_labels"),
        ({"train_labels": [0.0, 1.0, 2.0]}, TypeError, "integers"),
        ({"train_labels": [True, False, True]}, TypeError, "integers"),
        ({"train_labels": [[0], [1], [2]]}, ValueError, "1 dimension"),
        ({"train_feats": [["a", "b", "c"]] * 3}, TypeError, "train_feats"),
        ({"k": 0}, ValueError, "k"),
        ({"k": 2.5}, TypeError, "k"),
        ({"temperature": 0.0}, ValueError, "temperature"),
        ({"temperature": float("nan")}, ValueError, "temperature"),
    ],
)
def test_knn_bad_inputs_raise_named_errors(change, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        evaluate.knn(**{**GOOD, **change})
    assert isinstance(caught.value, dclkit.DCLError)


@pytest.mark.parametrize(
    "change,error,fragment",
    [
        ({"l2": 0.0}, ValueError, "l2"),
        ({"l2": -1.0}, ValueError, "l2"),
        ({"l2": "strong"}, TypeError, "l2"),
        ({"max_iter": 0}, ValueError, "max_iter"),
        ({"max_iter": 10.0}, TypeError, "max_iter"),
        ({"test_labels": [0, 1]}, ValueError, "test_labels"),
        ({"train_feats": np.full((3, 3), np.nan)}, ValueError, "train_feats"),
    ],
)
def test_linear_probe_bad_inputs_raise_named_errors(change, error, fragment):
    with pytest.raises(error, match=fragment) as caught:
        evaluate.linear_probe(**{**GOOD, **change})
    assert isinstance(caught.value, dclkit.DCLError)


def test_native_checks_hold_without_the_python_checks(run_isolated):
    """The C ABI validates on its own: null pointers, labels out of range, bad sizes and
    numbers give status codes and named messages, not crashes."""
    code, out, err = run_isolated(
        """
        import ctypes
        import numpy as np
        import dclkit
        from dclkit import evaluate
        F = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        I = lambda a: a.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))
        x = np.eye(3, dtype=np.float32)
        y = np.arange(3, dtype=np.int64)
        bad = np.array([0, 1, 3], dtype=np.int64)
        nan = x.copy(); nan[1, 1] = np.nan
        top1 = ctypes.c_double()
        r = ctypes.byref(top1)
        knn = lambda *a: (evaluate._knn(*a), dclkit._native.lib.dcl_last_error().decode())
        probe = lambda *a: (evaluate._linear_probe(*a), dclkit._native.lib.dcl_last_error().decode())
        cases = [
            knn(None, I(y), 3, F(x), I(y), 3, 3, 3, 5, 0.1, r, None),
            knn(F(x), I(y), 3, F(x), None, 3, 3, 3, 5, 0.1, r, None),
            knn(F(x), I(bad), 3, F(x), I(y), 3, 3, 3, 5, 0.1, r, None),
            knn(F(x), I(y), 3, F(x), I(y), 3, 3, 3, 0, 0.1, r, None),
            knn(F(x), I(y), 3, F(x), I(y), 3, 3, 3, 5, -0.1, r, None),
            knn(F(x), I(y), 0, F(x), I(y), 3, 3, 3, 5, 0.1, r, None),
            knn(F(x), I(y), 3, F(x), I(y), 3, 3, 0, 5, 0.1, r, None),
            knn(F(x), I(y), 2**62, F(x), I(y), 3, 2**10, 3, 5, 0.1, r, None),
            knn(F(nan), I(y), 3, F(x), I(y), 3, 3, 3, 5, 0.1, r, None),
            knn(F(x), I(y), 3, F(x), I(y), 3, 3, 3, 5, 0.1, None, None),
            probe(F(x), I(y), 3, F(x), I(y), 3, 3, 3, 0.0, 10, r, None, None, None),
            probe(F(x), I(y), 3, F(x), I(y), 3, 3, 3, 1e-3, 0, r, None, None, None),
            probe(F(x), I(y), 3, F(x), I(y), 3, 3, 2**21, 1e-3, 10, r, None, None, None),
        ]
        for status, message in cases:
            print(status, message)
        """
    )
    assert code == 0, err
    lines = out.strip().splitlines()
    assert [int(line.split()[0]) for line in lines] == [DCL_INVALID_ARGUMENT] * 13, out
    fragments = ["train_features is a null pointer", "test_labels is a null pointer", "train_labels[2] = 3",
                 "k must be at least 1", "temperature", "n_train must be at least 1", "classes must be at least 1",
                 "train_features is too large", "train_features has a non-finite value", "top1 is a null pointer",
                 "l2", "max_iter must be at least 1", "classes must be at most"]
    for line, fragment in zip(lines, fragments):
        assert fragment in line, (line, fragment)


def test_evaluate_is_exported_from_the_package():
    assert dclkit.evaluate is evaluate
    assert "evaluate" in dclkit.__all__

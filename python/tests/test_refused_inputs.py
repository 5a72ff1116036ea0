"""Silent wrong answers and foreign exceptions (issue 23, families 4 and 5)."""
from __future__ import annotations

import numpy as np
import pytest

import dclkit


def _features(seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(4, 16))
    y_train, y_test = rng.integers(0, 4, 200), rng.integers(0, 4, 60)
    x_train = centres[y_train] + 0.8 * rng.normal(size=(200, 16))
    x_test = centres[y_test] + 0.8 * rng.normal(size=(60, 16))
    return x_train.astype(np.float32), y_train, x_test.astype(np.float32), y_test


@pytest.mark.parametrize("scale", [1e-38, 1e-30, 1e-20, 1e20, 1e30])
def test_knn_predictions_do_not_depend_on_the_features_scale(scale):
    """A cosine kNN sees only directions: features times 1e-38 (their squares underflow float32,
    and the old norm floor of 1e-12 flattened every similarity to 0) vote as the features."""
    x_train, y_train, x_test, y_test = _features()
    reference = dclkit.evaluate.knn(x_train, y_train, x_test, y_test, k=20, return_predictions=True)
    scaled = dclkit.evaluate.knn(x_train * np.float32(scale), y_train, x_test * np.float32(scale), y_test, k=20,
                                 return_predictions=True)
    assert scaled[0] == reference[0]
    assert np.array_equal(scaled[1], reference[1])


def test_knn_with_a_subnormal_temperature_is_the_nearest_neighbour_vote():
    """τ = 5e-324 makes 1/τ infinite: the vote is the limit τ → 0 (the nearest row decides),
    the same predictions as k = 1, not NaN scores that always pick class 0."""
    x_train, y_train, x_test, y_test = _features(1)
    nearest = dclkit.evaluate.knn(x_train, y_train, x_test, y_test, k=1, return_predictions=True)[1]
    tiny = dclkit.evaluate.knn(x_train, y_train, x_test, y_test, k=50, temperature=5e-324, return_predictions=True)[1]
    assert np.array_equal(tiny, nearest)


def test_thread_counts_beyond_the_machines_limit_are_refused():
    """set_num_threads(1024) used to pass and make every later fit fail with an out-of-memory
    message (each OpenBLAS thread's 128 MiB buffer is counted). The core refuses above its
    documented limit (4 x cores, at most 256) and the count stays as it was."""
    limit = dclkit.native_info()["max_threads"]
    import os

    assert limit == min(256, 4 * (os.cpu_count() or 1))
    before = dclkit.get_num_threads()
    for bad in (limit + 1, 1024, 2**31 - 1):
        with pytest.raises(dclkit.DCLValueError, match=f"between 1 and {limit}"):
            dclkit.set_num_threads(bad)
        assert dclkit.get_num_threads() == before
    dclkit.set_num_threads(limit)
    try:
        assert dclkit.get_num_threads() == limit
    finally:
        dclkit.set_num_threads(before)


HUGE = 10**9


def _broadcast_images():
    return np.broadcast_to(np.zeros((1, 32, 32, 3), np.uint8), (HUGE, 32, 32, 3))


def _broadcast_floats(shape):
    return np.broadcast_to(np.zeros((1,) + shape[1:], np.float32), shape)


def test_broadcast_views_of_a_billion_rows_are_memory_errors_before_any_copy():
    """A broadcast view costs nothing, its contiguous copy 3 TB: the one array checker compares
    the copy's size with the machine's memory before converting, so every entry point raises
    DCLMemoryError (not numpy's MemoryError, not a swap storm)."""
    trainer = dclkit.Trainer(dclkit.TrainConfig(width=0.125, batch_size=8, image_size=32, epochs=1))
    encoder = dclkit.Encoder("resnet18", width=0.125)
    pipeline = dclkit.augment.SimCLR(size=32)
    features = _broadcast_floats((HUGE, 512))
    labels = np.broadcast_to(np.zeros(1, np.int64), (HUGE,))
    cases = {
        "Trainer.fit": lambda: trainer.fit(_broadcast_images(), epochs=1, progress=False),
        "Trainer.embed": lambda: trainer.embed(_broadcast_images()),
        "Encoder.forward": lambda: encoder.forward(_broadcast_floats((HUGE, 32, 32, 3))),
        "augment": lambda: pipeline(_broadcast_images()),
        "evaluate.knn": lambda: dclkit.evaluate.knn(features, labels, features[:2], labels[:2]),
        "losses.dcl": lambda: dclkit.losses.dcl(features, features),
    }
    for name, case in cases.items():
        with pytest.raises(dclkit.DCLMemoryError, match="exceeds|memory"):
            case()


def test_a_view_just_beyond_the_available_memory_is_refused_and_one_within_is_not_checked_away():
    """The bound is the memory available now (Linux's MemAvailable), not a fixed size: a view
    whose copy exceeds it by 1% is refused; a small view is converted as before."""
    from dclkit._arrays import available_memory, require_memory

    available = available_memory()
    assert available > 0
    rows = int(available * 1.01) // (8 * 8 * 3) + 1
    view = np.broadcast_to(np.zeros((1, 8, 8, 3), np.uint8), (rows, 8, 8, 3))
    with pytest.raises(dclkit.DCLMemoryError, match="exceeds the memory available"):
        require_memory(view, "images", 1)
    with pytest.raises(dclkit.DCLMemoryError):
        dclkit.augment.SimCLR(size=8)(view)
    require_memory(view[:10], "images", 1)

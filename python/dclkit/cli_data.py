"""The ``--data`` argument of the command line: one string names a data set."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from . import datasets
from ._native import DCLError, DCLIOError, DCLStateError, DCLValueError

DATA_HELP = ("builtin | builtin:digits | cifar10:DIR | cifar100:DIR | stl10:DIR (the binary version: pretrains on "
             "its unlabelled split, memory-mapped) | folder:DIR[:SIZE] | FILE.npz (npz with x_train, y_train, x_test, "
             "y_test) | DATA.npy[:TEST.npy] (written by pack; memory-mapped)")


def load_data(spec: str, train_limit: int = 0, test_limit: int = 0) -> datasets.Dataset:
    """The data set named by ``spec`` (see ``DATA_HELP``), cut to its first ``train_limit``
    training and ``test_limit`` test images when those are positive."""
    data = _read(spec)
    if train_limit > 0:
        data = data._replace(x_train=data.x_train[:train_limit], y_train=data.y_train[:train_limit])
    if test_limit > 0:
        data = data._replace(x_test=data.x_test[:test_limit], y_test=data.y_test[:test_limit])
    return data


def _read(spec: str) -> datasets.Dataset:
    kind, _, rest = spec.partition(":")
    if kind == "builtin":
        return datasets.builtin(rest or datasets.BUILTIN_NAMES[0])
    if kind == "cifar10" and rest:
        return datasets.cifar10(rest)
    if kind == "cifar100" and rest:
        return datasets.cifar100(rest)
    if kind == "stl10" and rest:
        return datasets.stl10(rest)
    if kind == "folder" and rest:
        root, _, size = rest.partition(":")
        if size and not size.isdigit():
            raise DCLValueError(f"the SIZE of --data folder:DIR:SIZE must be a positive int, got {size!r}")
        return datasets.image_folder(root, size=int(size) if size else 32, test_fraction=0.2)
    if spec.endswith(".npz"):
        return datasets.load_npz(Path(spec))
    train, colon, test = spec.partition(".npy:")
    if spec.endswith(".npy") or (colon and test.endswith(".npy")):
        return datasets.load_packed(train + ".npy" if colon else train, test if colon else None)
    raise DCLValueError(f"cannot read --data {spec!r}; expected {DATA_HELP}")


def pretraining_images(spec: str, data: datasets.Dataset, progress: bool = True, comm: Any = None) -> NDArray[np.uint8]:
    """The images ``train`` pretrains on for ``--data spec``: STL-10's 100,000 unlabelled images
    for ``stl10:DIR`` (converted once into a memory-mapped cache beside them,
    :func:`dclkit.datasets.stl10_unlabeled`), else ``data.x_train``. Under ``mpirun`` (``comm``,
    an mpi4py communicator) rank 0 converts first and the other ranks then map its cache."""
    kind, _, rest = spec.partition(":")
    if not (kind == "stl10" and rest):
        return data.x_train
    if comm is None:
        return datasets.stl10_unlabeled(rest, progress=progress)
    images, failure = None, None
    if comm.Get_rank() == 0:
        try:
            images = datasets.stl10_unlabeled(rest, progress=progress)
        except DCLError as error:
            failure = str(error)
    failure = comm.bcast(failure, root=0)
    if failure is not None:
        raise DCLStateError(f"rank 0 could not prepare the STL-10 cache: {failure}")
    return images if images is not None else datasets.stl10_unlabeled(rest, progress=False)


def output_folder(path: str) -> Path:
    """The folder ``--out`` names, created when missing; ``DCLIOError`` when it is a file or
    cannot be created."""
    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise DCLIOError(f"--out {path} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise DCLIOError(f"cannot create the --out folder {path} ({error.strerror or error})") from None
    return folder


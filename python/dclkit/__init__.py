"""dclkit: contrastive self-supervised learning (SimCLR, MoCo v2, MoCHi, DCL/DCLW) with a
Swift compute core on the CPU, driven from Python with numpy arrays."""
from __future__ import annotations

import json
import os

import numpy as np

from . import augment, datasets, diagnostics, distributed, evaluate, losses, packed, plot, tensorboard
from ._native import (
    DCLCommError,
    DCLError,
    DCLFileNotFoundError,
    DCLFormatError,
    DCLImportError,
    DCLIOError,
    DCLMemoryError,
    DCLStateError,
    DCLTypeError,
    DCLValueError,
    call,
    functions,
    lib,
    text_output,
)
from .config import TrainConfig
from .encoder import Encoder
from .packed import pack
from .sweep import sweep
from .trainer import Trainer

__all__ = [
    "__version__", "native_info", "set_num_threads", "get_num_threads",
    "DCLError", "DCLValueError", "DCLTypeError", "DCLIOError", "DCLFormatError", "DCLStateError", "DCLMemoryError",
    "DCLCommError", "DCLImportError",
    "DCLFileNotFoundError",
    "losses", "distributed", "augment", "datasets", "diagnostics", "evaluate", "plot", "TrainConfig", "Encoder", "Trainer",
    "sweep", "packed", "pack", "tensorboard",
]

__version__: str = functions["dcl_version"]().decode()

_native_info = functions["dcl_native_info"]
_set_num_threads = functions["dcl_set_num_threads"]
_get_num_threads = functions["dcl_get_num_threads"]


def native_info() -> dict:
    """Facts about the native library: ``version``, ``swift``, ``blas``, ``blas_config``,
    ``blas_core`` (the kernel family OpenBLAS runs), ``blas_core_detected`` (the one it picked
    itself when it loaded: on a CPU newer than the library its generic "Prescott", or AVX2 kernels
    on an AVX-512 CPU, which dclkit replaces by the family the CPU's features allow unless
    ``OPENBLAS_CORETYPE`` is set), ``num_threads``, ``cpu_features`` (the CPU's SIMD features
    among "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512_bf16") and
    ``simd`` (the level dclkit's own kernels run at: "avx512", "avx2+fma" or "baseline";
    ``DCLKIT_SIMD=baseline`` or ``avx2`` forces a lower one)."""
    info = json.loads(text_output(_native_info))
    info["library_path"] = lib._name
    return info


def set_num_threads(n: int) -> None:
    """Sets the threads used by the native library (OpenBLAS and its own parallel loops):
    1 <= n <= ``native_info()["max_threads"]`` (4 x the machine's online cores, at most 256; the
    core owns the limit). A larger n raises ``DCLValueError``: more threads than that only add
    OpenBLAS buffers (128 MiB each, counted by every memory check) and contention."""
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise DCLTypeError(f"n must be an int, got {type(n).__name__}")
    call(_set_num_threads, int(n))


def get_num_threads() -> int:
    """The number of threads the native library uses."""
    return int(_get_num_threads())


set_num_threads(max(1, min(os.cpu_count() or 1, native_info()["max_threads"])))

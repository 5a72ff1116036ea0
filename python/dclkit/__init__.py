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
    "__version__", "native_info", "set_num_threads", "get_num_threads", "set_matmul_precision", "get_matmul_precision",
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
_set_matmul_precision = functions["dcl_set_matmul_precision"]


def native_info() -> dict:
    """Facts about the native library: ``version``, ``swift``, ``blas``, ``blas_config``,
    ``blas_core`` (the kernel family OpenBLAS runs), ``blas_core_detected`` (the one it picked
    itself when it loaded: on a CPU newer than the library its generic "Prescott", or AVX2 kernels
    on an AVX-512 CPU, which dclkit replaces by the family the CPU's features allow unless
    ``OPENBLAS_CORETYPE`` is set), ``num_threads``, ``cpu_features`` (the CPU's SIMD features
    among "avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq", "avx512_bf16") and
    ``simd`` (the level dclkit's own kernels run at: "avx512", "avx2+fma" or "baseline";
    ``DCLKIT_SIMD=baseline`` or ``avx2`` forces a lower one) and ``matmul_precision``
    (``set_matmul_precision``)."""
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


def set_matmul_precision(precision: str) -> None:
    """Sets the precision of the convolutions' large matrix products for the whole process:
    ``"float32"`` (the default) or ``"bfloat16"`` (issue 24's experiment, opt-in).

    Under ``"bfloat16"`` the Winograd point products of stride-1 3x3 layers with at least 32 input
    and output channels, forward and input gradient, round both operands to bfloat16 (8
    significant bits) and sum the exact products in float32; the weight gradients and every other
    product stay float32. On a CPU with AVX512_BF16 (``"avx512_bf16"`` in
    ``native_info()["cpu_features"]``, at the ``"avx512"`` SIMD level) this runs on VDPBF16PS at
    about twice float32's rate; elsewhere a portable loop computes the same sums bit for bit, many
    times slower. A layer reads the setting once per pass: set it between training steps. The
    setting shows in ``native_info()["matmul_precision"]``. Any other value raises ``DCLValueError``.

    Example::

        dclkit.set_matmul_precision("bfloat16")
        assert dclkit.get_matmul_precision() == "bfloat16"
    """
    if not isinstance(precision, str):
        raise DCLTypeError(f"precision must be a str, got {type(precision).__name__}")
    call(_set_matmul_precision, precision.encode())


def get_matmul_precision() -> str:
    """The precision set by ``set_matmul_precision``: ``"float32"`` or ``"bfloat16"``."""
    return str(native_info()["matmul_precision"])


set_num_threads(max(1, min(os.cpu_count() or 1, native_info()["max_threads"])))

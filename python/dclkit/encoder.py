"""The encoder: torchvision's ResNet trunk with an optional projection head, computed by the
Swift core.

``h`` are the pooled features of the trunk (torchvision's ``resnet18/34/50`` without ``fc``),
``z = g(h)`` the projections of the head. Images are float32 NHWC arrays ``(N, H, W, 3)``.
Every BatchNorm treats the whole input of one ``forward`` as one batch: feed both views of N
images as one batch of 2N to normalise them with shared statistics.

Weights use torchvision's names and layouts: without its ``head.`` entries, the state dict of
an ``imagenet``-stem encoder loads into ``torchvision.models.resnet18()`` (34, 50) with
``strict=False`` (only ``fc`` is missing), and that of a ``cifar``-stem encoder does once the
model's ``conv1`` is a 3x3 stride-1 convolution and its ``maxpool`` an ``Identity``.
"""
from __future__ import annotations

import ctypes
import json
import os
import threading
from collections.abc import Mapping
from typing import Any, Literal, Optional, overload

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._bindings import FLOAT_P
from ._native import DCLTypeError, DCLValueError, NativeObject, c_string, call, functions, text_output

__all__ = ["Encoder"]

_HANDLE = ctypes.c_void_p
_MAX_HEAD = 1 << 16

_create = functions["dcl_encoder_create"]
_free = functions["dcl_encoder_free"]
_describe = functions["dcl_encoder_describe"]
_forward = functions["dcl_encoder_forward"]
_backward = functions["dcl_encoder_backward"]
_zero_grad = functions["dcl_encoder_zero_grad"]
_get = functions["dcl_encoder_get"]
_load_state = functions["dcl_encoder_load_state"]
_save = functions["dcl_encoder_save"]
_load = functions["dcl_encoder_load"]


@overload
def _name(x: Any, name: str, optional: Literal[False] = False) -> str: ...
@overload
def _name(x: Any, name: str, optional: bool) -> Optional[str]: ...
def _name(x: Any, name: str, optional: bool = False) -> Optional[str]:
    if x is None and optional:
        return None
    if not isinstance(x, str):
        raise DCLTypeError(f"{name} must be a string{' or None' if optional else ''}, got {type(x).__name__}")
    return x




class Encoder(NativeObject):
    """A ResNet encoder with an optional projection head.

    ``copy.copy``, ``copy.deepcopy`` and ``pickle`` give an independent encoder with the same
    architecture, parameters and BatchNorm statistics (its state dict), not the accumulated
    gradients nor the last forward; a copy of a :class:`Trainer`'s ``encoder`` is a free-standing
    encoder, no longer tied to the trainer.

    Parameters
    ----------
    arch : {"resnet18", "resnet34", "resnet50"}
        The depth (basic blocks for 18/34, bottlenecks for 50), as torchvision.
    stem : {"cifar", "imagenet"}
        ``"cifar"``: 3x3 stride-1 first convolution, no max-pool (small images, H, W >= 8);
        ``"imagenet"``: 7x7 stride-2 convolution and 3x3 stride-2 max-pool (H, W >= 32).
    width : float
        Multiplier on every channel count, in (0, 16]; 1.0 is torchvision's widths.
        The feature dimension F is 512·width (2048·width for resnet50).
    head : {"simclr", "moco"} or None
        ``"simclr"``: Linear (no bias) -> BatchNorm1d -> ReLU -> Linear; ``"moco"``:
        Linear -> ReLU -> Linear; None: no head (``forward`` returns ``z = None``).
    head_dims : (int, int) or None
        (hidden, out) sizes of the head; default (F, 128).
    seed : int
        Keys every initial draw (torchvision's initialisation: Kaiming normal convolutions,
        BatchNorm weight 1 / bias 0, head Linear layers uniform in ±1/√fan_in).
    zero_init_residual : bool
        Start the last BatchNorm weight of every residual block at 0 (torchvision's option).

    Examples
    --------
    >>> enc = dclkit.Encoder("resnet18", stem="cifar", head="simclr")
    >>> h, z = enc.forward(np.random.rand(8, 32, 32, 3).astype(np.float32))   # (8, 512), (8, 128)
    >>> grad_x = enc.backward(grad_z=np.ones_like(z))
    >>> grads = enc.grads()                                                   # name -> array
    """

    def __init__(self, arch: str = "resnet18", stem: str = "cifar", width: float = 1.0,
                 head: Optional[str] = "simclr", head_dims: Optional[tuple] = None, seed: int = 0,
                 zero_init_residual: bool = False) -> None:
        arch = _name(arch, "arch")
        stem = _name(stem, "stem")
        head = _name(head, "head", optional=True)
        width = _arrays.positive_number(width, "width")
        hidden, out = 0, 128
        if head_dims is not None:
            if head is None:
                raise DCLValueError("head_dims needs a head (head is None)")
            if not isinstance(head_dims, (tuple, list)) or len(head_dims) != 2:
                raise DCLValueError(f"head_dims must be (hidden, out), got {head_dims!r}")
            hidden = _arrays.integer(head_dims[0], "head_dims[0] (hidden)", 1, _MAX_HEAD)
            out = _arrays.integer(head_dims[1], "head_dims[1] (out)", 1, _MAX_HEAD)
        seed = _arrays.integer(seed, "seed", 0, 2**64 - 1)
        if not isinstance(zero_init_residual, (bool, np.bool_)):
            raise DCLTypeError(f"zero_init_residual must be a bool, got {type(zero_init_residual).__name__}")
        handle = _HANDLE()
        call(_create, arch.encode(), stem.encode(), width, None if head is None else head.encode(),
             hidden, out, int(zero_init_residual), seed, ctypes.byref(handle))
        self._adopt(handle)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Encoder:
        """An encoder rebuilt from a safetensors file written by :meth:`save` (configuration from
        its metadata, weights and BatchNorm statistics from its tensors)."""
        handle = _HANDLE()
        call(_load, _arrays.path(path), ctypes.byref(handle))
        encoder = cls.__new__(cls)
        encoder._adopt(handle)
        return encoder

    @classmethod
    def _view(cls, handle: Any, lock: Any) -> Encoder:
        """The encoder behind ``handle`` (a view of a trainer's own encoder), guarded by the
        trainer's ``lock`` so that the two never run at the same time."""
        encoder = cls.__new__(cls)
        encoder._adopt(handle, lock)
        return encoder

    def _adopt(self, handle: Any, lock: Any = None) -> None:
        self._handle = handle
        self._lock = threading.Lock() if lock is None else lock
        self._last_shape: Optional[tuple] = None
        info = json.loads(text_output(_describe, handle))
        self.arch: str = info["arch"]
        self.stem: str = info["stem"]
        self.width: float = float(info["width"])
        self.head: Optional[str] = info["head"]
        self.head_dims: Optional[tuple] = None if self.head is None else (info["head_hidden"], info["head_out"])
        self.feature_dim: int = info["feature_dim"]
        self.projection_dim: Optional[int] = info["projection_dim"]
        self.min_side: int = info["min_side"]
        self._entries = [(e["name"], tuple(e["shape"]), e["trainable"]) for e in info["entries"]]

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            _free(handle)
            self._handle = None

    def _architecture(self) -> dict[str, Any]:
        """The constructor's arguments that rebuild this architecture."""
        return {"arch": self.arch, "stem": self.stem, "width": self.width, "head": self.head,
                "head_dims": self.head_dims}

    def _clone(self) -> Encoder:
        return _rebuild(*self._reduce()[1])

    def _reduce(self) -> tuple:
        return _rebuild, (self._architecture(), self.state_dict())

    def __repr__(self) -> str:
        return (f"Encoder(arch={self.arch!r}, stem={self.stem!r}, width={self.width}, head={self.head!r}, "
                f"head_dims={self.head_dims}, feature_dim={self.feature_dim})")

    def forward(self, x: ArrayLike, training: bool = True) -> tuple[NDArray[np.float32], Optional[NDArray[np.float32]]]:
        """Features and projections of a batch.

        Parameters
        ----------
        x : array_like, shape (N, H, W, 3)
            Images, NHWC, finite (converted to float32); H, W >= ``min_side``.
        training : bool
            True: BatchNorm uses the batch's statistics (at least 2 values per channel: N >= 2
            with the simclr head) and updates its running statistics; False: the running ones.

        Returns
        -------
        h : ndarray, float32, shape (N, F)
        z : ndarray, float32, shape (N, D), or None without a head
        """
        if not isinstance(training, (bool, np.bool_)):
            raise DCLTypeError(f"training must be a bool, got {type(training).__name__}")
        images = _arrays.float32_array(x, "x", ndim=4)
        n, height, width, channels = images.shape
        h = np.empty((n, self.feature_dim), np.float32)
        z = None if self.projection_dim is None else np.empty((n, self.projection_dim), np.float32)
        with self._lock:
            call(_forward, self._handle, _arrays.pointer(images), n, height, width, channels, int(training),
                 _arrays.pointer(h), None if z is None else _arrays.pointer(z))
            self._last_shape = images.shape
        return h, z

    def backward(self, grad_z: Optional[ArrayLike] = None, grad_h: Optional[ArrayLike] = None) -> NDArray[np.float32]:
        """Backward pass of the last :meth:`forward`: accumulates every parameter's gradient
        (read them with :meth:`grads`, clear them with :meth:`zero_grad`).

        Parameters
        ----------
        grad_z : array_like, shape (N, D), optional
            d loss / d z (needs a head).
        grad_h : array_like, shape (N, F), optional
            d loss / d h; added to the head's contribution when both are given.

        Returns
        -------
        grad_x : ndarray, float32, shape (N, H, W, 3)
            d loss / d x.
        """
        if grad_z is None and grad_h is None:
            raise DCLValueError("backward needs grad_z, grad_h or both")
        with self._lock:
            if self._last_shape is None:
                call(_backward, self._handle, None, None, 0, None)  # raises DCLStateError
            assert self._last_shape is not None
            n = self._last_shape[0]
            gz = None if grad_z is None else self._gradient(grad_z, "grad_z", (n, self.projection_dim))
            gh = None if grad_h is None else self._gradient(grad_h, "grad_h", (n, self.feature_dim))
            grad_x = _arrays.empty(self._last_shape, "grad_x")
            call(_backward, self._handle, None if gz is None else _arrays.pointer(gz),
                 None if gh is None else _arrays.pointer(gh), n, _arrays.pointer(grad_x))
        return grad_x

    def _gradient(self, g: ArrayLike, name: str, shape: tuple) -> NDArray[np.float32]:
        if shape[1] is None:
            raise DCLValueError(f"{name} is given but the encoder has no projection head")
        array = _arrays.float32_array(g, name, ndim=2)
        if array.shape != shape:
            raise DCLValueError(f"{name} must have shape {shape} (the last forward's batch), got {array.shape}")
        return array

    def zero_grad(self) -> None:
        """Sets every accumulated parameter gradient to zero."""
        with self._lock:
            call(_zero_grad, self._handle)

    def grads(self) -> dict[str, NDArray[np.float32]]:
        """The accumulated gradient of every parameter, name -> float32 array in PyTorch's layout."""
        return self._read(1)

    def state_dict(self) -> dict[str, NDArray[np.float32]]:
        """Every parameter and BatchNorm buffer in torchvision's order, names and layouts
        (``conv1.weight`` OIHW, ``layer1.0.bn1.running_mean``, ...; the head under ``head.``):
        float32 arrays, ``num_batches_tracked`` as int64 scalars (0-d) as in PyTorch."""
        state = self._read(0)
        for name in state:
            if name.endswith("num_batches_tracked"):
                state[name] = state[name].astype(np.int64)
        return state

    def _read(self, which: int) -> dict[str, NDArray[np.float32]]:
        out: dict[str, NDArray[np.float32]] = {}
        with self._lock:
            for name, shape, trainable in self._entries:
                if which == 1 and not trainable:
                    continue
                array = _arrays.empty(shape, name)
                call(_get, self._handle, name.encode(), which, _arrays.pointer(array), array.size)
                out[name] = array
        return out

    def load_state_dict(self, state: Mapping[str, ArrayLike]) -> None:
        """Loads a state dict with exactly the names and shapes of :meth:`state_dict` (values
        converted to float32, finite). Raises ``DCLValueError`` naming the missing, unexpected
        or misshapen entries; the encoder is then unchanged."""
        if not isinstance(state, Mapping):
            raise DCLTypeError(f"state must be a mapping of names to arrays, got {type(state).__name__}")
        names: list[bytes] = []
        arrays: list[NDArray[np.float32]] = []
        for name, value in state.items():
            if not isinstance(name, str):
                raise DCLTypeError(f"state dict keys must be strings, got {name!r}")
            names.append(c_string(name, "a state dict key"))
            # float32_array returns at least 1-D; keep 0-d entries (num_batches_tracked) 0-d.
            arrays.append(_arrays.float32_array(value, f"state[{name!r}]", finite=False).reshape(np.shape(value)))
        count = len(arrays)
        dims = [d for a in arrays for d in a.shape]
        with self._lock:
            call(_load_state, self._handle, count, (ctypes.c_char_p * count)(*names),
                 (FLOAT_P * count)(*[_arrays.pointer(a) for a in arrays]),
                 (ctypes.c_int64 * count)(*[a.ndim for a in arrays]), (ctypes.c_int64 * len(dims))(*dims))

    def save(self, path: str | os.PathLike) -> None:
        """Writes the state dict and the configuration to ``path`` in the safetensors format
        (float32 tensors, readable by the ``safetensors`` package), atomically."""
        with self._lock:
            call(_save, self._handle, _arrays.path(path))


def _rebuild(architecture: dict[str, Any], state: Mapping[str, Any]) -> Encoder:
    """An encoder of ``architecture`` holding ``state``: what a copy or an unpickling makes."""
    encoder = Encoder(**architecture)
    encoder.load_state_dict(state)
    return encoder

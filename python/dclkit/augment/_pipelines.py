"""The two-view pipelines (SimCLR, MoCo v2): a native pipeline handle behind a Python object."""
from __future__ import annotations

import ctypes
import json
import threading
from collections.abc import Sequence
from typing import Any, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from .. import _arrays, _bindings
from .._native import DCLStateError, DCLValueError, NativeObject, call, functions
from ..config import _jsonable
from . import _checks

__all__ = ["SimCLR", "MoCoV2", "TwoViewAugment", "NORMALIZATIONS"]

Normalize = Union[str, None, tuple[Sequence[float], Sequence[float]]]

_create = functions["dcl_augment_create_spec"]
_read_parameters = functions["dcl_augment_parameters"]
_free = functions["dcl_augment_free"]
_views = functions["dcl_augment_views"]
_views_uint8 = functions["dcl_augment_views_uint8"]

# The parameters of the native parameter array, each at dclkit.h's DCL_AUG_<KEY> (or DCL_AUG_<KEY>_MIN
# for a range).
_KEYS = ("size", "scale", "ratio", "flip", "jitter", "brightness", "contrast", "saturation", "hue", "grayscale",
         "blur", "sigma", "kernel_size", "solarize", "solarize_threshold", "mean", "std")
_COUNT = _bindings.DCL_AUGMENT_PARAMETER_COUNT


def _layout() -> tuple[tuple[str, int, int], ...]:
    """(key, start, end) of each parameter in the native array, in the array's order: it starts at
    its DCL_AUG_* offset and ends where the next starts (the last at DCL_AUGMENT_PARAMETER_COUNT)."""
    starts = []
    for key in _KEYS:
        name = f"DCL_AUG_{key.upper()}"
        start = getattr(_bindings, name) if hasattr(_bindings, name) else getattr(_bindings, f"{name}_MIN")
        starts.append((start, key))
    starts.sort()
    ends = [start for start, _ in starts[1:]] + [_COUNT]
    return tuple((key, start, end) for (start, key), end in zip(starts, ends))


_LAYOUT = _layout()


def _create_pipeline(size: Any, spec: dict[str, Any]) -> ctypes.c_void_p:
    """A native pipeline for views of ``size`` from a specification as a run's ``augment`` field
    takes it; the core fills the preset, applies every override and rule, and names a bad field."""
    text = json.dumps(_jsonable(spec, "augment"), allow_nan=False)
    handle = ctypes.c_void_p()
    call(_create, text.encode(), _checks.integer(size, "size", -2**63, 2**63 - 1), ctypes.byref(handle))
    return handle


def _parameters(handle: ctypes.c_void_p) -> dict[str, Any]:
    """The resolved parameters of a native pipeline, by name."""
    values = (ctypes.c_double * _COUNT)()
    call(_read_parameters, handle, values, _COUNT)
    parameters: dict[str, Any] = {}
    for key, start, end in _LAYOUT:
        chunk = tuple(values[start:end])
        parameters[key] = chunk if end - start > 1 else chunk[0]
    parameters["size"] = int(parameters["size"])
    parameters["kernel_size"] = None if parameters["kernel_size"] == 0 else int(parameters["kernel_size"])
    return parameters


def _named_statistics() -> dict[str, tuple[tuple[float, ...], tuple[float, ...]]]:
    statistics = {}
    for name in ("cifar10", "imagenet"):
        handle = _create_pipeline(1, {"pipeline": "mocov2", "normalize": name})
        preset = _parameters(handle)
        _free(handle)
        statistics[name] = (preset["mean"], preset["std"])
    return statistics


#: Per-channel (mean, std) of images scaled to [0, 1] by name, as the Swift core defines them.
NORMALIZATIONS = _named_statistics()


class TwoViewAugment(NativeObject):
    """Two augmented views of every image of a uint8 batch, from a native pipeline.

    Use :class:`SimCLR` or :class:`MoCoV2`: they start from the Swift core's recipe and take every
    parameter below as a keyword override (``normalize`` sets mean and std). ``TwoViewAugment(size,
    spec)`` takes a specification as :class:`dclkit.TrainConfig`'s ``augment`` dict. The core owns
    every default and rule; a bad value raises a ``DCLValueError`` / ``DCLTypeError`` naming it
    (as ``augment.<name>``).

    Parameters
    ----------
    size : int
        Output side: views are (size, size, 3).
    scale : (float, float)
        Range of the crop's area as a fraction of the image's, within (0, 1].
    ratio : (float, float)
        Range of the crop's aspect ratio width/height (sampled log-uniformly).
    flip, jitter, grayscale, blur, solarize : float
        Probabilities of the horizontal flip, the colour jitter, grayscale, the Gaussian blur
        and solarisation.
    brightness, contrast, saturation : float or (float, float)
        A number a gives factors in [max(0, 1 - a), 1 + a] (torchvision's convention); a pair is
        the factor range itself.
    hue : float or (float, float)
        A number a <= 0.5 gives shifts in [-a, a]; a pair within [-0.5, 0.5] is used as is.
    sigma : (float, float)
        Range of the blur's standard deviation in pixels.
    kernel_size : int or None
        Odd blur kernel size; None picks about 10% of ``size`` (3 for 32, 9 for 96, 23 for 224).
    solarize_threshold : float
        Levels at or above it are inverted when solarising.
    mean, std : (float, float, float)
        Per-channel statistics of images scaled to [0, 1], in :attr:`parameters` (set them with
        ``normalize``: "cifar10", "imagenet", None for 0 and 1, or a (mean, std) pair).

    Calling the object gives the views: ``v0, v1 = aug(images, seed=0, epoch=0)``. View v of
    image i depends only on (seed, epoch, index, v), index = ``indices[i]`` when given (dataset
    indices), else i; the result is the same whatever the thread count. Calls on one object are
    serialised by a lock.

    ``copy.copy``, ``copy.deepcopy`` and ``pickle`` give an independent pipeline of the same class
    built from the same specification (so the same views); a closed pipeline cannot be copied.
    """

    def __init__(self, size: int, spec: dict[str, Any]) -> None:
        self._handle: Optional[ctypes.c_void_p] = _create_pipeline(size, spec)
        self._parameters = _parameters(self._handle)
        self._lock = threading.Lock()
        self._recipe = (size, _jsonable(spec, "augment"))  # what copies and pickles rebuild

    def _clone(self) -> TwoViewAugment:
        return _rebuild(*self._reduce()[1])

    def _reduce(self) -> tuple:
        if self._handle is None:
            raise DCLStateError(f"the {type(self).__name__} pipeline has been closed; it cannot be copied or pickled")
        return _rebuild, (type(self), *self._recipe)

    @property
    def size(self) -> int:
        """Output side."""
        return self._parameters["size"]

    @property
    def parameters(self) -> dict[str, Any]:
        """The resolved parameters (ranges as (min, max) pairs, normalisation as mean and std)."""
        return dict(self._parameters)

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self._parameters.items())
        return f"{type(self).__name__}({shown})"

    def _run(self, function: Any, images: ArrayLike, seed: Any, epoch: Any, indices: Any, dtype: Any,
             ctype: Any) -> tuple[NDArray[Any], NDArray[Any]]:
        batch = _checks.image_batch(images)
        n, h, w, c = batch.shape
        seed, epoch = _checks.seed_value(seed, "seed"), _checks.seed_value(epoch, "epoch")
        rows = None
        if indices is not None:
            rows = np.asarray(indices)
            if rows.dtype.kind not in "iu" or rows.shape != (n,):
                raise DCLValueError(f"indices must be {n} integers (one per image), got shape {rows.shape} dtype {rows.dtype}")
            rows = np.ascontiguousarray(rows, dtype=np.int64)
        v0 = _arrays.empty((n, self.size, self.size, 3), "view0", dtype)
        v1 = _arrays.empty((n, self.size, self.size, 3), "view1", dtype)
        index_pointer = None if rows is None else _arrays.pointer(rows, ctypes.c_int64)
        with self._lock:
            if self._handle is None:
                raise DCLStateError("the pipeline has been closed")
            call(function, self._handle, _arrays.pointer(batch, ctypes.c_uint8), n, h, w, c, index_pointer,
                 seed, epoch, _arrays.pointer(v0, ctype), _arrays.pointer(v1, ctype))
        return v0, v1

    def __call__(self, images: ArrayLike, seed: int = 0, epoch: int = 0,
                 indices: Optional[ArrayLike] = None) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
        """Two normalised views of every image.

        Parameters
        ----------
        images : ndarray, uint8, shape (N, H, W, 3) or (N, H, W) (grayscale, replicated to RGB)
        seed, epoch : int
            Keys of the random stream, in [0, 2**64).
        indices : array_like of int, shape (N,), optional
            Each image's key (for example its dataset index); default 0..N-1.

        Returns
        -------
        view0, view1 : ndarray, float32, shape (N, size, size, 3)
        """
        return self._run(_views, images, seed, epoch, indices, np.float32, ctypes.c_float)

    def views_uint8(self, images: ArrayLike, seed: int = 0, epoch: int = 0,
                    indices: Optional[ArrayLike] = None) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
        """The same two views as ``__call__`` before normalisation, uint8 (N, size, size, 3), for looking at."""
        return self._run(_views_uint8, images, seed, epoch, indices, np.uint8, ctypes.c_uint8)

    def close(self) -> None:
        """Releases the native pipeline (also done when the object is collected)."""
        with self._lock:
            if self._handle is not None:
                _free(self._handle)
                self._handle = None

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None and _free is not None:  # module globals may be gone at shutdown
            _free(handle)
            self._handle = None


def _rebuild(cls: type[TwoViewAugment], size: Any, spec: dict[str, Any]) -> TwoViewAugment:
    """A pipeline of class ``cls`` from a size and a specification: what a copy or an unpickling makes."""
    pipeline = cls.__new__(cls)
    TwoViewAugment.__init__(pipeline, size, spec)
    return pipeline


class SimCLR(TwoViewAugment):
    """SimCLR's augmentation (Chen et al. 2020): random resized crop (scale 0.08-1), flip p=0.5,
    colour jitter p=0.8 with brightness, contrast, saturation 0.8·strength and hue 0.2·strength,
    grayscale p=0.2, Gaussian blur with probability ``blur`` (0.5 on ImageNet; the paper's CIFAR-10
    recipe has none: pass ``blur=0``), normalisation. Any parameter of :class:`TwoViewAugment` can
    be overridden by keyword.

    Examples
    --------
    >>> aug = dclkit.augment.SimCLR(size=32, strength=1.0, blur=0.5, normalize="cifar10")
    >>> v0, v1 = aug(images, seed=0, epoch=0)     # images uint8 (N, 32, 32, 3)
    """

    def __init__(self, size: int = 32, strength: float = 1.0, blur: float = 0.5, normalize: Normalize = "cifar10",
                 **overrides: Any) -> None:
        super().__init__(size, {"pipeline": "simclr", "strength": strength, "blur": blur, "normalize": normalize, **overrides})


class MoCoV2(TwoViewAugment):
    """MoCo v2's "aug+" (Chen, Fan, Girshick, He 2020): random resized crop (scale 0.2-1), colour
    jitter p=0.8 (0.4, 0.4, 0.4, 0.1), grayscale p=0.2, Gaussian blur p=0.5 (sigma 0.1-2), flip
    p=0.5, normalisation. Any parameter of :class:`TwoViewAugment` can be overridden by keyword.

    Examples
    --------
    >>> aug = dclkit.augment.MoCoV2(size=224, normalize="imagenet")
    >>> q, k = aug(images, seed=0, epoch=3)
    """

    def __init__(self, size: int = 224, normalize: Normalize = "imagenet", **overrides: Any) -> None:
        super().__init__(size, {"pipeline": "mocov2", "normalize": normalize, **overrides})


"""Pretraining: :class:`Trainer` runs a :class:`~dclkit.TrainConfig` on uint8 images.

The Swift core does each step (augmentation, forward, loss, backward, optimiser); Python picks
the batches (a seeded permutation per epoch), shows progress, records history, evaluates and
saves checkpoints.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import struct
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import numpy as np

from . import _arrays, evaluate
from ._native import DCLFormatError, DCLStateError, DCLValueError, bind, call
from . import augment
from .config import MOCO_FAMILY, TrainConfig
from .encoder import Encoder

__all__ = ["Trainer"]

PathLike = Union[str, "os.PathLike[str]"]

_VOIDP = ctypes.c_void_p
_create = bind("dcl_trainer_create", [ctypes.c_char_p, _VOIDP, _VOIDP, ctypes.POINTER(_VOIDP)])
_free = bind("dcl_trainer_free", [_VOIDP], None)
_set_schedule = bind("dcl_trainer_set_schedule", [_VOIDP, ctypes.c_int64])
_step_images = bind(
    "dcl_trainer_step_images",
    [_VOIDP, _arrays.UINT8_P, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
     ctypes.POINTER(ctypes.c_int64), ctypes.c_int64, ctypes.POINTER(ctypes.c_double)],
)
_step_views = bind(
    "dcl_trainer_step_views",
    [_VOIDP, _arrays.FLOAT_P, _arrays.FLOAT_P, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
     ctypes.POINTER(ctypes.c_double)],
)  # trainer, v0, v1, n, size, epoch, loss
_progress = bind("dcl_trainer_progress", [_VOIDP, ctypes.POINTER(ctypes.c_int64), ctypes.POINTER(ctypes.c_double)])
_timings = bind("dcl_trainer_timings", [_VOIDP, ctypes.POINTER(ctypes.c_double)])
_embed = bind(
    "dcl_trainer_embed",
    [_VOIDP, _arrays.UINT8_P, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, _arrays.FLOAT_P],
)
_save = bind("dcl_trainer_save", [_VOIDP, ctypes.c_char_p, ctypes.c_char_p])
_load = bind("dcl_trainer_load", [_VOIDP, ctypes.c_char_p])

TIMING_PARTS = ("augment", "forward", "backward", "optimizer")


def _images(images: Any, name: str = "images") -> np.ndarray:
    """uint8 (N, H, W, 3) images, checked and converted (grayscale is repeated to RGB)."""
    return _arrays.rgb_images(images, name)


class Trainer:
    """Contrastive pretraining of an encoder with one of the methods of :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
        The run. The encoder, the augmentation pipeline, the loss, the optimiser and the
        schedule all follow from it.

    Attributes
    ----------
    config : TrainConfig
    encoder : Encoder
        The model being trained (shared, not a copy).
    history : list of dict
        One entry per finished epoch: epoch, loss (mean over its optimisation steps; NaN when all
        were MoCo queue warm-up steps), lr (of the next step), seconds, images_per_s, warmup_steps
        (only when some steps of the epoch were MoCo queue warm-up steps) and, when evaluated,
        knn_top1 (fraction in [0, 1]).
    epoch : int
        Epochs finished so far.

    Notes
    -----
    SimCLR family: both views of the batch pass through the encoder as one batch of 2N, so
    BatchNorm computes its statistics over both views together (as SimCLR's single-device code).
    Each epoch visits a permutation of the images seeded by (seed, epoch); the last incomplete
    batch is dropped. A trainer is used from one thread at a time (a lock guards it).

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.builtin()
    >>> tr = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.25, batch_size=128, epochs=5))
    >>> tr.fit(x_train, eval_data=(x_train, y_train, x_test, y_test))
    """

    def __init__(self, config: TrainConfig) -> None:
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a dclkit.TrainConfig, got {type(config).__name__}")
        self.config = config
        self.encoder = Encoder(arch=config.arch, stem=config.stem, width=config.width, head=config.head,
                               head_dims=config.head_dims, seed=config.seed)
        self._pipeline = _pipeline(config)
        self._lock = threading.Lock()
        self._handle = _VOIDP()
        call(_create, config.to_json().encode(), self.encoder._handle, self._pipeline._handle, ctypes.byref(self._handle))
        self.history: list[dict] = []
        self.epoch = 0
        self._steps_per_epoch = 0

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            _free(handle)
            self._handle = _VOIDP()

    # --- steps -------------------------------------------------------------------------------

    def train_step(self, v0: Any, v1: Any) -> float:
        """One optimisation step on two already-augmented float views.

        Parameters
        ----------
        v0, v1 : array_like, float32, shape (N, S, S, 3)
            The normalised views (NHWC); S is ``config.image_size``.

        Returns
        -------
        float
            The loss of the step (before the update); NaN for a MoCo queue warm-up step (the
            first ``queue_size / batch_size`` steps with ``queue_warmup``: keys enqueued, no
            update, :attr:`step` unchanged).
        """
        a = _arrays.float32_array(v0, "v0", ndim=4)
        b = _arrays.float32_array(v1, "v1", ndim=4)
        if a.shape != b.shape:
            raise DCLValueError(f"v0 and v1 must have the same shape, got {a.shape} and {b.shape}")
        if a.shape[1] != a.shape[2] or a.shape[3] != 3:
            raise DCLValueError(f"views must be square RGB, (N, S, S, 3), got shape {a.shape}")
        loss = ctypes.c_double()
        with self._lock:
            self._ensure_schedule(max(self._steps_per_epoch, 1))
            call(_step_views, self._handle, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1],
                 self.epoch, ctypes.byref(loss))
        return loss.value

    def _ensure_schedule(self, steps_per_epoch: int) -> None:
        if steps_per_epoch != self._steps_per_epoch:
            self._steps_per_epoch = steps_per_epoch
            call(_set_schedule, self._handle, steps_per_epoch)

    @property
    def step(self) -> int:
        """Optimisation steps taken so far."""
        return self._progress()[0]

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self._progress()[1]

    def _progress(self) -> tuple[int, float]:
        step, lr = ctypes.c_int64(), ctypes.c_double()
        call(_progress, self._handle, ctypes.byref(step), ctypes.byref(lr))
        return step.value, lr.value

    def timings(self) -> dict[str, float]:
        """Seconds spent so far in each part of the steps: augment, forward, backward, optimizer."""
        out = (ctypes.c_double * 4)()
        call(_timings, self._handle, out)
        return dict(zip(TIMING_PARTS, list(out)))

    # --- training loop -----------------------------------------------------------------------

    def fit(
        self,
        images: Any,
        epochs: Optional[int] = None,
        eval_data: Optional[Sequence[Any]] = None,
        eval_every: int = 1,
        checkpoint: Optional[PathLike] = None,
        progress: bool = True,
        callbacks: Iterable[Callable[["Trainer", dict], Any]] = (),
    ) -> list[dict]:
        """Trains on uint8 images.

        Parameters
        ----------
        images : array_like, uint8, shape (N, H, W, 3) or (N, H, W)
            The unlabelled training images; N >= ``config.batch_size``.
        epochs : int, optional
            ``None`` trains up to ``config.epochs``; a number trains that many more epochs.
        eval_data : (x_train, y_train, x_test, y_test), optional
            When given, kNN top-1 (k=200, τ=0.1) of the encoder's features is recorded every
            ``eval_every`` epochs and after the last.
        checkpoint : path, optional
            Saved after every epoch (atomically).
        progress : bool
            Show a tqdm progress bar with loss, learning rate and images/s.
        callbacks : iterable of callables
            Each is called as ``callback(trainer, record)`` after every epoch.

        Returns
        -------
        list of dict
            ``self.history``.
        """
        x = _images(images)
        batch = self.config.batch_size
        if len(x) < batch:
            raise DCLValueError(f"images has {len(x)} samples, fewer than batch_size ({batch})")
        if eval_data is not None and len(eval_data) != 4:
            raise DCLValueError("eval_data must be (x_train, y_train, x_test, y_test)")
        if isinstance(eval_every, bool) or not isinstance(eval_every, int) or eval_every < 1:
            raise DCLValueError(f"eval_every must be a positive int, got {eval_every!r}")
        if epochs is None:
            target = self.config.epochs
        else:
            if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
                raise DCLValueError(f"epochs must be a non-negative int, got {epochs!r}")
            target = self.epoch + epochs
        callbacks = list(callbacks)
        steps = len(x) // batch
        with self._lock:
            self._ensure_schedule(steps)
        bar = _progress_bar(progress, total=(target - self.epoch) * steps)
        try:
            while self.epoch < target:
                record = self._run_epoch(x, steps, bar)
                last = self.epoch == target
                if eval_data is not None and (self.epoch % eval_every == 0 or last):
                    record["knn_top1"] = self.knn(*eval_data)
                self.history.append(record)
                if checkpoint is not None:
                    self.save(checkpoint)
                for callback in callbacks:
                    callback(self, record)
                if bar is not None:
                    bar.write(_describe(record))
        finally:
            if bar is not None:
                bar.close()
        return self.history

    def _run_epoch(self, x: np.ndarray, steps: int, bar: Any) -> dict:
        batch = self.config.batch_size
        order = np.random.default_rng([self.config.seed, self.epoch]).permutation(len(x))
        start = time.perf_counter()
        total = 0.0
        trained = 0
        loss = ctypes.c_double()
        for b in range(steps):
            indices = np.ascontiguousarray(order[b * batch:(b + 1) * batch], dtype=np.int64)
            images = np.ascontiguousarray(x[indices])
            with self._lock:
                before = self.step
                call(_step_images, self._handle, _arrays.pointer(images, ctypes.c_uint8), batch,
                     images.shape[1], images.shape[2], images.shape[3],
                     indices.ctypes.data_as(ctypes.POINTER(ctypes.c_int64)), self.epoch, ctypes.byref(loss))
                warmup = self.step == before
            if warmup:  # a MoCo queue warm-up step: keys enqueued, no loss, no update
                if bar is not None:
                    bar.update(1)
                continue
            if not math.isfinite(loss.value):
                raise DCLStateError(f"the loss became {loss.value} at epoch {self.epoch}, step {b}; "
                                    "lower the learning rate")
            total += loss.value
            trained += 1
            if bar is not None:
                elapsed = time.perf_counter() - start
                bar.update(1)
                bar.set_postfix(loss=f"{loss.value:.4f}", lr=f"{self.lr:.4g}",
                                img_s=f"{(b + 1) * batch / max(elapsed, 1e-9):.0f}")
        seconds = time.perf_counter() - start
        self.epoch += 1
        record = {"epoch": self.epoch, "loss": total / trained if trained else math.nan, "lr": self.lr,
                  "seconds": seconds, "images_per_s": steps * batch / seconds}
        if trained < steps:
            record["warmup_steps"] = steps - trained
        return record

    # --- features and evaluation -------------------------------------------------------------

    def embed(self, images: Any, batch_size: int = 256) -> np.ndarray:
        """The encoder's pooled features of images, in eval mode, without augmentation.

        Images are resized to ``config.image_size`` when their size differs, then normalised as
        the training views.

        Parameters
        ----------
        images : array_like, uint8, shape (N, H, W, 3) or (N, H, W)
        batch_size : int

        Returns
        -------
        ndarray, float32, shape (N, F)
        """
        x = _images(images)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise DCLValueError(f"batch_size must be a positive int, got {batch_size!r}")
        out = np.empty((len(x), self.encoder.feature_dim), dtype=np.float32)
        for lo in range(0, len(x), batch_size):
            chunk = np.ascontiguousarray(x[lo:lo + batch_size])
            with self._lock:
                call(_embed, self._handle, _arrays.pointer(chunk, ctypes.c_uint8), len(chunk), chunk.shape[1],
                     chunk.shape[2], chunk.shape[3], _arrays.pointer(out[lo:lo + len(chunk)]))
        return out

    def knn(self, x_train: Any, y_train: Any, x_test: Any, y_test: Any, k: int = 200, temperature: float = 0.1) -> float:
        """kNN top-1 (fraction) of the encoder's features: train images as the memory bank."""
        return evaluate.knn(self.embed(x_train), y_train, self.embed(x_test), y_test, k=k, temperature=temperature)

    # --- checkpoints -------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes model, head, optimiser state, schedule position, epoch, config, history (and
        for MoCo the key encoder and queue) to one safetensors file, atomically."""
        metadata = {"format": "dclkit.trainer/1", "config": self.config.to_json(), "epoch": str(self.epoch),
                    "history": json.dumps(self.history), "steps_per_epoch": str(self._steps_per_epoch)}
        with self._lock:
            call(_save, self._handle, os.fsencode(os.fspath(path)), json.dumps(metadata).encode())

    @classmethod
    def resume(cls, path: PathLike) -> "Trainer":
        """A trainer restored from :meth:`save`; ``fit`` continues exactly where it stopped."""
        metadata = read_metadata(path)
        if metadata.get("format") != "dclkit.trainer/1":
            raise DCLFormatError(f"{os.fspath(path)} is not a dclkit trainer checkpoint")
        trainer = cls(TrainConfig.from_json(metadata["config"]))
        with trainer._lock:
            steps = int(metadata.get("steps_per_epoch", "0"))
            if steps > 0:
                trainer._ensure_schedule(steps)
            call(_load, trainer._handle, os.fsencode(os.fspath(path)))
        trainer.epoch = int(metadata["epoch"])
        trainer.history = json.loads(metadata["history"])
        return trainer


def _pipeline(config: TrainConfig) -> augment.TwoViewAugment:
    """The augmentation of ``config.augment``: "simclr", "mocov2", or a dict with a "pipeline"
    key and keyword overrides (``normalize`` defaults to CIFAR-10's statistics up to 64 pixels,
    ImageNet's above)."""
    spec = {"pipeline": config.augment} if isinstance(config.augment, str) else dict(config.augment)
    kind = spec.pop("pipeline", "simclr")
    spec.setdefault("normalize", "cifar10" if config.image_size <= 64 else "imagenet")
    maker = augment.SimCLR if kind == "simclr" else augment.MoCoV2
    return maker(size=config.image_size, **spec)


def read_metadata(path: PathLike) -> dict[str, str]:
    """The ``__metadata__`` of a safetensors file (its JSON header), without reading tensors."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such checkpoint: {path}")
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) < 8:
            raise DCLFormatError(f"{path} is too short to be a safetensors file")
        (length,) = struct.unpack("<Q", head)
        if length > 100_000_000:
            raise DCLFormatError(f"{path}: header length {length} is not plausible")
        raw = f.read(length)
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DCLFormatError(f"{path}: header is not JSON ({error})") from None
    metadata = header.get("__metadata__", {}) if isinstance(header, dict) else {}
    if not isinstance(metadata, dict):
        raise DCLFormatError(f"{path}: __metadata__ is not an object")
    return metadata


def _progress_bar(enabled: bool, total: int) -> Any:
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", dynamic_ncols=True)


def _describe(record: dict) -> str:
    text = f"epoch {record['epoch']}: loss {record['loss']:.4f}, lr {record['lr']:.4g}, {record['images_per_s']:.0f} img/s"
    if "knn_top1" in record:
        text += f", kNN top-1 {100 * record['knn_top1']:.1f}%"
    return text

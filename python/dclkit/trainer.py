"""Pretraining: :class:`Trainer` runs a :class:`~dclkit.TrainConfig` on uint8 images.

The Swift core owns the run: it builds encoder, head, augmentation, method, optimiser and
schedule from the configuration, picks each batch (a seeded permutation per epoch), steps,
keeps epoch, step and history, and writes and reads the whole checkpoint. Python calls it once
per batch (for the progress bar and callbacks) and evaluates.
"""
from __future__ import annotations

import ctypes
import json
import math
import os
import threading
import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Callable, Optional, Union

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays, distributed, evaluate
from ._native import DCLTypeError, DCLValueError, NativeObject, call, functions, text_output
from .config import TrainConfig
from .encoder import Encoder

__all__ = ["Trainer", "CollapseWarning", "COLLAPSE_RATIO"]

COLLAPSE_RATIO = 0.02
"""The collapse monitor warns when an epoch's ``collapse_std`` (the std of the L2-normalised outputs
over the batch, about 1/√D when healthy, 0 when collapsed) falls below ``COLLAPSE_RATIO / √D``, D the
head's output size. An untrained network's outputs already share a common direction (mean cosine
about 0.75; ``collapse_std`` 0.1-0.2 of 1/√D in the first epochs of small runs), so the threshold sits
an order of magnitude below that."""


class CollapseWarning(UserWarning):
    """An epoch's outputs have nearly collapsed to one direction (see :data:`COLLAPSE_RATIO`)."""

PathLike = Union[str, "os.PathLike[str]"]

_create = functions["dcl_trainer_create"]
_resume = functions["dcl_trainer_resume"]
_free = functions["dcl_trainer_free"]
_encoder = functions["dcl_trainer_encoder"]
_config = functions["dcl_trainer_config"]
_step = functions["dcl_trainer_step"]
_step_views = functions["dcl_trainer_step_views"]
_progress = functions["dcl_trainer_progress"]
_history = functions["dcl_trainer_history"]
_set_monitor = functions["dcl_trainer_set_monitor"]
_steps_until = functions["dcl_trainer_steps_until"]
_timings = functions["dcl_trainer_timings"]
_embed = functions["dcl_trainer_embed"]
_save = functions["dcl_trainer_save"]
_create_distributed = functions["dcl_trainer_create_distributed"]
_resume_distributed = functions["dcl_trainer_resume_distributed"]
_comm_seconds = functions["dcl_trainer_comm_seconds"]
_state_hash = functions["dcl_trainer_state_hash"]

TIMING_PARTS = ("augment", "forward", "backward", "optimizer")


def _communicator(comm: Any) -> Optional[distributed.Communicator]:
    """The native communicator for ``comm`` (an mpi4py communicator, a
    :class:`dclkit.distributed.Communicator`, or None for one process); anything else is a
    ``DCLTypeError`` (``distributed.check_comm``)."""
    distributed.check_comm(comm)
    if comm is None or isinstance(comm, distributed.Communicator):
        return comm
    return distributed.Communicator(comm)


def _images(images: ArrayLike, name: str = "images") -> NDArray[np.uint8]:
    """uint8 (N, H, W, 3) images, checked and converted (grayscale is repeated to RGB)."""
    return _arrays.rgb_images(images, name)


class Trainer(NativeObject):
    """Contrastive pretraining of an encoder with one of the methods of :class:`TrainConfig`.

    Parameters
    ----------
    config : TrainConfig
        The run. The native trainer builds the encoder, the augmentation pipeline, the loss,
        the optimiser and the schedule from it.
    comm : mpi4py communicator, optional
        Data-parallel training over its W ranks (``dclkit.distributed.world()`` under
        ``mpirun``): every rank creates the trainer with the same configuration and calls
        :meth:`fit` on the whole dataset; ``config.batch_size`` is the global batch, of which
        each rank computes B / W images (B not divisible by W raises
        :class:`dclkit.DCLValueError` on every rank, as does a configuration that differs
        between ranks). The core gathers the projections (SimCLR family: 2B - 2 negatives per
        view), the predictions (NNCLR: one support set on every rank) or the keys (MoCo
        family: one queue on every rank, shuffle-BN across ranks),
        uses the global batch's BatchNorm statistics with ``sync_bn=True`` and averages the
        gradients, so all ranks hold bitwise identical weights. Only rank 0 writes checkpoints
        and shows progress. ``None`` (the default) trains in this process alone.

    Attributes
    ----------
    config : TrainConfig
    encoder : Encoder
        A view of the trainer's own encoder (not a copy): its forward, state dict and save act
        on the model being trained, under the trainer's lock.
    history : list of dict
        One entry per finished epoch: epoch, loss (mean over its optimisation steps; NaN when all
        were MoCo queue warm-up steps), lr (of the next step), seconds (spent in its steps),
        images_per_s, warmup_steps (only when some steps of the epoch were MoCo queue warm-up
        steps) and, when evaluated, knn_top1 (fraction in [0, 1]).
    epoch : int
        Epochs finished so far.
    rank, world_size : int
        This process's rank and the number of ranks of the run (0 and 1 without ``comm``).

    Notes
    -----
    SimCLR family: both views of the batch pass through the encoder as one batch of 2N, so
    BatchNorm computes its statistics over both views together (as SimCLR's single-device code).
    Each epoch visits a permutation of the images seeded by (seed, epoch); the last incomplete
    batch is dropped. The trainer and its ``encoder`` share one lock, so threads may call them
    at the same time (the calls run one after another). A trainer cannot be copied or pickled
    (``DCLTypeError``): save it and :meth:`resume` the file; its ``encoder`` can be copied.

    Examples
    --------
    >>> x_train, y_train, x_test, y_test = dclkit.datasets.builtin()
    >>> tr = dclkit.Trainer(dclkit.TrainConfig(method="dcl", width=0.25, batch_size=128, epochs=5))
    >>> tr.fit(x_train, eval_data=(x_train, y_train, x_test, y_test))
    """

    _copy_hint = "save() it and Trainer.resume() the file (a copy of trainer.encoder is possible)"

    def __init__(self, config: TrainConfig, comm: Any = None) -> None:
        if not isinstance(config, TrainConfig):
            raise DCLTypeError(f"config must be a dclkit.TrainConfig, got {type(config).__name__}")
        native = _communicator(comm)
        handle = ctypes.c_void_p()
        if native is None:
            call(_create, config.to_json().encode(), ctypes.byref(handle))
        else:
            call(_create_distributed, config.to_json().encode(), native._handle, ctypes.byref(handle))
        self._adopt(handle, native)

    @classmethod
    def resume(cls, path: PathLike, comm: Any = None) -> Trainer:
        """A trainer restored from :meth:`save`; ``fit`` continues exactly where it stopped.
        With ``comm`` every rank reads ``path`` and the run continues on its W ranks (any W
        that divides the batch, not necessarily the W that wrote the checkpoint)."""
        native = _communicator(comm)
        handle = ctypes.c_void_p()
        if native is None:
            call(_resume, _arrays.path(path), ctypes.byref(handle))
        else:
            call(_resume_distributed, _arrays.path(path), native._handle, ctypes.byref(handle))
        trainer = cls.__new__(cls)
        trainer._adopt(handle, native)
        return trainer

    def _adopt(self, handle: Any, comm: Optional[distributed.Communicator]) -> None:
        self._comm = comm  # the callbacks the native trainer calls live as long as this object
        self.rank = comm.rank if comm is not None else 0
        self.world_size = comm.size if comm is not None else 1
        self._handle = handle
        self._lock = threading.Lock()
        self.config = TrainConfig._completed(text_output(_config, self._handle))
        view = ctypes.c_void_p()
        call(_encoder, handle, ctypes.byref(view))
        self.encoder = Encoder._view(view, self._lock)

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle:
            _free(handle)
            self._handle = ctypes.c_void_p()

    # --- steps -------------------------------------------------------------------------------

    def train_step(self, v0: ArrayLike, v1: ArrayLike) -> float:
        """One optimisation step on two already-augmented float views, outside the epochs of
        :meth:`fit` (the epoch and its position do not move).

        The rate follows the configuration's schedule over ``epochs`` epochs, and until
        :meth:`fit` has seen a data set an epoch counts as one step: a loop of its own should
        set ``epochs`` (and ``warmup_epochs``) to its number of steps, or the rate reaches 0
        after ``epochs`` steps (:attr:`lr` says the next step's rate).

        Parameters
        ----------
        v0, v1 : array_like, float32, shape (N, S, S, 3)
            The normalised views (NHWC); S is ``config.image_size``. In a distributed run
            each rank passes its own N rows of the global batch (every rank the same N).

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
            call(_step_views, self._handle, _arrays.pointer(a), _arrays.pointer(b), a.shape[0], a.shape[1],
                 ctypes.byref(loss), None, None, None)
        return loss.value

    @property
    def step(self) -> int:
        """Optimisation steps taken so far."""
        return self._progress()[1]

    @property
    def lr(self) -> float:
        """The learning rate of the next step."""
        return self._progress()[2]

    @property
    def epoch(self) -> int:
        """Epochs finished so far."""
        return self._progress()[0]

    @property
    def history(self) -> list[dict]:
        """One record per finished epoch (see the class docstring), read from the core."""
        with self._lock:
            return [_with_nan_loss(entry) for entry in json.loads(text_output(_history, self._handle))]

    def _progress(self) -> tuple[int, int, float]:
        epoch, step, lr = ctypes.c_int64(), ctypes.c_int64(), ctypes.c_double()
        with self._lock:
            call(_progress, self._handle, ctypes.byref(epoch), None, None, ctypes.byref(step), ctypes.byref(lr))
        return epoch.value, step.value, lr.value

    def timings(self) -> dict[str, float]:
        """Seconds spent so far in each part of the steps: augment, forward, backward, optimizer,
        and communication (inside collectives, already counted in the forward and backward
        parts; 0 for one process)."""
        out, comm = (ctypes.c_double * 4)(), ctypes.c_double()
        with self._lock:
            call(_timings, self._handle, out)
            call(_comm_seconds, self._handle, ctypes.byref(comm))
        return dict(zip(TIMING_PARTS, list(out)), communication=comm.value)

    def state_hash(self, prefix: str = "") -> int:
        """A 64-bit hash of the checkpoint tensors whose names start with ``prefix`` ("" for all,
        "encoder." for the model, "queue" for MoCo's queue): equal on every rank of a
        distributed run."""
        if not isinstance(prefix, str):
            raise DCLTypeError(f"prefix must be a str, got {type(prefix).__name__}")
        out = ctypes.c_uint64()
        with self._lock:
            call(_state_hash, self._handle, prefix.encode(), ctypes.byref(out))
        return out.value

    # --- training loop -----------------------------------------------------------------------

    def fit(
        self,
        images: ArrayLike,
        epochs: Optional[int] = None,
        eval_data: Optional[Sequence[ArrayLike]] = None,
        eval_every: int = 1,
        checkpoint: Optional[PathLike] = None,
        progress: bool = True,
        callbacks: Iterable[Callable[[Trainer, dict], Any]] = (),
        tensorboard: Optional[PathLike] = None,
    ) -> list[dict]:
        """Trains on uint8 images.

        Parameters
        ----------
        images : array_like, uint8, shape (N, H, W, 3) or (N, H, W)
            The unlabelled training images; N >= ``config.batch_size``, the same N on every call
            of a run (it fixes the epoch length).
        epochs : int, optional
            ``None`` trains up to ``config.epochs``; a number trains that many more epochs.
        eval_data : (x_train, y_train, x_test, y_test), optional
            Labelled uint8 images: the core's kNN monitor (k = 200, τ = 0.1, as InstDisc; the
            features of :meth:`embed`) records ``knn_top1`` every ``eval_every`` epochs and
            after the last.
        checkpoint : path, optional
            Saved after every epoch (atomically; by rank 0 in a distributed run).
        progress : bool
            Show a tqdm progress bar with loss, learning rate and images/s (on rank 0 only).
        callbacks : iterable of callables
            Each is called as ``callback(trainer, record)`` after every epoch (on every rank;
            the record is the same on all of them).
        tensorboard : path, optional
            A folder for TensorBoard event files (rank 0 only; the ``tensorboard`` extra): every
            numeric field of each epoch's record as a scalar at step = epoch, and once a grid of
            the first training images' two views (:mod:`dclkit.tensorboard`).

        Returns
        -------
        list of dict
            ``self.history``.
        """
        x = _images(images)
        eval_every = _arrays.integer(eval_every, "eval_every", 1, 2**62)
        epoch = self.epoch
        assert self.config.epochs is not None  # a completed configuration has every field
        target = self.config.epochs if epochs is None else epoch + _arrays.integer(epochs, "epochs", 0, 2**40)
        monitor, monitored_arrays = _monitor_arguments(eval_data)
        callbacks = list(callbacks)
        logger = None
        pointer = _arrays.pointer(x, ctypes.c_uint8)
        loss, updated, lr, finished = ctypes.c_double(), ctypes.c_int32(), ctypes.c_double(), ctypes.c_int64()
        record, needed, steps = ctypes.create_string_buffer(_RECORD_CAPACITY), ctypes.c_int64(), ctypes.c_int64()
        with self._lock:
            call(_steps_until, self._handle, len(x), target, ctypes.byref(steps))
            call(_set_monitor, self._handle, *monitor, eval_every, target)
        del monitored_arrays  # the core keeps a copy
        bar = _progress_bar(progress and self.rank == 0, total=steps.value)
        try:
            if tensorboard is not None and self.rank == 0:
                from .tensorboard import TensorBoardLogger

                logger = TensorBoardLogger(tensorboard)
                logger.add_views(x, self)
                callbacks.insert(0, logger)
            while epoch < target:
                with self._lock:
                    call(_step, self._handle, pointer, *x.shape, ctypes.byref(loss), ctypes.byref(updated), None,
                         ctypes.byref(lr), ctypes.byref(finished), record, _RECORD_CAPACITY, ctypes.byref(needed))
                if bar is not None:
                    bar.update(1)
                    if updated.value:
                        bar.set_postfix(loss=f"{loss.value:.4f}", lr=f"{lr.value:.4g}")
                if needed.value == 0:
                    continue
                epoch = finished.value
                closed = _record(record.value.decode()) if needed.value <= _RECORD_CAPACITY else self.history[-1]
                self._warn_if_collapsed(closed)
                if checkpoint is not None:
                    self.save(checkpoint)
                for callback in callbacks:
                    callback(self, closed)
                if bar is not None:
                    bar.write(_describe(closed))
        finally:
            with self._lock:
                call(_set_monitor, self._handle, *_monitor_arguments(None)[0], 1, 0)
            if bar is not None:
                bar.close()
            if logger is not None:
                logger.close()
        return self.history

    def _warn_if_collapsed(self, record: dict) -> None:
        """Warns (:class:`CollapseWarning`) when ``record``'s collapse monitor is below its threshold."""
        assert self.config.head_dims is not None  # a completed configuration has every field
        threshold = COLLAPSE_RATIO / math.sqrt(self.config.head_dims[1])
        if record.get("collapse_std", math.inf) < threshold:
            warnings.warn(f"epoch {record['epoch']}: collapse_std {record['collapse_std']:.4g} is below {threshold:.4g} "
                          f"({COLLAPSE_RATIO} / sqrt({self.config.head_dims[1]})): the outputs are collapsing to one direction",
                          CollapseWarning, stacklevel=3)

    # --- features and evaluation -------------------------------------------------------------

    def embed(self, images: ArrayLike, batch_size: int = 256) -> NDArray[np.float32]:
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

    def knn(self, x_train: ArrayLike, y_train: ArrayLike, x_test: ArrayLike, y_test: ArrayLike, k: int = evaluate.DEFAULT_K,
            temperature: float = evaluate.DEFAULT_TEMPERATURE) -> float:
        """kNN top-1 (fraction) of the encoder's features: train images as the memory bank."""
        return evaluate.knn(self.embed(x_train), y_train, self.embed(x_test), y_test, k=k, temperature=temperature)

    # --- checkpoints -------------------------------------------------------------------------

    def save(self, path: PathLike) -> None:
        """Writes the whole run (model, head, optimiser state, configuration, step, epoch and the
        position in it, history; for MoCo the key encoder and queue) to one safetensors file,
        atomically. In a distributed run every rank must call it; rank 0 writes (the state is
        the same on every rank) and every rank raises if rank 0 could not."""
        with self._lock:
            call(_save, self._handle, _arrays.path(path))


# Room for one epoch's record (a few hundred bytes); a longer one is read from the history.
_RECORD_CAPACITY = 4096


def _with_nan_loss(record: dict) -> dict:
    """``record`` with a null loss (JSON has no NaN; an epoch of MoCo warm-up steps) as NaN."""
    if record["loss"] is None:
        record["loss"] = math.nan
    return record


def _record(text: str) -> dict:
    """An epoch record of the core's JSON."""
    return _with_nan_loss(json.loads(text))


def _monitor_arguments(eval_data: Optional[Sequence[ArrayLike]]) -> tuple[tuple, list]:
    """The leading arguments of ``dcl_trainer_set_monitor`` for ``eval_data`` (x_train, y_train,
    x_test, y_test), checked, with InstDisc's k and τ (all null for None: no monitor), and the
    arrays they point into, to keep alive until the call."""
    if eval_data is None:
        return (None, 0, 0, 0, 0, None, None, 0, 0, 0, 0, None, evaluate.DEFAULT_K, evaluate.DEFAULT_TEMPERATURE), []
    if isinstance(eval_data, (str, bytes)) or not isinstance(eval_data, Sequence) or len(eval_data) != 4:
        raise DCLValueError("eval_data must be (x_train, y_train, x_test, y_test)")
    arguments: list[Any] = []
    arrays: list[np.ndarray] = []
    for images, labels, split in ((eval_data[0], eval_data[1], "train"), (eval_data[2], eval_data[3], "test")):
        x = _images(images, f"eval_data's x_{split}")
        y = _arrays.labels(labels, f"eval_data's y_{split}", len(x), evaluate.MAX_CLASSES)
        arguments += [_arrays.pointer(x, ctypes.c_uint8), *x.shape, y.ctypes.data_as(ctypes.POINTER(ctypes.c_int64))]
        arrays += [x, y]
    return (*arguments, evaluate.DEFAULT_K, evaluate.DEFAULT_TEMPERATURE), arrays


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

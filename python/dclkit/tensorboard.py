"""TensorBoard event files of a run: every epoch's numbers as scalars and, once, a grid of the
augmented views the network sees.

``Trainer.fit(images, tensorboard="runs/x")``, ``python -m dclkit train --tensorboard runs/x`` and
a sweep spec's ``tensorboard = "runs/sweep"`` (one sub-folder per run id) write through
:class:`TensorBoardLogger`, with tensorboardX (the ``tensorboard`` extra:
``pip install 'dclkit[tensorboard]'``; neither PyTorch nor TensorFlow is needed). Look at them with
``tensorboard --logdir runs``.

What is written, at step = the epoch (1 for the first finished epoch):

- every numeric field of each epoch record (:attr:`dclkit.Trainer.history`) as a scalar whose tag
  is the field's name: ``loss``, ``lr``, ``seconds``, ``images_per_s``, ``knn_top1`` (when the kNN
  monitor ran), the diagnostics ``npc_mean``, ``npc_p10``, ``npc_p50``, ``npc_p90``,
  ``positive_cosine``, ``negative_cosine``, ``alignment``, ``uniformity``, ``collapse_std``, and
  ``warmup_steps`` when the record has it (TensorBoard keeps them as float32);
- once per ``fit``, at step = the epoch it starts from, the image ``views``: the first few training
  images next to their two views (epoch 0 of the run's augmentation, before normalisation), the
  grid of :func:`dclkit.augment.views_grid`.

In a distributed run only rank 0 writes. Event files are append-only logs that tensorboardX
writes and flushes after every epoch; they are the one kind of file the package writes without
:func:`dclkit._files.atomic_write` (a resumed run adds a new event file beside the old one).
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any, Union

import numpy as np
from numpy.typing import ArrayLike

from . import _arrays
from ._native import DCLIOError
from ._optional import require

__all__ = ["VIEW_IMAGES", "TensorBoardLogger"]

PathLike = Union[str, "os.PathLike[str]"]

VIEW_IMAGES = 8
"""How many training images the ``views`` grid shows."""

_FEATURE = "dclkit's TensorBoard logging"


class TensorBoardLogger:
    """A :meth:`dclkit.Trainer.fit` callback that writes each epoch record's numbers to TensorBoard
    event files (see the module docstring); ``fit(tensorboard=...)`` makes one for you.

    Parameters
    ----------
    logdir : path
        The folder of the event files (created when missing).

    Raises
    ------
    DCLImportError
        tensorboardX (or Pillow, which encodes the image) is not installed: the message names the
        ``tensorboard`` extra.
    DCLIOError
        ``logdir`` cannot be created (a file is in the way, a read-only folder).

    Examples
    --------
    >>> logger = dclkit.tensorboard.TensorBoardLogger("runs/dcl")
    >>> logger.add_views(x_train, trainer)
    >>> trainer.fit(x_train, callbacks=[logger])
    >>> logger.close()
    """

    def __init__(self, logdir: PathLike) -> None:
        tensorboardx = require("tensorboardX", "tensorboard", _FEATURE)
        require("PIL", "tensorboard", _FEATURE)
        self.logdir = Path(os.fsdecode(_arrays.path(logdir, "tensorboard")))
        if self.logdir.exists() and not self.logdir.is_dir():
            raise DCLIOError(f"the tensorboard folder {self.logdir} is a file, not a folder")
        try:
            self.logdir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise DCLIOError(f"cannot create the tensorboard folder {self.logdir} "
                             f"({error.strerror or error})") from None
        # A random suffix: two loggers of one folder in the same second (a resumed fit) get two files;
        # tensorboardX names them by the second alone and would overwrite the first.
        self._writer: Any = tensorboardx.SummaryWriter(logdir=str(self.logdir), flush_secs=60,
                                                       filename_suffix=f".{secrets.token_hex(8)}")

    def add_views(self, images: ArrayLike, trainer: Any, step: int | None = None) -> None:
        """Writes the image ``views``: the first :data:`VIEW_IMAGES` of ``images`` next to their
        two views under ``trainer``'s augmentation (its ``image_size`` and ``augment`` fields,
        seed ``config.seed``), at ``step`` (default: the trainer's epoch)."""
        from .augment import TwoViewAugment, views_grid

        config = trainer.config
        spec = config.augment if isinstance(config.augment, dict) else {"pipeline": config.augment}
        pipeline = TwoViewAugment(config.image_size, spec)
        try:
            grid = views_grid(np.asarray(images)[:VIEW_IMAGES], pipeline, seed=config.seed)
        finally:
            pipeline.close()
        self._writer.add_image("views", grid, trainer.epoch if step is None else step, dataformats="HWC")
        self._writer.flush()

    def __call__(self, trainer: Any, record: dict[str, Any]) -> None:
        """Writes every numeric field of ``record`` but ``epoch`` as a scalar at step ``record["epoch"]``."""
        step = int(record["epoch"])
        for name, value in record.items():
            if name == "epoch" or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            self._writer.add_scalar(name, float(value), step)
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._writer.close()

"""Plots of a training run, written as PNG files with matplotlib's Agg canvas.

The figure is drawn on its own Agg canvas, not through ``pyplot``: it works without a display
and leaves the user's matplotlib backend and open figures alone.
"""
from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Union

from . import _arrays
from ._files import atomic_write
from ._native import DCLFileNotFoundError, DCLTypeError, DCLValueError
from ._optional import require

__all__ = ["history"]

PANEL_PIXELS = (500, 400)
"""Width and height in pixels of one panel; the PNG is one or two panels wide."""
_DPI = 100


def _number(entry: Mapping[str, Any], key: str, index: int) -> float:
    value = entry[key]
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise DCLTypeError(f"history[{index}][{key!r}] must be a number, got {type(value).__name__}")
    return float(value)


def history(history: Sequence[Mapping[str, Any]], path: Union[str, os.PathLike[str]], title: str | None = None) -> Path:
    """Writes a PNG of the training loss per epoch, kNN top-1 per epoch when evaluated, and the
    diagnostics when recorded (the NPC multiplier's mean with its 10th–90th percentile band, the
    positive cosine and the collapse monitor's ``collapse_std``).

    Parameters
    ----------
    history : sequence of dict
        One dict per epoch, as :attr:`dclkit.Trainer.history` holds: ``epoch`` and ``loss``
        (numbers, required), ``knn_top1`` (optional, on the epochs that were evaluated; a
        fraction in [0, 1] or a percentage, drawn in percent either way), the diagnostics
        (optional: ``npc_mean``, ``npc_p10``, ``npc_p90``, ``positive_cosine``,
        ``collapse_std``). Other keys (``lr``, ``seconds``, ...) are ignored. A NaN loss leaves a gap.
    path : path
        The PNG to write; its folder must exist.
    title : str, optional
        A title above the panels.

    Returns
    -------
    Path
        ``path``. The image is 500 × 400 pixels per panel: the loss, then the kNN and the
        diagnostics panels when the history has them.

    Examples
    --------
    >>> tr.fit(x_train, eval_data=(x_train, y_train, x_test, y_test))
    >>> dclkit.plot.history(tr.history, "run/history.png")
    """
    require("matplotlib", "plots", "dclkit.plot.history")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    if isinstance(history, (str, bytes, Mapping)) or not isinstance(history, Sequence):
        raise DCLTypeError(f"history must be a list of dicts (one per epoch), got {type(history).__name__}")
    if not history:
        raise DCLValueError("history is empty: train at least one epoch before plotting")
    epochs, losses, knn_epochs, knn = [], [], [], []
    diagnostics: dict[str, tuple[list, list]] = {}
    for index, entry in enumerate(history):
        if not isinstance(entry, Mapping):
            raise DCLTypeError(f"history[{index}] must be a dict, got {type(entry).__name__}")
        for key in ("epoch", "loss"):
            if key not in entry:
                raise DCLValueError(f"history[{index}] has no {key!r} entry")
        epochs.append(_number(entry, "epoch", index))
        losses.append(_number(entry, "loss", index))
        if entry.get("knn_top1") is not None:
            knn_epochs.append(epochs[-1])
            knn.append(_number(entry, "knn_top1", index))
        for key in _DIAGNOSTICS:
            if entry.get(key) is not None:
                diagnostics.setdefault(key, ([], []))
                diagnostics[key][0].append(epochs[-1])
                diagnostics[key][1].append(_number(entry, key, index))
    file = Path(os.fsdecode(_arrays.path(path))).expanduser()
    if not file.parent.is_dir():
        raise DCLFileNotFoundError(f"no such folder for the plot: {file.parent}")

    panels = 1 + bool(knn) + bool(diagnostics)
    figure = Figure(figsize=(panels * PANEL_PIXELS[0] / _DPI, PANEL_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, panels, squeeze=False)[0]
    axes[0].plot(epochs, losses, marker="o", markersize=3, color="tab:blue")
    axes[0].set(xlabel="epoch", ylabel="loss", title="training loss")
    if knn:
        finite = [value for value in knn if math.isfinite(value)]
        as_fraction = bool(finite) and max(finite) <= 1.0
        axes[1].plot(knn_epochs, knn, marker="o", markersize=3, color="tab:green")
        axes[1].yaxis.set_major_formatter(PercentFormatter(xmax=1.0 if as_fraction else 100.0))
        axes[1].set(xlabel="epoch", ylabel="kNN top-1", title="kNN top-1 (test)")
    if diagnostics:
        _diagnostics_panel(axes[-1], diagnostics)
    for axis in axes:
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    if title:
        figure.suptitle(str(title))
    save_figure(figure, file)
    return file


_DIAGNOSTICS = ("npc_mean", "npc_p10", "npc_p90", "positive_cosine", "collapse_std")


def _diagnostics_panel(axis: Any, diagnostics: dict[str, tuple[list, list]]) -> None:
    """The NPC multiplier (mean, 10th–90th percentile band), the positive cosine and the collapse
    monitor against the epoch."""
    if "npc_mean" in diagnostics:
        axis.plot(*diagnostics["npc_mean"], marker="o", markersize=3, label="NPC multiplier q (mean)")
        if "npc_p10" in diagnostics and "npc_p90" in diagnostics:
            axis.fill_between(diagnostics["npc_p10"][0], diagnostics["npc_p10"][1], diagnostics["npc_p90"][1], alpha=0.2,
                              label="q, 10th–90th percentile")
    for key, label in (("positive_cosine", "positive cosine"), ("collapse_std", "collapse std")):
        if key in diagnostics:
            axis.plot(*diagnostics[key], marker="o", markersize=3, label=label)
    axis.set(xlabel="epoch", title="diagnostics of the training batches")
    axis.legend(fontsize="small")


def save_figure(figure: Any, path: Path) -> None:
    """Writes a matplotlib figure as a PNG through the one atomic, checked write."""
    atomic_write(path, lambda file: figure.savefig(file, format="png", dpi=_DPI), "the plot")

"""The report of a sweep: Markdown tables with 95% confidence intervals over seeds, and plots.

Runs are grouped by what their spec set (their ``overrides``) apart from ``seed``; a group's
seeds are its samples. A mean's interval is the Student-t interval
``mean ± t(0.975, n−1) · s / √n`` (``s`` the sample standard deviation, ``n`` the seeds; none for
one seed). Differences from the baseline method, and from the base setting (the same method,
batch size and temperature without a row's other changes, such as a learning rate or an
augmentation), are paired by seed (the same seed gives the same initialisation and batch order
to every run), so their interval is the t interval of the per-seed differences. The spread
over temperature is computed per seed (best minus worst top-1 over the temperatures of one
seed), then averaged with its interval. Several baselines may be named (by default
``DEFAULT_BASELINES``, the InfoNCE form of each contrastive family, which DCL's variants decouple:
DCL and DCLW against NT-Xent, MoCo-DCL against MoCo, NNCLR-DCL against NNCLR); each gets its table
of the rows that have a twin with it. Where a method ran at three or more batch sizes beside a
baseline, the trend of its paired difference is the least-squares slope on log₂ of the batch size
(points per doubling) with its Student-t interval (``slope_ci``).

Plots (PNG, drawn on their own Agg canvas as :mod:`dclkit.plot`): ``top1_vs_batch_size.png``
and ``top1_vs_temperature.png`` (kNN and linear-probe top-1 per method with 95% error bars,
wherever a method was run at two or more values with everything else equal), and
``curves.png`` (training loss and the kNN curve per epoch, mean over seeds with a 95% band,
one row of panels per method). When the runs recorded the per-epoch diagnostics of their
training batches (:mod:`dclkit.diagnostics`), also ``npc.png`` (InfoNCE's negative–positive
coupling multiplier q_B against the epoch: its median ``npc_p50`` with the ``npc_p10``–``npc_p90``
band, each the mean over seeds; one panel per batch size, one line per loss) and
``diagnostics.png`` (positive and negative cosine, alignment, uniformity and ``collapse_std``
against the epoch, mean over seeds; one row per batch size), and a table of the last epoch's
diagnostics; results without them (older sweeps) get neither.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

import numpy as np

from ._files import atomic_write, io_error
from ._native import DCLFileNotFoundError, DCLTypeError, DCLValueError
from ._optional import require
from .config import schema
from .plot import _DPI, PANEL_PIXELS, save_figure
from .sweep import _path, check_line, read_results

__all__ = ["Group", "mean_ci", "slope_ci", "groups", "check_one_sweep", "markdown", "plots", "report", "DIAGNOSTICS",
           "has_diagnostics"]

PathLike = Union[str, "os.PathLike[str]"]

LABELS = {method["name"]: method["label"] for method in schema()["methods"]}
"""Display names of the methods, from the core's registry (the loss of ``simclr`` is NT-Xent)."""
DEFAULT_BASELINES = ("simclr", "moco", "nnclr")
"""The default baselines of the paired differences: the InfoNCE form of each contrastive family,
the loss its DCL variant decouples (NT-Xent for DCL and DCLW, MoCo for MoCo-DCL, NNCLR for
NNCLR-DCL); every non-contrastive baseline is compared with NT-Xent as well."""
METRICS = (("knn_top1", "kNN top-1"), ("linear_probe_top1", "linear probe top-1"))
_LEADING = ("method", "batch_size", "temperature")
LEGEND_PIXELS = 250
"""Width added to the curves figure for the legend beside each row."""
NPC = ("npc_p50", "npc_p10", "npc_p90")
"""The NPC multiplier's median and band, as a history record names them."""
DIAGNOSTICS = (("positive_cosine", "positive cosine"), ("negative_cosine", "negative cosine"),
               ("alignment", "alignment E‖u − u′‖²"), ("uniformity", "uniformity log E exp(−2‖u − v‖²)"),
               ("collapse_std", "collapse std"))
"""The diagnostics drawn against the epoch besides q_B: history key and label, one panel each."""


def slope_ci(x: Sequence[float], y: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Least-squares slope of ``y`` on ``x`` and the half-width of its Student-t confidence
    interval, ``t(0.5 + level/2, n−2) · √(SSE / (n−2) / Σ(x − x̄)²)`` (NaN for fewer than 3 points
    or fewer than 2 distinct ``x``).

    >>> slope_ci([0, 1, 2], [0.0, 1.0, 2.0])  # a perfect line: no residual, no width
    (1.0, 0.0)
    """
    xs, ys = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if xs.size < 3 or np.unique(xs).size < 2:
        return math.nan, math.nan
    require("scipy", "report", "dclkit.report")
    from scipy.stats import t

    dx = xs - xs.mean()
    slope = float((dx * (ys - ys.mean())).sum() / (dx * dx).sum())
    residuals = ys - ys.mean() - slope * dx
    spread = math.sqrt((residuals * residuals).sum() / (xs.size - 2) / (dx * dx).sum())
    return slope, float(t.ppf(0.5 + level / 2, xs.size - 2) * spread)


def mean_ci(values: Sequence[float], level: float = 0.95) -> tuple[float, float]:
    """Mean and half-width of its Student-t confidence interval (NaN for fewer than 2 values).

    >>> mean_ci([0.80, 0.82, 0.84])  # (0.82, 4.303 * 0.02 / sqrt(3))
    (0.82, 0.0496...)
    """
    x = np.asarray(values, dtype=np.float64)
    if x.size == 0:
        return math.nan, math.nan
    if x.size < 2:
        return float(x[0]), math.nan
    require("scipy", "report", "dclkit.report")
    from scipy.stats import t

    return float(x.mean()), float(t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))


@dataclass
class Group:
    """The runs of one setting over seeds: ``overrides`` without ``seed``, ``lines`` by seed."""

    overrides: dict
    lines: dict

    @property
    def method(self) -> str:
        return self.lines[next(iter(self.lines))]["config"]["method"]

    def value(self, key: str) -> Any:
        """The setting's ``key``: from the resolved configuration when it is a config field."""
        config = self.lines[next(iter(self.lines))]["config"]
        return config[key] if key in config else self.overrides.get(key, "")

    def metric(self, name: str) -> dict:
        """Seed → value of a result field, for the seeds that have it."""
        return {seed: line[name] for seed, line in self.lines.items() if line.get(name) is not None}


def groups(lines: Sequence[dict]) -> list[Group]:
    """The result lines grouped by their overrides apart from ``seed``, in first-seen order.

    Raises ``DCLValueError`` when two lines of one setting share a seed (runs of different base
    configurations, for example two versions of a spec, in one file): every line lands in a
    group, none is dropped silently."""
    found: dict[str, Group] = {}
    for line in lines:
        setting = {key: value for key, value in line["overrides"].items() if key != "seed"}
        key = json.dumps(setting, sort_keys=True)
        group = found.setdefault(key, Group(setting, {}))
        seed = line["config"]["seed"]
        if seed in group.lines:
            raise DCLValueError(f"runs {group.lines[seed]['id']} and {line['id']} both have the setting "
                                f"{_describe(setting)} and seed {seed} but differ elsewhere (another version of "
                                "the spec?): report them from separate results files")
        group.lines[seed] = line
    return list(found.values())


_SAME_FOR_ALL = (("sweep", lambda line: line["sweep"]),
                 ("data", lambda line: {key: line["data"].get(key) for key in
                                        ("name", "fingerprint", "train_images", "eval_images")}),
                 ("evaluation", lambda line: line["evaluation"]))


def check_one_sweep(lines: Sequence[dict]) -> None:
    """Refuses result lines of different sweeps, data or evaluations, which one report with one
    title and one data line would merge: ``DCLValueError`` naming what differs and how often."""
    for name, key in _SAME_FOR_ALL:
        counts = Counter(json.dumps(key(line), sort_keys=True) for line in lines)
        if len(counts) > 1:
            shown = "; ".join(f"{value} ({count} runs)" for value, count in counts.most_common(4))
            raise DCLValueError(f"the results mix {len(counts)} different {name} values ({shown}): report each "
                                "sweep from its own results file")


def _columns(found: Sequence[Group]) -> list[str]:
    keys = {key for group in found for key in group.overrides}
    return [key for key in _LEADING if key in keys or key == "method"] + sorted(keys - set(_LEADING))


def _tally(lines: Sequence[dict], key: str, prefix: str = "", suffix: str = "") -> str:
    """The values of ``key`` over the runs, each with its run count when they differ
    (a sweep resumed on another machine or version)."""
    counts = Counter(str(line[key]) for line in lines)
    if len(counts) == 1:
        return f"{prefix}{next(iter(counts))}{suffix}"
    return ", ".join(f"{prefix}{value}{suffix} ({count} runs)" for value, count in counts.most_common())


def _cell(mean: float, half: float) -> str:
    if math.isnan(mean):
        return "–"
    return f"{100 * mean:.1f}" + (f" ± {100 * half:.1f}" if not math.isnan(half) else "")


def _setting(group: Group, columns: Sequence[str]) -> list[str]:
    """The cells of a setting: method, batch size and temperature as the run resolved them; any
    other column only where the spec set it for this setting (blank: the spec's base)."""
    cells = []
    for key in columns:
        if key in _LEADING:
            value = group.value(key)
            cells.append(LABELS.get(value, value) if key == "method" else str(value))
        else:
            cells.append(_format(group.overrides[key]) if key in group.overrides else "")
    return cells


def _format(value: Any) -> str:
    """A setting's value in a table cell: an object as its ``pipeline`` (when given) then
    ``key value`` pairs, e.g. ``simclr, blur 0``; a list as its items."""
    if isinstance(value, dict):
        head = [str(value["pipeline"])] if "pipeline" in value else []
        return ", ".join(head + [f"{key} {_format(item)}" for key, item in sorted(value.items()) if key != "pipeline"])
    if isinstance(value, list):
        return "[" + ", ".join(_format(item) for item in value) + "]"
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def numeric(i: int) -> bool:  # by the column's first filled cell
        return i > 0 and _numeric(next((row[i] for row in rows if row[i]), ""))

    align = ["---:" if numeric(i) else "---" for i in range(len(header))]
    text = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    return "\n".join(text + ["| " + " | ".join(row) + " |" for row in rows])


def _numeric(cell: str) -> bool:
    head = cell.split(" ")[0].lstrip("+-−")
    return head.replace(".", "", 1).isdigit() or head == "–"


def _paired(a: dict, b: dict) -> list[float]:
    return [a[seed] - b[seed] for seed in sorted(a) if seed in b]


def markdown(lines: Sequence[dict], baseline: str | Sequence[str] = DEFAULT_BASELINES) -> str:
    """The Markdown tables of a sweep's result lines: every setting (mean ± 95% CI over seeds),
    the paired differences from each ``baseline`` method and from the base setting, and the
    per-seed spread over temperature."""
    baselines = _baselines(baseline)
    if not lines:
        raise DCLValueError("no result lines to report")
    if isinstance(lines, (str, bytes, dict)) or not isinstance(lines, Sequence):
        raise DCLTypeError(f"lines must be a list of result lines, got {type(lines).__name__}")
    for index, line in enumerate(lines):
        check_line(line, f"lines[{index}]")
    check_one_sweep(lines)
    found = groups(lines)
    columns = _columns(found)
    first = lines[0]
    hours = sum(line["seconds"] for line in lines) / 3600
    data = first["data"]
    out = [f"# Sweep `{first['sweep']}`: {len(lines)} runs",
           "",
           f"Data `{data['name']}` ({data['train_images']} training / {data['eval_images']} held-out images, "
           f"fingerprint {data['fingerprint']}); kNN k = {first['evaluation']['knn_k']}, "
           f"τ = {first['evaluation']['knn_temperature']}; {_tally(lines, 'dclkit', 'dclkit ')}; "
           f"{_tally(lines, 'cpu')}; {_tally(lines, 'threads', suffix=' threads per run')}; "
           f"{hours:.1f} hours of runs in all. Top-1 in %, mean ± 95% "
           "confidence interval over seeds (Student t). A blank cell is the spec's base value.",
           "", "## Every setting", ""]
    rows = []
    for group in found:
        cells = _setting(group, columns) + [str(len(group.lines))]
        cells += [_cell(*mean_ci(list(group.metric(name).values()))) for name, _ in METRICS]
        cells.append(f"{np.mean([line['seconds'] for line in group.lines.values()]) / 60:.1f}")
        rows.append(cells)
    out.append(_table(columns + ["seeds"] + [f"{label} (%)" for _, label in METRICS] + ["minutes per run"], rows))

    by_setting = {json.dumps(group.overrides, sort_keys=True): group for group in found}
    for method in baselines:
        rows = []
        for group in found:
            if group.method == method or "method" not in group.overrides:
                continue
            twin = by_setting.get(json.dumps({**group.overrides, "method": method}, sort_keys=True))
            if twin is None:
                continue
            rows.append(_setting(group, columns) + _differences(group, twin))
        out += _difference_table(f"Difference from {LABELS.get(method, method)} (paired by seed, percentage points)",
                                 columns, rows)
        out += _trend_over_batch_size(found, by_setting, method)

    rows = []
    for group in found:
        if not set(group.overrides) - set(_LEADING):
            continue
        twin = by_setting.get(json.dumps({k: v for k, v in group.overrides.items() if k in _LEADING}, sort_keys=True))
        if twin is not None:
            rows.append(_setting(group, columns) + _differences(group, twin))
    out += _difference_table("Difference from the base setting (the same method, batch size and temperature without "
                             "the changes in the row; paired by seed, percentage points)", columns, rows)

    rows = []
    for method, others, members in _families(found, "temperature"):
        cells = [LABELS.get(method, method), _describe(others), ", ".join(str(g.value("temperature")) for g in members)]
        for name, _ in METRICS:
            per_seed = [group.metric(name) for group in members]
            seeds = set.intersection(*(set(values) for values in per_seed))
            spreads = [max(v[s] for v in per_seed) - min(v[s] for v in per_seed) for s in sorted(seeds)]
            cells.append(_cell(*mean_ci(spreads)))
        rows.append(cells)
    if rows:
        out += ["", "## Spread over temperature (best − worst τ within a seed, percentage points)", "",
                _table(["method", "at", "τ"] + [f"spread of {label}" for _, label in METRICS], rows)]
    out += _last_epoch_diagnostics(found, columns)
    return "\n".join(out) + "\n"


def _baselines(baseline: str | Sequence[str]) -> tuple[str, ...]:
    """``baseline`` as a tuple of method names: one name, or a list or tuple of them."""
    names = (baseline,) if isinstance(baseline, str) else baseline
    if not isinstance(names, (list, tuple)) or not names or not all(isinstance(n, str) for n in names):
        raise DCLTypeError(f"baseline must be a method name (str) or a non-empty list of them, got {baseline!r}")
    unknown = [name for name in names if name not in LABELS]
    if unknown:
        raise DCLValueError(f"unknown baseline method {unknown[0]!r}; methods: {', '.join(LABELS)}")
    return tuple(dict.fromkeys(names))


def has_diagnostics(lines: Sequence[dict]) -> bool:
    """Whether any run's history records the NPC multiplier's median (``npc_p50``): sweeps from
    before the diagnostics have none, and their report skips the diagnostics' table and plots."""
    return any(record.get("npc_p50") is not None for line in lines for record in line["history"])


def _last_epoch_diagnostics(found: Sequence[Group], columns: Sequence[str]) -> list[str]:
    """The lines of the section "Diagnostics of the last epoch" (none when no run recorded them):
    per setting, the mean over seeds of q_B's median and 10th/90th percentiles and of the other
    diagnostics in each run's last epoch."""
    if not has_diagnostics([line for group in found for line in group.lines.values()]):
        return []
    keys = list(NPC) + [key for key, _ in DIAGNOSTICS]
    rows = []
    for group in found:
        last = [line["history"][-1] for line in group.lines.values() if line["history"]]
        cells = [str(len(last))]
        for key in keys:
            values = [record[key] for record in last if record.get(key) is not None]
            cells.append(f"{np.mean(values):.3f}" if values else "–")
        rows.append(_setting(group, columns) + cells)
    header = list(columns) + ["seeds", "q_B median", "q_B p10", "q_B p90", "pos. cos", "neg. cos", "alignment",
                              "uniformity", "collapse std"]
    return ["", "## Diagnostics of the last epoch (training batches, mean over seeds)", "",
            "q_B is InfoNCE's negative–positive coupling multiplier (its median and 10th / 90th percentile over the "
            "anchors of an epoch's batches), whatever the loss the run trained with.", "", _table(header, rows)]


def _trend_over_batch_size(found: Sequence[Group], by_setting: dict, baseline: str) -> list[str]:
    """The lines of the section "Difference against batch size" (none without a method run at
    three or more batch sizes, each beside ``baseline``): per metric, the least-squares slope of
    the per-seed paired differences on log₂ of the batch size, in points per doubling, with its
    95% interval (every seed of every size is one point)."""
    rows = []
    for method, others, members in _families(found, "batch_size"):
        twins: list[tuple[Group, Group]] = []
        for group in members:
            twin = by_setting.get(json.dumps({**group.overrides, "method": baseline}, sort_keys=True))
            if twin is not None:
                twins.append((group, twin))
        if method == baseline or len(twins) < 3:
            continue
        cells = [LABELS.get(method, method), _describe(others), ", ".join(str(group.value("batch_size")) for group, _ in twins)]
        for name, _ in METRICS:
            points = [(math.log2(group.value("batch_size")), d)
                      for group, twin in twins for d in _paired(group.metric(name), twin.metric(name))]
            slope, half = slope_ci([x for x, _ in points], [d for _, d in points])
            cells.append("–" if math.isnan(slope) else f"{100 * slope:+.2f} ± {100 * half:.2f} ({len(points)})")
        rows.append(cells)
    if not rows:
        return []
    label = LABELS.get(baseline, baseline)
    return ["", f"## Difference from {label} against batch size (least-squares slope per doubling, percentage points)",
            "", f"Each seed's paired difference from {label} at each batch size is one point (their count in "
            "brackets); the slope is fitted on log₂ of the batch size, with its 95% Student-t interval.", "",
            _table(["method", "at", "batch sizes"] + [f"Δ {label} per doubling" for _, label in METRICS], rows)]


def _difference_table(title: str, columns: Sequence[str], rows: list) -> list[str]:
    """The lines of a section of paired differences (none without rows)."""
    if not rows:
        return []
    return ["", f"## {title}", "", _table(list(columns) + ["seeds"] + [f"Δ {label}" for _, label in METRICS], rows)]


def _differences(group: Group, twin: Group) -> list[str]:
    """The seeds paired and, per metric, the mean ± 95% CI of ``group`` − ``twin`` over them."""
    cells, pairs = [], 0
    for name, _ in METRICS:
        diffs = _paired(group.metric(name), twin.metric(name))
        pairs = max(pairs, len(diffs))
        mean, half = mean_ci(diffs)
        cells.append("–" if math.isnan(mean) else f"{100 * mean:+.1f}" + ("" if math.isnan(half) else f" ± {100 * half:.1f}"))
    return [str(pairs)] + cells


def _describe(setting: dict) -> str:
    return ", ".join(f"{key} {_format(value)}" for key, value in sorted(setting.items())) or "–"


def _families(found: Sequence[Group], field: str) -> list[tuple[str, dict, list]]:
    """(method, the other overrides, groups ordered by ``field``) for every method run at two or
    more values of ``field`` with all other overrides equal."""
    families: dict[str, tuple[str, dict, list]] = {}
    for group in found:
        if field not in group.overrides:
            continue
        others = {key: value for key, value in group.overrides.items() if key not in (field, "method")}
        key = json.dumps([group.method, others], sort_keys=True)
        families.setdefault(key, (group.method, others, []))[2].append(group)
    out = []
    for method, others, members in families.values():
        if len(members) >= 2:
            out.append((method, others, sorted(members, key=lambda g: g.value(field))))
    return out


def plots(lines: Sequence[dict], out: PathLike) -> list[Path]:
    """Writes the PNG plots of the module docstring into the folder ``out``; returns their paths
    (a sweep that never varied batch size or temperature gets no plot for it)."""
    folder = Path(os.fspath(out))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise io_error(error, "create the report folder", folder) from None
    found = groups(lines)
    written = []
    for field, label in (("batch_size", "batch size"), ("temperature", "temperature τ")):
        families = _families(found, field)
        if families:
            written.append(_against(families, field, label, folder / f"top1_vs_{field}.png"))
    written.append(_curves(found, folder / "curves.png"))
    if has_diagnostics(lines):
        written.append(_npc(found, folder / "npc.png"))
        written.append(_diagnostics(found, folder / "diagnostics.png"))
    return written


def _by_batch_size(found: Sequence[Group]) -> list[tuple[int, list[Group]]]:
    """The groups by batch size (ascending), each with its groups in first-seen order."""
    sizes: dict[int, list[Group]] = {}
    for group in found:
        sizes.setdefault(group.value("batch_size"), []).append(group)
    return sorted(sizes.items())


def _line_labels(members: Sequence[Group]) -> list[str]:
    """A legend label per group of one panel: the method, then what else tells it apart."""
    varying = [key for key in _varying([group.overrides for group in members]) if key not in ("method", "batch_size")]
    return [", ".join([LABELS.get(group.method, group.method)] +
                      [_short({key: group.overrides[key]}) for key in varying if key in group.overrides])
            for group in members]


def _npc(found: Sequence[Group], path: Path) -> Path:
    """``npc.png``: q_B's median (mean over seeds) with its 10th–90th percentile band (the mean
    over seeds of each) against the epoch, one panel per batch size, one line per loss."""
    from matplotlib.ticker import MaxNLocator

    sizes = _by_batch_size(found)
    figure, axes = _figure(1, len(sizes), legend=True)
    for axis, (size, members) in zip(axes[0], sizes):
        for group, label in zip(members, _line_labels(members)):
            epochs, median, _ = _per_epoch(group, NPC[0])
            if not epochs:
                continue
            line, = axis.plot(epochs, median, marker="o", markersize=2, label=label)
            low, high = (_per_epoch(group, key) for key in NPC[1:])
            if low[0] and low[0] == high[0]:
                axis.fill_between(low[0], low[1], high[1], alpha=0.15, color=line.get_color(), linewidth=0)
        axis.set_ylim(0.0, 1.02)
        axis.set(xlabel="epoch", ylabel="q_B (InfoNCE's NPC multiplier)",
                 title=f"batch {size}: q_B median, 10th–90th percentile band")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        axis.grid(alpha=0.3)
    _row_legend(axes[0])
    save_figure(figure, path)
    return path


def _diagnostics(found: Sequence[Group], path: Path) -> Path:
    """``diagnostics.png``: each of ``DIAGNOSTICS`` against the epoch (mean over seeds with a
    95% band), one column per diagnostic, one row per batch size, one line per loss."""
    from matplotlib.ticker import MaxNLocator

    sizes = _by_batch_size(found)
    figure, axes = _figure(len(sizes), len(DIAGNOSTICS), legend=True)
    for row, (size, members) in zip(axes, sizes):
        for group, label in zip(members, _line_labels(members)):
            for axis, (key, _) in zip(row, DIAGNOSTICS):
                epochs, means, halves = _per_epoch(group, key)
                if not epochs:
                    continue
                line, = axis.plot(epochs, means, marker="o", markersize=2, label=label)
                axis.fill_between(epochs, means - halves, means + halves, alpha=0.2, color=line.get_color(), linewidth=0)
        for axis, (_, title) in zip(row, DIAGNOSTICS):
            axis.set(xlabel="epoch", title=f"batch {size}: {title}")
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
        _row_legend(row)
    save_figure(figure, path)
    return path


def _row_legend(row: Sequence[Any]) -> None:
    """One legend for a row of panels, beside its last panel, from the panel with most lines."""
    fullest = max(row, key=lambda axis: len(axis.lines))
    if fullest.lines:
        row[-1].legend(*fullest.get_legend_handles_labels(), fontsize="small", loc="upper left",
                       bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)


def _figure(rows: int, columns: int, legend: bool = False) -> tuple[Any, Any]:
    """A figure of ``rows`` × ``columns`` panels (with room for a legend beside the last column
    when ``legend``)."""
    require("matplotlib", "report", "dclkit.report")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    width = columns * PANEL_PIXELS[0] + (LEGEND_PIXELS if legend else 0)
    figure = Figure(figsize=(width / _DPI, rows * PANEL_PIXELS[1] / _DPI), dpi=_DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure, figure.subplots(rows, columns, squeeze=False)


def _against(families: list, field: str, label: str, path: Path) -> Path:
    from matplotlib.ticker import PercentFormatter

    figure, axes = _figure(1, len(METRICS))
    several = len({json.dumps(others, sort_keys=True) for _, others, _ in families}) > 1
    for axis, (name, title) in zip(axes[0], METRICS):
        for index, (method, others, members) in enumerate(families):
            dodge = 1.0 + 0.025 * (index - (len(families) - 1) / 2)  # side by side, so the bars do not hide each other
            xs = [g.value(field) * dodge for g in members]
            stats = [mean_ci(list(g.metric(name).values())) for g in members]
            means = [100 * m for m, _ in stats]
            halves = [0.0 if math.isnan(h) else 100 * h for _, h in stats]
            name_label = LABELS.get(method, method) + (f" ({_describe(others)})" if several else "")
            axis.errorbar(xs, means, yerr=halves, marker="o", markersize=4, capsize=3, label=name_label)
        axis.set_xscale("log", base=2 if field == "batch_size" else 10)
        axis.set_xticks(sorted({g.value(field) for _, _, members in families for g in members}))
        axis.get_xaxis().set_major_formatter("{x:g}")
        axis.minorticks_off()
        axis.yaxis.set_major_formatter(PercentFormatter(xmax=100.0))
        axis.set(xlabel=label, ylabel=title, title=f"{title} vs {label} (mean, 95% CI)")
        axis.grid(alpha=0.3)
        axis.legend()
    save_figure(figure, path)
    return path


def _curves(found: Sequence[Group], path: Path) -> Path:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    methods = list(dict.fromkeys(group.method for group in found))
    with_knn = any("knn_top1" in record for group in found for line in group.lines.values() for record in line["history"])
    figure, axes = _figure(len(methods), 2 if with_knn else 1, legend=True)
    for row, method in zip(axes, methods):
        members = [group for group in found if group.method == method]
        varying = _varying([group.overrides for group in members])
        for group in members:
            label = _short({key: group.overrides[key] for key in varying if key in group.overrides}) or LABELS.get(method, method)
            for axis, key, scale in zip(row, ("loss", "knn_top1"), (1.0, 100.0)):
                epochs, means, halves = _per_epoch(group, key)
                if not epochs:
                    continue
                line, = axis.plot(epochs, scale * means, marker="o", markersize=2, label=label)
                axis.fill_between(epochs, scale * (means - halves), scale * (means + halves), alpha=0.2,
                                  color=line.get_color(), linewidth=0)
        row[0].set(xlabel="epoch", ylabel="loss", title=f"{LABELS.get(method, method)}: training loss")
        if with_knn:
            row[1].yaxis.set_major_formatter(PercentFormatter(xmax=100.0, decimals=1))
            row[1].set(xlabel="epoch", ylabel="kNN top-1", title=f"{LABELS.get(method, method)}: kNN top-1 (held out)")
        for axis in row:
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            axis.grid(alpha=0.3)
        _row_legend(row)
    save_figure(figure, path)
    return path


_SHORT = {"batch_size": "B", "temperature": "τ"}


def _varying(settings: Sequence[dict]) -> list[str]:
    """The keys whose value is not the same in every one of ``settings`` (absent counts as a
    value), in first-seen order."""
    keys = list(dict.fromkeys(key for setting in settings for key in setting))
    return [key for key in keys if len({json.dumps(s.get(key), sort_keys=True) for s in settings}) > 1]


def _short(setting: dict) -> str:
    """A legend label: ``B 64, τ 0.1, lr 0.03``."""
    return ", ".join(f"{_SHORT.get(key, key)} {_format(value)}" for key, value in setting.items())


def _per_epoch(group: Group, key: str) -> tuple[list, np.ndarray, np.ndarray]:
    """Epochs where every seed recorded ``key``, with the mean and the CI half-width (0 where
    undefined) over seeds."""
    tables = [{record["epoch"]: record[key] for record in line["history"] if record.get(key) is not None}
              for line in group.lines.values()]
    epochs = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    stats = [mean_ci([t[e] for t in tables]) for e in epochs]
    means = np.array([m for m, _ in stats])
    halves = np.array([0.0 if math.isnan(h) else h for _, h in stats])
    return epochs, means, halves


def report(results: PathLike, out: Optional[PathLike] = None,
           baseline: str | Sequence[str] = DEFAULT_BASELINES) -> str:
    """Reads a results file, writes ``report.md`` and the plots to ``out`` (default: the results
    file's path without its suffix, e.g. ``results/dcl_cifar10/``) and returns the Markdown."""
    path = _path(results, "results")
    if not path.exists():
        raise DCLFileNotFoundError(f"no such results file: {path}")
    lines = read_results(path)
    if not lines:
        raise DCLValueError(f"{path} holds no finished runs")
    folder = _path(out, "out") if out is not None else path.with_suffix("")
    text = markdown(lines, baseline)
    written = plots(lines, folder)
    atomic_write(folder / "report.md", lambda file: file.write(text.encode()), "the report")
    return text + "\nWrote " + ", ".join(str(p) for p in [folder / "report.md", *written]) + "\n"

"""Sweeps: many pretraining runs from one spec, resumable, one JSON line per finished run.

A spec is a TOML or JSON file (or the same as a dict) with these keys::

    name = "dcl_cifar10"               # optional: default the spec file's stem
    [base]                             # TrainConfig fields shared by every run
    width = 0.25
    epochs = 30
    [[cross]]                          # lists crossed with each other (one table or several)
    method = ["simclr", "dcl", "dclw"]
    batch_size = [32, 64, 128, 256]
    seed = [0, 1, 2]
    [[runs]]                           # explicit extra rows (single values)
    method = "moco"
    batch_size = 128
    recipe = "moco_cifar"              # optional, base, cross or row: TrainConfig.moco_cifar(...)
    [data]                             # see dclkit.sweep_data.DataSpec
    path = "cifar10-train.tar"
    eval_per_class = 500
    [evaluation]
    knn_k = 200                        # final kNN: k and tau
    knn_temperature = 0.1
    linear_probe = true                # final linear probe on/off
    knn_every = 5                      # kNN curve during training every N epochs (0: none)

A top-level ``tensorboard = "runs/tb"`` (optional; relative to the working directory, needs the
``tensorboard`` extra) writes each run's TensorBoard event files to ``runs/tb/<run id>``
(:mod:`dclkit.tensorboard`); it is not part of a run's identity.

A run's fields are ``base``, then its cross or row values on top. Runs with the same resolved
configuration appear once. A run's id is a hash of its resolved configuration, the data's
identity (everything but the path) and the evaluation table (a field the core gained after
results were committed is left out of it at the default that computes what runs before it did,
``LATER_FIELDS``, so committed ids stay valid), so a restart skips every run whose
line is in the results file, and a run whose checkpoint is in the work folder (the results file
name with ``.work``) resumes from it. Each finished run appends one line to the results file:
``id``, ``sweep``, ``overrides`` (what its cross or row set), ``config`` (resolved), ``data``,
``evaluation``, ``history`` (per epoch), ``knn_top1``, ``linear_probe_top1`` (null when off),
``resumed_from_epoch`` (0 for a run trained in one go), ``seconds`` (wall time of the sitting
that finished it), ``train_seconds`` (sum over epochs, all sittings), ``threads``,
``matmul_precision`` (``dclkit.set_matmul_precision``'s setting, which ``jobs`` workers take from
the sweep's process), ``dclkit`` (version), ``cpu`` and ``finished`` (UTC).
"""
from __future__ import annotations

import concurrent.futures
import ctypes
import dataclasses
import errno
import fcntl
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import queue
import shutil
import signal
import stat
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional, Union

import numpy as np

from . import _arrays, evaluate, sweep_data
from ._files import atomic_write, io_error
from ._native import (
    DCLError,
    DCLFileNotFoundError,
    DCLFormatError,
    DCLIOError,
    DCLMemoryError,
    DCLStateError,
    DCLTypeError,
    DCLValueError,
)
from .config import TrainConfig

__all__ = ["Spec", "Run", "Evaluation", "MAX_RUNS", "load_spec", "plan", "read_results", "check_line", "sweep"]

PathLike = Union[str, "os.PathLike[str]"]

RECIPES: dict[str, Callable[..., TrainConfig]] = {"default": TrainConfig, "moco_cifar": TrainConfig.moco_cifar}
"""The constructors a spec's ``recipe`` key may name."""
MAX_RUNS = 100_000
"""The most runs a spec may hold; counted from the list lengths before any run is expanded, so a
spec that crosses to 10⁹ runs is refused at once instead of hanging while it expands."""
_TOP_KEYS = ("name", "base", "cross", "runs", "data", "evaluation", "tensorboard")
_CONFIG_FIELDS = frozenset(f.name for f in dataclasses.fields(TrainConfig))


@dataclass(frozen=True)
class Evaluation:
    """The ``[evaluation]`` table: the final kNN (``knn_k``, ``knn_temperature``), the final
    linear probe (``linear_probe``) and the kNN curve during training (every ``knn_every``
    epochs with the Trainer's monitor, k = 200, τ = 0.1; 0 for none)."""

    knn_k: int = evaluate.DEFAULT_K
    knn_temperature: float = evaluate.DEFAULT_TEMPERATURE
    linear_probe: bool = True
    knn_every: int = 0

    @classmethod
    def from_table(cls, table: Any) -> Evaluation:
        """The checked table (missing keys take the defaults)."""
        if not isinstance(table, Mapping):
            raise DCLTypeError(f"evaluation must be a table, got {type(table).__name__}")
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(table) - set(names))
        if unknown:
            raise DCLValueError(f"unknown key evaluation.{unknown[0]}; allowed: {', '.join(names)}")
        values = {**dataclasses.asdict(cls()), **table}
        for key in ("knn_k", "knn_every"):
            if isinstance(values[key], bool) or not isinstance(values[key], int):
                raise DCLTypeError(f"evaluation.{key} must be an int, got {type(values[key]).__name__}")
        if values["knn_k"] < 1 or values["knn_every"] < 0:
            raise DCLValueError(f"evaluation.knn_k must be >= 1 and evaluation.knn_every >= 0, got "
                                f"{values['knn_k']} and {values['knn_every']}")
        tau = values["knn_temperature"]
        if isinstance(tau, bool) or not isinstance(tau, (int, float)) or not (math.isfinite(tau) and tau > 0):
            raise DCLValueError(f"evaluation.knn_temperature must be a finite positive number, got {tau!r}")
        if not isinstance(values["linear_probe"], bool):
            raise DCLTypeError(f"evaluation.linear_probe must be true or false, got {values['linear_probe']!r}")
        return cls(values["knn_k"], float(tau), values["linear_probe"], values["knn_every"])


@dataclass(frozen=True)
class Run:
    """One run of a sweep: its id, what the spec set (``overrides``: cross or row values, with
    ``recipe`` when not the default) and its resolved configuration (``config``, the dict of
    ``TrainConfig.to_json``)."""

    id: str
    overrides: dict
    config: dict


@dataclass(frozen=True)
class Spec:
    """A checked sweep spec: ``name``, ``runs`` (in spec order, duplicates removed), ``data``,
    ``evaluation`` and ``tensorboard`` (the folder of the runs' event files, or None)."""

    name: str
    runs: tuple
    data: sweep_data.DataSpec
    evaluation: Evaluation
    tensorboard: Optional[str] = None


def load_spec(spec: Union[PathLike, Mapping[str, Any]], data: Optional[str] = None) -> Spec:
    """Reads and checks a spec (a ``.toml`` or ``.json`` path, or a dict).

    Parameters
    ----------
    spec : path or dict
    data : str, optional
        Replaces ``data.path`` (the command line's ``--data``).

    Raises
    ------
    DCLValueError, DCLTypeError
        The message names the key (``cross[1].batch_size``, ``runs[0]: ...``, ``data.path``).
    DCLFileNotFoundError
        No such spec file (a ``FileNotFoundError`` too).
    DCLFormatError, DCLIOError
        A spec file that is not UTF-8 TOML / JSON, nested too deeply, or cannot be read.
    """
    name = "sweep"
    if isinstance(spec, Mapping):
        _check_depth(spec, "the spec")
        table = dict(spec)
    else:
        path = _path(spec, "spec").expanduser()
        table, name = _read_spec_file(path), path.stem
    for key in table:
        if not isinstance(key, str):
            raise DCLTypeError(f"spec keys must be strings, got {key!r:.100}")
    unknown = sorted(set(table) - set(_TOP_KEYS))
    if unknown:
        raise DCLValueError(f"unknown key {unknown[0]!r} in the spec; allowed: {', '.join(_TOP_KEYS)}")
    name = table.get("name", name)
    if not isinstance(name, str) or not name or "/" in name:
        raise DCLValueError(f"name must be a non-empty string without '/', got {name!r}")
    base = table.get("base", {})
    _check_fields(base, "base")
    data_spec = sweep_data.DataSpec.from_table(table.get("data", {}), data)
    evaluation = Evaluation.from_table(table.get("evaluation", {}))
    tensorboard = table.get("tensorboard")
    if tensorboard is not None and (not isinstance(tensorboard, str) or not tensorboard or "\0" in tensorboard):
        raise DCLValueError(f"tensorboard must be a non-empty folder path without NUL bytes, got {tensorboard!r:.200}")
    cross, explicit = table.get("cross", []), table.get("runs", [])
    _check_run_count(cross, explicit)
    rows = list(_cross_rows(cross)) + list(_explicit_rows(explicit))
    if not rows:
        raise DCLValueError("the spec has no runs: give a [cross] table or [[runs]] rows")
    runs, seen = [], set()
    for where, overrides in rows:
        run = _resolve(base, overrides, where, data_spec, evaluation)
        if run.id not in seen:
            seen.add(run.id)
            runs.append(run)
    return Spec(name, tuple(runs), data_spec, evaluation, tensorboard)


def plan(spec: Union[PathLike, Mapping[str, Any]], data: Optional[str] = None) -> list[Run]:
    """The runs of a spec, in the order a sweep runs them."""
    return list(load_spec(spec, data).runs)


MAX_SPEC_BYTES = 16 << 20
"""The largest spec file read (a real one is a few kB)."""
MAX_RESULTS_BYTES = 4 << 30
"""The largest results file read (MAX_RUNS lines of a long run's history fit); it must also fit
three times in the memory available, for its bytes, its text and its lines."""


def _read_text(path: Path, what: str, limit: int) -> str:
    """The UTF-8 text of a spec or results file; a missing file, a folder, a device, a file
    larger than ``limit`` bytes (or than the memory can hold) or bytes that are not UTF-8 are
    DCLErrors naming the file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise DCLIOError(f"{what} {path} is not a regular file")
            if info.st_size > limit:
                raise DCLFormatError(f"{what} {path} is larger than {limit >> 20} MiB")
            available = _arrays.available_memory()
            if available and 3 * info.st_size > available:
                raise DCLMemoryError(f"{what} {path} ({info.st_size >> 20} MiB) does not fit the memory available")
            with os.fdopen(os.dup(fd), "rb") as file:
                data = file.read(limit + 1)
        finally:
            os.close(fd)
    except FileNotFoundError:
        raise DCLFileNotFoundError(f"no such {what}: {path}") from None
    except DCLError:
        raise
    except OSError as error:
        raise io_error(error, f"read {what}", path) from None
    if len(data) > limit:
        raise DCLFormatError(f"{what} {path} is larger than {limit >> 20} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DCLFormatError(f"{what} {path} is not UTF-8 text (byte {error.start})") from None


def _parse_json(text: str, where: str) -> Any:
    """``json.loads`` whose every failure (bad syntax, nesting deeper than Python's recursion
    limit, a number too long to convert) is a DCLFormatError naming ``where``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise DCLFormatError(f"{where} is not valid JSON ({reason})") from None


def _read_spec_file(path: Path) -> dict:
    if path.suffix not in (".toml", ".json"):
        raise DCLValueError(f"spec {path} must end in .toml or .json")
    text = _read_text(path, "spec file", MAX_SPEC_BYTES)
    if path.suffix == ".toml":
        if sys.version_info >= (3, 11):
            import tomllib
        else:  # the same parser before Python 3.11: a dependency there (pyproject.toml)
            import tomli as tomllib

        try:
            table = tomllib.loads(text)
        except (tomllib.TOMLDecodeError, RecursionError) as error:
            reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
            raise DCLFormatError(f"{path} is not valid TOML ({reason})") from None
    else:
        table = _parse_json(text, str(path))
    if not isinstance(table, dict):
        raise DCLFormatError(f"{path} must hold a JSON object (a table)")
    _check_depth(table, str(path))
    return table


_MAX_DEPTH = 32
"""The deepest nesting a spec or a results line may have (a real one nests 4 levels)."""


def _check_depth(value: Any, where: str, error: type = DCLValueError) -> None:
    """Refuses containers nested deeper than ``_MAX_DEPTH`` (or holding themselves), iteratively,
    before any recursive code sees them."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, Mapping):
            children = list(item.values())
        elif isinstance(item, (list, tuple)):
            children = list(item)
        else:
            continue
        if depth >= _MAX_DEPTH:
            raise error(f"{where} is nested more than {_MAX_DEPTH} levels deep (or contains itself)")
        stack.extend((child, depth + 1) for child in children)


def _cross_tables(cross: Any) -> list:
    tables = [cross] if isinstance(cross, Mapping) else cross
    if not isinstance(tables, list):
        raise DCLTypeError(f"cross must be a table or a list of tables, got {type(cross).__name__}")
    for index, table in enumerate(tables):
        where = f"cross[{index}]"
        _check_fields(table, where)
        if not table:
            raise DCLValueError(f"{where} is empty")
        for key, values in table.items():
            if not isinstance(values, list) or not values:
                raise DCLValueError(f"{where}.{key} must be a non-empty list of values, got {values!r:.200}")
    return tables


def _check_run_count(cross: Any, explicit: Any) -> None:
    """Refuses a spec of more than ``MAX_RUNS`` runs from the product of its list lengths, before
    anything is expanded."""
    if not isinstance(explicit, list):
        raise DCLTypeError(f"runs must be a list of tables ([[runs]]), got {type(explicit).__name__}")
    total = len(explicit)
    for table in _cross_tables(cross):
        total += math.prod(len(values) for values in table.values())
        if total > MAX_RUNS:
            break
    if total > MAX_RUNS:
        raise DCLValueError(f"the spec crosses to more than {MAX_RUNS:,} runs (dclkit.sweep.MAX_RUNS); "
                            "split it into several specs")


def _check_fields(table: Any, where: str) -> None:
    if not isinstance(table, Mapping):
        raise DCLTypeError(f"{where} must be a table, got {type(table).__name__}")
    for key in table:
        if key != "recipe" and key not in _CONFIG_FIELDS:
            raise DCLValueError(f"unknown key {where}.{key}: not a TrainConfig field (nor 'recipe')")


def _cross_rows(cross: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for index, table in enumerate(_cross_tables(cross)):
        keys = list(table)
        for combination in itertools.product(*(table[key] for key in keys)):
            yield f"cross[{index}]", dict(zip(keys, combination))


def _explicit_rows(rows: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    if not isinstance(rows, list):
        raise DCLTypeError(f"runs must be a list of tables ([[runs]]), got {type(rows).__name__}")
    for index, row in enumerate(rows):
        where = f"runs[{index}]"
        _check_fields(row, where)
        yield where, dict(row)


# Configuration fields the core gained after study results were committed, with the value that
# computes what every run before them computed: at that value a field stays out of a run's id.
LATER_FIELDS: dict[str, Any] = {"view_batchnorm": "joint"}


def _resolve(base: Mapping, overrides: dict, where: str, data: sweep_data.DataSpec, evaluation: Evaluation) -> Run:
    fields = {**base, **overrides}
    recipe = fields.pop("recipe", "default")
    if not isinstance(recipe, str) or recipe not in RECIPES:
        raise DCLValueError(f"{where}: unknown recipe {recipe!r:.200}; choose one of {', '.join(RECIPES)}")
    try:
        config = RECIPES[recipe](**fields)
    except (ValueError, TypeError, RecursionError) as error:
        kind = type(error) if isinstance(error, DCLError) else (DCLTypeError if isinstance(error, TypeError)
                                                                 else DCLValueError)
        raise kind(f"{where}: {error}") from None
    resolved = json.loads(config.to_json())
    identified = {key: value for key, value in resolved.items() if key not in LATER_FIELDS or LATER_FIELDS[key] != value}
    identity = json.dumps({"config": identified, "data": data.identity(), "evaluation": dataclasses.asdict(evaluation)},
                          sort_keys=True)
    run_id = hashlib.sha256(identity.encode()).hexdigest()[:16]
    if recipe != "default":
        overrides = {**overrides, "recipe": recipe}
    return Run(run_id, overrides, resolved)


# ---- results file ------------------------------------------------------------------------------

def _path(value: Any, what: str) -> Path:
    """A path argument as a ``Path``; anything else is a DCLTypeError naming it."""
    return Path(os.fsdecode(_arrays.path(value, what)))


_NUMBER = (int, float)
# What every result line holds, as the report reads it: key -> accepted types (None: null allowed).
_LINE_FIELDS = {
    "id": (str,), "sweep": (str,), "overrides": (dict,), "config": (dict,), "data": (dict,),
    "evaluation": (dict,), "history": (list,), "knn_top1": (*_NUMBER, type(None)),
    "linear_probe_top1": (*_NUMBER, type(None)), "seconds": _NUMBER, "threads": (int,), "dclkit": (str,),
    "cpu": (str,),
}
_NESTED_FIELDS: dict[str, dict[str, tuple[type, ...]]] = {
    "config": {"method": (str,), "seed": (int,), "batch_size": (int,)},
    "data": {"name": (str,), "train_images": (int,), "eval_images": (int,), "fingerprint": (str,)},
    "evaluation": {"knn_k": (int,), "knn_temperature": _NUMBER},
}
_OPTIONAL_CONFIG_FIELDS: dict[str, tuple[type, ...]] = {"temperature": _NUMBER}
"""Configuration fields the report reads where a method has them (the contrastive losses'
temperature; BYOL, SimSiam, Barlow Twins and VICReg have none)."""
_HISTORY_FIELDS = {"epoch": (int,), "loss": (*_NUMBER, type(None)), "knn_top1": (*_NUMBER, type(None))}


def _check_type(value: Any, types: tuple, where: str) -> None:
    if isinstance(value, bool) or not isinstance(value, types):
        names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise DCLFormatError(f"{where} must be {names}, got {type(value).__name__}")


def check_line(line: Any, where: str) -> dict:
    """A results line checked field by field (what the report and the sweep read from it), so a
    line of the wrong shape is a DCLFormatError naming the file, the line and the field, never a
    KeyError or TypeError later. Returns the line."""
    if not isinstance(line, dict):
        raise DCLFormatError(f"{where} is not a result line (a JSON object), got {type(line).__name__}")
    _check_depth(line, where, DCLFormatError)
    for key, types in _LINE_FIELDS.items():
        if key not in line:
            raise DCLFormatError(f"{where} is not a result line: no {key!r}")
        _check_type(line[key], types, f"{where}: {key}")
    for table, fields in _NESTED_FIELDS.items():
        for key, types in fields.items():
            if key not in line[table]:
                raise DCLFormatError(f"{where}: {table} has no {key!r}")
            _check_type(line[table][key], types, f"{where}: {table}.{key}")
    for key, types in _OPTIONAL_CONFIG_FIELDS.items():
        if key in line["config"]:
            _check_type(line["config"][key], types, f"{where}: config.{key}")
    for index, record in enumerate(line["history"]):
        if not isinstance(record, dict):
            raise DCLFormatError(f"{where}: history[{index}] must be an object, got {type(record).__name__}")
        for key, types in _HISTORY_FIELDS.items():
            if key in record or key != "knn_top1":
                if key not in record:
                    raise DCLFormatError(f"{where}: history[{index}] has no {key!r}")
                _check_type(record[key], types, f"{where}: history[{index}].{key}")
    return line


def read_results(path: PathLike) -> list[dict]:
    """The lines of a results file, in order, each checked (:func:`check_line`); a torn last
    line (a crash mid-write: no newline after it and not a whole result) is ignored, a run id
    seen before is skipped (the first line wins). A missing file is empty.

    Raises
    ------
    DCLFormatError
        A line that is not a result line, naming the file, the line and the field.
    DCLIOError
        The path is a folder or a device, or cannot be read.
    """
    file = _path(path, "results")
    try:
        text = _read_text(file, "results file", MAX_RESULTS_BYTES)
    except DCLFileNotFoundError:
        return []
    lines, seen = [], set()
    rows = text.split("\n")
    for number, row in enumerate(rows, start=1):
        if not row.strip():
            continue
        where = f"{file}:{number}"
        try:
            line = check_line(_parse_json(row, where), where)
        except DCLFormatError:
            if number == len(rows):  # no newline after it: the write never finished
                break
            raise
        if line["id"] not in seen:
            seen.add(line["id"])
            lines.append(line)
    return lines


def _append_line(path: Path, line: dict) -> None:
    """Appends one JSON line under an exclusive lock, then fsyncs and reads it back. An
    unterminated last line is repaired first: a whole result line gets its newline (so it is not
    lost, nor glued to the new one), a torn one (a crash mid-write) is cut off."""
    text = (json.dumps(line) + "\n").encode()
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as error:
        raise io_error(error, "append to the results file", path) from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise DCLIOError(f"cannot append to the results file {path}: it is not a regular file")
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            start = os.pread(fd, size, 0).rfind(b"\n") + 1
            tail = os.pread(fd, size - start, start)
            try:
                check_line(_parse_json(tail.decode("utf-8"), f"{path}:end"), f"{path}:end")
                _write_all(fd, b"\n")
            except (DCLFormatError, UnicodeDecodeError):
                os.ftruncate(fd, start)
        offset = os.fstat(fd).st_size
        _write_all(fd, text)
        os.fsync(fd)
        if os.pread(fd, len(text) + 1, offset) != text:
            raise DCLIOError(f"the line appended to {path} does not read back (another writer, or the disk)")
    except DCLError:
        raise
    except OSError as error:
        raise io_error(error, "append to the results file", path) from None
    finally:
        os.close(fd)


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise io_error(error, "create the folder", folder) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for row in info:
                if row.startswith("model name"):
                    return row.split(":", 1)[1].strip()
    except OSError:
        pass
    import platform

    return platform.processor() or platform.machine()


# ---- one run ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Sitting:
    """What every run of one sweep invocation shares (sent once to each worker process)."""

    name: str
    data: dict
    evaluation: Evaluation
    work: Path
    results: Path
    tensorboard: Optional[str] = None


def _execute(run: Run, data: sweep_data.SweepData, sitting: _Sitting, notify: Callable[[tuple], None]) -> None:
    """Trains (or resumes from its checkpoint) one run, evaluates it, appends its line, then
    removes its checkpoint folder. ``notify`` gets ("start", id, epoch resumed from),
    ("epoch", id, epoch) after each epoch and ("done", id, summary text)."""
    import dclkit

    from . import evaluate
    from .trainer import Trainer

    started = time.perf_counter()
    folder = sitting.work / run.id
    _make_folder(folder)
    checkpoint = folder / "checkpoint.safetensors"
    if checkpoint.exists():
        trainer = Trainer.resume(checkpoint)
        if json.loads(trainer.config.to_json()) != run.config:
            raise DCLStateError(f"{checkpoint} holds another configuration than run {run.id}; delete it")
    else:
        trainer = Trainer(TrainConfig.from_json(json.dumps(run.config)))
    resumed_from = trainer.epoch
    notify(("start", run.id, resumed_from))
    every = sitting.evaluation.knn_every
    eval_data = (data.x_train, data.y_train, data.x_eval, data.y_eval) if every else None
    tensorboard = None if sitting.tensorboard is None else Path(sitting.tensorboard) / run.id
    trainer.fit(data.x_train, eval_data=eval_data, eval_every=max(every, 1), checkpoint=checkpoint, progress=False,
                callbacks=[lambda _trainer, record: notify(("epoch", run.id, record["epoch"]))], tensorboard=tensorboard)
    train_feats, eval_feats = trainer.embed(data.x_train), trainer.embed(data.x_eval)
    knn = evaluate.knn(train_feats, data.y_train, eval_feats, data.y_eval, k=sitting.evaluation.knn_k,
                       temperature=sitting.evaluation.knn_temperature)
    probe = (evaluate.linear_probe(train_feats, data.y_train, eval_feats, data.y_eval)
             if sitting.evaluation.linear_probe else None)
    line = {
        "id": run.id, "sweep": sitting.name, "overrides": run.overrides, "config": run.config,
        "data": {**sitting.data, **data.summary()}, "evaluation": dataclasses.asdict(sitting.evaluation),
        "history": trainer.history, "knn_top1": knn, "linear_probe_top1": probe, "resumed_from_epoch": resumed_from,
        "seconds": time.perf_counter() - started, "train_seconds": sum(h["seconds"] for h in trainer.history),
        "threads": dclkit.get_num_threads(), "matmul_precision": dclkit.get_matmul_precision(), "dclkit": dclkit.__version__,
        "cpu": _cpu_model(),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    _append_line(sitting.results, line)
    shutil.rmtree(folder, ignore_errors=True)
    summary = f"kNN {100 * knn:.1f}%" + (f", linear probe {100 * probe:.1f}%" if probe is not None else "")
    notify(("done", run.id, f"{_label(run)}: {summary}, {line['seconds']:.0f} s"))


def _label(run: Run) -> str:
    """A short label of a run: its id and overrides, e.g. ``3f2a… method=dcl batch_size=64 seed=0``."""
    return f"{run.id[:8]} " + " ".join(f"{key}={value}" for key, value in run.overrides.items())


# ---- worker processes (--jobs) -----------------------------------------------------------------

_worker: dict[str, Any] = {}


def _worker_start(threads: int, precision: str, messages: Any, arrays: dict, fingerprint: str, sitting: _Sitting,
                  parent: int) -> None:
    """Initialises a worker process: dies with the sweep process (so a killed sweep leaves no
    run behind), sets its threads and the sweep process's matmul precision, maps the data the
    sweep saved."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)
    import dclkit

    dclkit.set_num_threads(threads)
    dclkit.set_matmul_precision(precision)
    loaded = {key: np.load(path, mmap_mode="r") for key, path in arrays.items()}
    _worker.update(data=sweep_data.SweepData(**loaded, fingerprint=fingerprint), messages=messages, sitting=sitting)


def _worker_run(run: Run) -> None:
    _execute(run, _worker["data"], _worker["sitting"], _worker["messages"].put)


# ---- the sweep -------------------------------------------------------------------------------

class _Progress:
    """One bar over every epoch of the sweep, with runs done / total."""

    def __init__(self, runs: list, finished: set, enabled: bool, name: str) -> None:
        self.total = len(runs)
        self.done = sum(run.id in finished for run in runs)
        self.bar = None
        if enabled:
            from tqdm.auto import tqdm

            epochs = [run.config["epochs"] for run in runs]
            done = sum(e for run, e in zip(runs, epochs) if run.id in finished)
            self.bar = tqdm(total=sum(epochs), initial=done, unit="epoch", desc=name, dynamic_ncols=True)
            self.bar.set_postfix_str(f"runs {self.done}/{self.total}")

    def __call__(self, message: tuple) -> None:
        kind, _, value = message
        if kind == "done":
            self.done += 1
        if self.bar is None:
            return
        if kind == "start" and value:
            self.bar.update(value)
        elif kind == "epoch":
            self.bar.update(1)
        elif kind == "done":
            self.bar.write(value)
        self.bar.set_postfix_str(f"runs {self.done}/{self.total}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def sweep(spec: Union[PathLike, Mapping[str, Any]], jobs: int = 1, results: Optional[PathLike] = None,
          data: Optional[str] = None, progress: bool = True) -> list[dict]:
    """Runs every run of a spec that its results file does not hold yet.

    Parameters
    ----------
    spec : path or dict
        A ``.toml`` / ``.json`` spec or the same as a dict (see the module docstring).
    jobs : int
        Runs at a time, each in its own process with ``max(1, cores // jobs)`` native threads
        (``jobs`` is capped at the number of runs left). 1 runs them one by one in this process.
        The processes are spawned, so a script that passes ``jobs > 1`` calls this under
        ``if __name__ == "__main__":``.
    results : path, optional
        The JSON-lines results file (default ``results/<name>.jsonl``); checkpoints of unfinished
        runs live in the folder beside it with the suffix ``.work`` (removed once all are done).
    data : str, optional
        Replaces the spec's ``data.path``.
    progress : bool
        One tqdm bar over all epochs, with runs done / total, and a line per finished run.

    Returns
    -------
    list of dict
        The result lines of the spec's runs (finished before or now), in file order.

    Raises
    ------
    DCLStateError
        Another sweep holds the same results file (reached by whatever path: the lock is on its
        real path), or some runs failed (the others still ran; the message names the failed runs
        and their errors).
    DCLIOError, DCLFormatError
        The results file or its folder cannot be made, read or written, or holds a line that is
        not a result line (the message names the file, the line and the field).
    DCLValueError
        The spec holds more than ``MAX_RUNS`` runs.

    Examples
    --------
    >>> lines = dclkit.sweep("studies/dcl_cifar10.toml", jobs=2, data="cifar10-train.tar")
    """
    import dclkit

    checked = load_spec(spec, data)
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise DCLValueError(f"jobs must be a positive int, got {jobs!r}")
    spelled = _path(results, "results") if results is not None else Path("results") / f"{checked.name}.jsonl"
    path, work, lock = _take_results(spelled)
    try:
        finished = {line["id"] for line in read_results(path)}
        for run_id in finished:  # a run killed after its line was written, before its folder was removed
            shutil.rmtree(work / run_id, ignore_errors=True)
        runs = list(checked.runs)
        pending = [run for run in runs if run.id not in finished]
        failures: list[str] = []
        if pending:
            loaded = sweep_data.load(checked.data)
            sitting = _Sitting(checked.name, checked.data.identity(), checked.evaluation, work, path,
                               None if checked.tensorboard is None else os.path.abspath(os.path.expanduser(checked.tensorboard)))
            bar = _Progress(runs, finished, progress, checked.name)
            workers = min(jobs, len(pending))
            threads = max(1, (os.cpu_count() or 1) // workers)
            try:
                if workers == 1:
                    previous = dclkit.get_num_threads()
                    dclkit.set_num_threads(threads)
                    try:
                        for run in pending:
                            try:
                                _execute(run, loaded, sitting, bar)
                            except dclkit.DCLError as error:
                                failures.append(f"{_label(run)}: {error}")
                    finally:
                        dclkit.set_num_threads(previous)
                else:
                    failures = _run_pool(pending, loaded, sitting, workers, threads, bar)
            finally:
                bar.close()
        if not failures:  # every run has its line: its checkpoint and the data copy are no longer needed
            for leftover in [work / "data", *(work / run.id for run in runs)]:
                shutil.rmtree(leftover, ignore_errors=True)
            if {entry.name for entry in work.iterdir()} == {".lock"}:  # no other spec's run is waiting here
                shutil.rmtree(work, ignore_errors=True)
    finally:
        os.close(lock)
    if failures:
        raise DCLStateError(f"{len(failures)} of {len(pending)} runs failed (the others were recorded; "
                            "a restart retries them):\n" + "\n".join(failures))
    ids = {run.id for run in runs}
    return [line for line in read_results(path) if line["id"] in ids]


def _take_results(spelled: Path) -> tuple[Path, Path, int]:
    """The results file a sweep writes, its work folder and the held lock of that folder.

    The path is resolved first (symlinks, ``..``, relative spellings), so two sweeps that reach
    one results file by different paths share one work folder and one lock: the second is
    refused (DCLStateError) instead of running every run again. A folder that cannot be made or
    written, or a results path that is a folder, is a DCLIOError naming it."""
    try:
        path = Path(os.path.realpath(spelled))
        if path.is_dir():
            raise DCLIOError(f"the results file {spelled} is a folder")
        if path.exists() and not path.is_file():
            raise DCLIOError(f"the results file {spelled} is not a regular file")
        path.parent.mkdir(parents=True, exist_ok=True)
        work = path.with_name(path.stem + ".work")
        work.mkdir(exist_ok=True)
        lock = os.open(work / ".lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0), 0o644)
    except DCLError:
        raise
    except OSError as error:
        raise io_error(error, "prepare the results file", error.filename or spelled) from None
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as error:
        os.close(lock)
        if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
            raise io_error(error, "lock the work folder", work) from None
        shown = f"{spelled} (that is {path})" if path != Path(os.path.abspath(spelled)) else str(spelled)
        raise DCLStateError(f"another sweep is writing {shown} (its work folder {work} is locked)") from None
    return path, work, lock


def _run_pool(pending: list, loaded: sweep_data.SweepData, sitting: _Sitting, workers: int, threads: int,
              bar: _Progress) -> list[str]:
    """Runs ``pending`` in ``workers`` spawned processes; returns the failures' descriptions."""
    import dclkit

    from ._native import DCLError

    folder = sitting.work / "data" / loaded.fingerprint
    _make_folder(folder)
    arrays = {}
    for key in ("x_train", "y_train", "x_eval", "y_eval"):
        target = folder / f"{key}.npy"
        if not target.exists():
            array = getattr(loaded, key)
            atomic_write(target, lambda file: np.save(file, array), "the sweep's data copy")  # noqa: B023 -- called at once
        arrays[key] = str(target)
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    failures: list[str] = []

    def drain() -> None:
        while True:
            try:
                bar(messages.get_nowait())
            except queue.Empty:
                return

    with concurrent.futures.ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=_worker_start,
            initargs=(threads, dclkit.get_matmul_precision(), messages, arrays, loaded.fingerprint, sitting,
                      os.getpid())) as pool:
        futures = {pool.submit(_worker_run, run): run for run in pending}
        waiting = set(futures)
        try:
            while waiting:
                done, waiting = concurrent.futures.wait(waiting, timeout=0.2)
                drain()
                for future in done:
                    error = future.exception()
                    if isinstance(error, DCLError):
                        failures.append(f"{_label(futures[future])}: {error}")
                    elif error is not None:
                        raise error
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        drain()
    return failures

"""Property tests over sweep specs, results files, the report and the command line's arguments
(issue 23, family 6). Every outcome is a correct result or a ``DCLError`` (the command line: exit
0, or exit 2 with one line ``error: ...``), never a signal, a hang or a foreign exception; each
case runs in the worker process. No case trains: spec data paths do not exist.
"""
from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import HealthCheck, given
from hypothesis import strategies as st

from fuzz_support import check, fuzz_settings, module_worker
from test_report import make_line

worker = pytest.fixture(scope="module")(module_worker)
_settings = fuzz_settings
FUNCTION_SCOPED = HealthCheck.function_scoped_fixture


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Files the command-line cases name: hostile specs and results, a folder, a plain file."""
    root = tmp_path_factory.mktemp("cli")
    (root / "deep.json").write_text("{\"a\": " * 5000 + "1" + "}" * 5000)
    (root / "latin.toml").write_bytes(b"name = \"caf\xe9\"\n")
    (root / "nodata.json").write_text(json.dumps({"cross": {"seed": [0, 1]}, "data": {"path": "nowhere.npz"}}))
    (root / "wide.toml").write_text("[cross]\n" + "\n".join(f"{key} = {list(range(200))}"
                                                             for key in ("seed", "epochs", "warmup_epochs")))
    (root / "dir.jsonl").mkdir()
    (root / "plain").write_text("x")
    line = make_line("dcl", 32, 0.1, 0, np.random.default_rng(0))
    (root / "one.jsonl").write_text(json.dumps(line) + "\n")
    (root / "mixed.jsonl").write_text(json.dumps(line) + "\n" + json.dumps({**line, "id": "b", "sweep": "other"}) + "\n")
    (root / "torn.jsonl").write_text(json.dumps(line)[:-7])
    return root


KEYS = ["name", "base", "cross", "runs", "data", "evaluation", "recipe", "seed", "method", "batch_size",
        "temperature", "epochs", "width", "path", "eval_per_class", "image_size", "knn_k", "knn_temperature",
        "linear_probe", "knn_every", "augment", "bogus"]
scalars = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(allow_nan=True)
           | st.sampled_from(["dcl", "simclr", "moco_cifar", "default", "nowhere.npz", "", "a/b", "\0", "\udcff"]))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(KEYS), inner,
                                                                                        max_size=4), max_leaves=12)


@st.composite
def spec_tables(draw):
    """A spec close enough to a real one to reach the deep checks: real keys and values, with
    hostile ones mixed in."""
    table = draw(st.dictionaries(st.sampled_from(["name", "base", "cross", "runs", "data", "evaluation", "bogus"]),
                                 values, max_size=5))
    if draw(st.booleans()):
        table["cross"] = draw(st.dictionaries(st.sampled_from(["seed", "method", "batch_size", "temperature", "recipe"]),
                                              st.lists(scalars, min_size=1, max_size=3) | scalars, min_size=1, max_size=3))
    if draw(st.booleans()):
        table["data"] = {"path": "nowhere.npz", **draw(st.dictionaries(st.sampled_from(KEYS), scalars, max_size=2))}
    return table


@given(table=spec_tables())
@_settings(80, FUNCTION_SCOPED)
def test_specs_as_dicts_load_or_raise_dcl_errors(worker, tmp_path, table):
    check(worker.run("spec", table, None, ".json", str(tmp_path)), table)


@given(table=spec_tables(), suffix=st.sampled_from([".json", ".toml"]),
       damage=st.sampled_from(["none", "truncate", "latin1", "nest", "bytes"]), cut=st.integers(0, 400),
       noise=st.binary(max_size=40))
@_settings(60, FUNCTION_SCOPED)
def test_spec_files_load_or_raise_dcl_errors(worker, tmp_path, table, suffix, damage, cut, noise):
    text = json.dumps(table, default=str).encode("utf-8", "surrogatepass")
    if damage == "truncate":
        text = text[:cut]
    elif damage == "latin1":
        text = text + b"\xe9\xff"
    elif damage == "nest":
        text = b"[" * (cut * 50) + b"]" * (cut * 50)
    elif damage == "bytes":
        text = noise
    check(worker.run("spec", None, text, suffix, str(tmp_path)), (table, suffix, damage))


@st.composite
def results_files(draw):
    """Results files: real lines, some with a field removed or retyped, torn, non-UTF-8, nested
    deeply or from another sweep."""
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rows = []
    for index in range(draw(st.integers(0, 4))):
        line = make_line(draw(st.sampled_from(["dcl", "simclr"])), 32, 0.1, draw(st.integers(0, 2)), rng)
        line["id"] = f"run-{index}"
        change = draw(st.sampled_from(["none", "none", "drop", "retype", "nested", "sweep"]))
        if change == "drop":
            line.pop(draw(st.sampled_from(sorted(line))))
        elif change == "retype":
            key = draw(st.sampled_from(sorted(line)))
            line[key] = draw(scalars | st.lists(scalars, max_size=2))
        elif change == "nested":
            where = draw(st.sampled_from(["config", "data", "evaluation"]))
            line[where] = {**line[where], draw(st.sampled_from(["seed", "name", "knn_k", "method"])): draw(values)}
        elif change == "sweep":
            line["sweep"] = "another"
        rows.append(json.dumps(line, default=str).encode("utf-8", "surrogatepass"))
    data = b"\n".join(rows) + draw(st.sampled_from([b"\n", b"", b"\n{\"id\": \"torn", b"\n\xff\xfe\n", b"\n[[[[1]]]]\n"]))
    return data


@given(data=results_files())
@_settings(60, FUNCTION_SCOPED)
def test_results_files_read_and_report_or_raise_dcl_errors(worker, tmp_path, data):
    check(worker.run("results", data, str(tmp_path), False), data[:300])


@given(data=results_files())
@_settings(8, FUNCTION_SCOPED)
def test_reports_write_their_files_or_raise_dcl_errors(worker, tmp_path, data):
    check(worker.run("results", data, str(tmp_path), True), data[:300])


TOKENS = ["deep.json", "latin.toml", "nodata.json", "wide.toml", "dir.jsonl", "plain", "one.jsonl", "mixed.jsonl",
          "torn.jsonl", "missing.json", "/dev/full", "/dev/null", "", "plain/x", "-1", "0", "2", "1e9", "x" * 300,
          "nowhere.npz", "builtin:nonsense", "cifar10:", "folder:plain:abc"]


@st.composite
def command_lines(draw):
    """argv for sweep / report / embed / eval: real flags, hostile values, the odd unknown flag."""
    command = draw(st.sampled_from(["sweep", "report", "embed", "eval", "bogus"]))
    argv = [command]
    flags = {"sweep": ["--jobs", "--results", "--data", "--quiet"], "report": ["--out", "--baseline"],
             "embed": ["--checkpoint", "--data", "--split", "--out"], "eval": ["--checkpoint", "--data", "--k"],
             "bogus": []}[command]
    if command in ("sweep", "report") and draw(st.booleans()):
        argv.append(draw(st.sampled_from(TOKENS)))
    for _ in range(draw(st.integers(0, 4))):
        flag = draw(st.sampled_from(flags + ["--nope"]))
        argv.append(flag)
        if flag not in ("--quiet",) and draw(st.integers(0, 9)):
            argv.append(draw(st.sampled_from(TOKENS + ["train", "test"])))
    return argv


@given(argv=command_lines())
@_settings(80, FUNCTION_SCOPED)
def test_command_lines_succeed_or_print_one_error_line(worker, folder, argv):
    check(worker.run("cli", argv, str(folder)), argv)

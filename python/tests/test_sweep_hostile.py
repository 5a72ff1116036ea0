"""Hostile sweep specs, results files and reports (issue 23, family 2)."""
from __future__ import annotations

import json
import os
import time

import numpy as np
import pytest

import dclkit
from dclkit import report
from dclkit.__main__ import main
from dclkit.sweep import MAX_RUNS, _take_results, load_spec, plan, read_results
from test_report import make_line
from test_sweep import pool, spec  # noqa: F401  (pool is a fixture)


def _line(seed: int = 0, **changes) -> dict:
    return {**make_line("dcl", 32, 0.1, seed, np.random.default_rng(seed)), **changes}


def test_a_whole_last_line_without_its_newline_is_kept_when_the_next_run_appends(tmp_path, pool):  # noqa: F811
    """The last complete line lacked its newline: the next append cut it off (a lost run) or
    glued the new line to it. Now both lines are there, each on its own line."""
    results = tmp_path / "r.jsonl"
    before = _line(id="finished-before")
    results.write_text(json.dumps(before))  # no newline
    table = spec(pool, cross={"method": ["dcl"], "seed": [0]})
    lines = dclkit.sweep(table, results=results, progress=False)
    assert [line["id"] for line in lines] == [plan(table)[0].id]
    assert [line["id"] for line in read_results(results)] == ["finished-before", plan(table)[0].id]
    assert results.read_text().endswith("\n") and len(results.read_text().splitlines()) == 2


def test_a_second_sweep_through_a_symlink_is_refused_not_run_again(tmp_path, pool):  # noqa: F811
    """Two sweeps reaching one results file by different paths share its real path's lock."""
    real = tmp_path / "real" / "r.jsonl"
    real.parent.mkdir()
    (tmp_path / "link").symlink_to(real.parent)
    path, work, lock = _take_results(real)  # a first sweep holds it
    try:
        started = time.monotonic()
        with pytest.raises(dclkit.DCLStateError, match="another sweep is writing"):
            dclkit.sweep(spec(pool), results=tmp_path / "link" / "r.jsonl", progress=False)
        with pytest.raises(dclkit.DCLStateError):
            dclkit.sweep(spec(pool), results=tmp_path / "real" / ".." / "real" / "r.jsonl", progress=False)
        assert time.monotonic() - started < 30 and not real.exists()
    finally:
        os.close(lock)


def test_a_spec_of_a_billion_runs_is_refused_before_it_expands(pool):  # noqa: F811
    """The count is a product of list lengths, known at once: no hang."""
    started = time.monotonic()
    cross = {"seed": list(range(1000)), "batch_size": list(range(8, 1008)), "warmup_epochs": list(range(1000))}
    with pytest.raises(dclkit.DCLValueError, match=f"more than {MAX_RUNS:,} runs"):
        load_spec(spec(pool, cross=cross))
    assert time.monotonic() - started < 5


def test_report_refuses_mixed_sweeps_and_never_drops_a_row():
    lines = [_line(0), _line(1)]
    for changed in ({"sweep": "another"}, {"data": {**lines[1]["data"], "fingerprint": "f" * 16}},
                    {"evaluation": {**lines[1]["evaluation"], "knn_k": 7}}):
        with pytest.raises(dclkit.DCLValueError, match="the results mix 2 different"):
            report.markdown([lines[0], {**lines[1], **changed}])
    twin = {**_line(0), "id": "same-setting-and-seed"}
    with pytest.raises(dclkit.DCLValueError, match="both have the setting"):
        report.markdown([lines[0], twin])


BAD_LINES = [
    ('{"id": 1}', "id must be str"),
    (json.dumps({**_line(), "config": {**_line()["config"], "seed": "zero"}}), "config.seed must be int"),
    (json.dumps({**_line(), "history": [{"epoch": 1}]}), r"history\[0\] has no 'loss'"),
    (json.dumps({**_line(), "knn_top1": [0.5]}), "knn_top1 must be"),
    ("[" * 100_000 + "]" * 100_000, "nested too deeply|nested more than"),
    ("[1, 2]", "not a result line"),
]


@pytest.mark.parametrize("row,message", BAD_LINES)
def test_wrong_results_lines_are_format_errors_naming_file_line_and_field(tmp_path, row, message):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(_line()) + "\n" + row + "\n")
    with pytest.raises(dclkit.DCLFormatError, match=message) as caught:
        read_results(results)
    assert "r.jsonl:2" in str(caught.value)


def _cli(argv, capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse
        code = stop.code
    captured = capsys.readouterr()
    return code, captured.err


def test_hostile_files_on_the_command_line_are_one_error_line(tmp_path, capsys, pool):  # noqa: F811
    """Deep nesting, non-UTF-8 bytes, wrong types, folders where files go, a parent that is a
    file (what a read-only folder would be to a non-root user): exit 2 and one line
    ``error: ...``, no traceback."""
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "latin.toml").write_bytes(b"name = \"caf\xe9\"\n")
    (tmp_path / "types.json").write_text(json.dumps({"cross": {"seed": 3}, "data": {"path": str(pool)}}))
    (tmp_path / "recipe.json").write_text(json.dumps({"base": {"recipe": ["x"]}, "cross": {"seed": [0]},
                                                      "data": {"path": str(pool)}}))
    (tmp_path / "folder.jsonl").mkdir()
    (tmp_path / "file").write_text("x")
    (tmp_path / "ok.json").write_text(json.dumps(spec(pool)))
    (tmp_path / "bad.jsonl").write_bytes(b"\xff\xfe\n")
    cases = [
        (["sweep", str(tmp_path / "deep.json")], "deep.json"),
        (["sweep", str(tmp_path / "latin.toml")], "not UTF-8"),
        (["sweep", str(tmp_path / "types.json")], "cross"),
        (["sweep", str(tmp_path / "recipe.json")], "recipe"),
        (["sweep", str(tmp_path / "folder.jsonl")], "must end in"),
        (["sweep", str(tmp_path / "ok.json"), "--results", str(tmp_path / "folder.jsonl")], "is a folder"),
        (["sweep", str(tmp_path / "ok.json"), "--results", str(tmp_path / "file" / "r.jsonl")], "cannot prepare the results file"),
        (["sweep", str(tmp_path / "missing.json")], "no such spec file"),
        (["sweep", str(tmp_path / "ok.json"), "--results", "/dev/null"], "not a regular file"),
        (["report", str(tmp_path / "folder.jsonl")], "not a regular file"),
        (["report", str(tmp_path / "bad.jsonl")], "not UTF-8"),
        (["report", str(tmp_path / "missing.jsonl")], "no such results file"),
        (["sweep", str(tmp_path / "ok.json"), "--jobs", "many"], "invalid int value"),
        (["embed", "--checkpoint", str(tmp_path / "file"), "--data", "builtin:digits", "--out", str(tmp_path / "o.npy")],
         "file"),
    ]
    for argv, message in cases:
        code, err = _cli(argv, capsys)
        assert code == 2, (argv, err)
        assert err.startswith("error: ") and err.count("\n") == 1, (argv, err)
        assert message in err, (argv, err)


def test_a_report_whose_output_cannot_be_written_is_an_io_error(tmp_path):
    results = tmp_path / "r.jsonl"
    results.write_text(json.dumps(_line(0)) + "\n" + json.dumps(_line(1)) + "\n")
    (tmp_path / "file").write_text("x")
    with pytest.raises(dclkit.DCLIOError, match="Not a directory|File exists"):
        report.report(results, out=tmp_path / "file" / "report")
    (tmp_path / "out" / "report.md").mkdir(parents=True)
    with pytest.raises(dclkit.DCLIOError, match="a folder"):
        report.report(results, out=tmp_path / "out")


def test_data_paths_that_are_not_data_are_dcl_errors(tmp_path, pool):  # noqa: F811
    """A FIFO (which would block a plain open), a device, a NUL byte, a missing path."""
    os.mkfifo(tmp_path / "fifo.tar")
    for where, error in [(str(tmp_path / "fifo.tar"), dclkit.DCLIOError), ("/dev/zero", dclkit.DCLIOError),
                         ("a\0b", dclkit.DCLValueError), (str(tmp_path / "none.tar"), dclkit.DCLFileNotFoundError)]:
        with pytest.raises(error):
            dclkit.sweep(spec(pool), data=where, results=tmp_path / "r.jsonl", progress=False)


def test_oversized_spec_and_results_files_are_refused_before_they_are_read(tmp_path):
    """Sparse files (no disk used): a 1 GiB spec and a results file beyond MAX_RESULTS_BYTES are
    refused from their size, at once."""
    from dclkit.sweep import MAX_RESULTS_BYTES

    big_spec = tmp_path / "big.json"
    with open(big_spec, "wb") as file:
        file.truncate(1 << 30)
    big_results = tmp_path / "big.jsonl"
    with open(big_results, "wb") as file:
        file.truncate(MAX_RESULTS_BYTES + 1)
    started = time.monotonic()
    with pytest.raises(dclkit.DCLFormatError, match="larger than 16 MiB"):
        load_spec(big_spec)
    with pytest.raises((dclkit.DCLFormatError, dclkit.DCLMemoryError)):
        read_results(big_results)
    assert time.monotonic() - started < 5

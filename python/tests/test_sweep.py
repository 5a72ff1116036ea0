"""Sweeps: one line per finished run, a restart skips them, a killed sweep resumes its
interrupted run from the checkpoint, --jobs runs in processes that die with the sweep, bad specs
name the key, and the committed study spec plans the issue's runs."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import dclkit
from test_report import make_line
from dclkit.sweep import load_spec, plan, read_results
from dclkit.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]
TINY = dict(arch="resnet18", width=0.125, image_size=8, batch_size=8, epochs=2, warmup_epochs=0, lr=0.1,
            augment={"pipeline": "simclr", "blur": 0.0})


@pytest.fixture
def pool(tmp_path) -> Path:
    """48 generated 8x8 images, 4 classes of 12 (each class its own colour, plus noise), as .npz."""
    rng = np.random.default_rng(7)
    y = np.arange(48) % 4
    colours = np.array([[200, 30, 30], [30, 200, 30], [30, 30, 200], [200, 200, 30]])
    x = np.clip(colours[y][:, None, None, :] + rng.normal(0, 40, (48, 8, 8, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "pool.npz"
    np.savez(path, x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    return path


def spec(pool_path: Path, **changes) -> dict:
    table = {"base": dict(TINY), "cross": {"method": ["dcl", "simclr"], "seed": [0, 1]},
             "data": {"path": str(pool_path), "eval_per_class": 2}, "evaluation": {"knn_k": 5, "knn_every": 1}}
    table.update(changes)
    return table


def write_json(path: Path, table: dict) -> Path:
    path.write_text(json.dumps(table))
    return path


def test_sweep_writes_one_line_per_run_and_a_restart_skips_them(tmp_path, pool):
    results = tmp_path / "out" / "r.jsonl"
    lines = dclkit.sweep(spec(pool), results=results, progress=False)
    runs = plan(spec(pool))
    assert [line["id"] for line in lines] == [run.id for run in runs]
    assert len(results.read_text().splitlines()) == 4 == len({run.id for run in runs})
    for line, run in zip(lines, runs):
        assert line["config"] == run.config and line["overrides"] == run.overrides
        assert [h["epoch"] for h in line["history"]] == [1, 2]
        assert all(0 <= h["knn_top1"] <= 1 for h in line["history"])
        assert 0 <= line["knn_top1"] <= 1 and 0 <= line["linear_probe_top1"] <= 1
        assert line["resumed_from_epoch"] == 0 and line["seconds"] > 0 and line["train_seconds"] > 0
        assert line["dclkit"] == dclkit.__version__ and line["cpu"] and line["threads"] >= 1
        assert line["data"]["train_images"] == 40 and line["data"]["eval_images"] == 8
    assert not (tmp_path / "out" / "r.work").exists()

    before = results.read_bytes()
    again = dclkit.sweep(spec(pool), results=results, progress=False)
    assert results.read_bytes() == before and again == lines


def test_spec_crosses_rows_and_drops_duplicates(pool):
    table = spec(pool, cross=[{"method": ["dcl", "dclw"], "batch_size": [8, 16], "temperature": [0.1]},
                              {"method": ["dcl", "dclw"], "batch_size": [8], "temperature": [0.1, 0.5]}],
                 runs=[{"method": "moco", "batch_size": 8, "recipe": "moco_cifar", "queue_size": 16}])
    runs = plan(table)
    # 2 x 2 + 2 x 2 - 2 duplicates (batch 8, tau 0.1) + 1 row
    assert len(runs) == 7 and len({run.id for run in runs}) == 7
    moco = runs[-1]
    assert moco.overrides == {"method": "moco", "batch_size": 8, "recipe": "moco_cifar", "queue_size": 16}
    assert moco.config["symmetric"] is True and moco.config["momentum_encoder"] == 0.99  # the recipe's values
    assert moco.config["width"] == TINY["width"]  # the base applies too
    # the data's path is not part of a run's identity; its name and split are
    moved = plan({**table, "data": {"path": "/elsewhere/pool.npz", "eval_per_class": 2}})
    assert [run.id for run in moved] == [run.id for run in runs]
    other = plan({**table, "data": {"path": str(pool), "eval_per_class": 3}})
    assert not {run.id for run in other} & {run.id for run in runs}


def test_toml_and_json_specs_plan_the_same_runs(tmp_path, pool):
    toml = tmp_path / "s.toml"
    toml.write_text(f"""
[base]
arch = "resnet18"
width = 0.125
image_size = 8
batch_size = 8
epochs = 2
warmup_epochs = 0
lr = 0.1
augment = {{ pipeline = "simclr", blur = 0.0 }}

[cross]
method = ["dcl", "simclr"]
seed = [0, 1]

[data]
path = "{pool}"
eval_per_class = 2

[evaluation]
knn_k = 5
knn_every = 1
""")
    from_toml = load_spec(toml)
    from_json = load_spec(write_json(tmp_path / "s.json", spec(pool)))
    assert from_toml.name == "s" == from_json.name
    assert [run.id for run in from_toml.runs] == [run.id for run in from_json.runs]


@pytest.mark.parametrize("change,words", [
    ({"bogus": 1}, ["'bogus'"]),
    ({"base": {"widht": 0.5}}, ["base.widht"]),
    ({"cross": {"method": "dcl"}}, ["cross[0].method", "list"]),
    ({"cross": {"method": ["nope"]}}, ["cross[0]", "method", "nope"]),
    ({"cross": [], "runs": [{"batch_size": 1}]}, ["runs[0]", "batch_size"]),
    ({"cross": [], "runs": [{"recipe": "fancy"}]}, ["runs[0]", "recipe", "fancy"]),
    ({"cross": []}, ["no runs"]),
    ({"data": {"eval_per_class": 2}}, ["data.path"]),
    ({"data": {"path": "x.npz", "eval_per_clas": 2}}, ["data.eval_per_clas"]),
    ({"evaluation": {"knn_k": 0}}, ["evaluation.knn_k"]),
    ({"evaluation": {"linear_probe": "yes"}}, ["evaluation.linear_probe"]),
])
def test_bad_specs_raise_errors_that_name_the_key(pool, change, words):
    with pytest.raises(dclkit.DCLError) as caught:
        load_spec(spec(pool, **change))
    assert isinstance(caught.value, (ValueError, TypeError))
    for word in words:
        assert word in str(caught.value)


def test_bad_spec_files_and_data_are_clear_errors(tmp_path, pool):
    with pytest.raises(FileNotFoundError):
        load_spec(tmp_path / "missing.toml")
    (tmp_path / "s.yaml").write_text("a: 1")
    with pytest.raises(dclkit.DCLValueError, match=r"\.toml or \.json"):
        load_spec(tmp_path / "s.yaml")
    (tmp_path / "bad.toml").write_text("[base\nwidth = 1")
    with pytest.raises(dclkit.DCLFormatError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")
    with pytest.raises(dclkit.DCLValueError, match="eval_per_class"):  # 12 per class < 12 + 1
        dclkit.sweep(spec(pool, data={"path": str(pool), "eval_per_class": 12}), results=tmp_path / "r.jsonl",
                     progress=False)
    with pytest.raises(dclkit.DCLValueError, match="jobs"):
        dclkit.sweep(spec(pool), jobs=0, results=tmp_path / "r.jsonl")
    done = subprocess.run([sys.executable, "-m", "dclkit", "sweep", str(write_json(tmp_path / "b.json", {"bogus": 1}))],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "'bogus'" in done.stderr


def _wait_for(condition, process: subprocess.Popen, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def _sweep_process(spec_file: Path, results: Path, jobs: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "dclkit", "sweep", str(spec_file), "--results", str(results),
                             "--jobs", str(jobs), "--quiet"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_a_killed_sweep_resumes_its_interrupted_run_and_records_every_run_once(tmp_path, pool):
    table = spec(pool, cross=[], runs=[{"method": "dcl", "seed": 0}, {"method": "dcl", "seed": 1, "epochs": 25}])
    first, second = plan(table)
    results = tmp_path / "r.jsonl"
    checkpoint = tmp_path / "r.work" / second.id / "checkpoint.safetensors"
    process = _sweep_process(write_json(tmp_path / "s.json", table), results, jobs=1)
    try:
        _wait_for(lambda: checkpoint.exists(), process)  # the first run's line is written before
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    assert [line["id"] for line in read_results(results)] == [first.id]
    saved = Trainer.resume(checkpoint)
    assert 1 <= saved.epoch < 25

    lines = dclkit.sweep(table, results=results, progress=False)
    assert [line["id"] for line in read_results(results)] == [first.id, second.id]
    resumed = lines[1]
    assert resumed["resumed_from_epoch"] == saved.epoch
    assert [h["epoch"] for h in resumed["history"]] == list(range(1, 26))
    assert resumed["history"][:saved.epoch] == saved.history  # the epochs before the kill, as saved
    assert lines[0]["resumed_from_epoch"] == 0


def test_jobs_run_in_processes_that_die_with_the_sweep(tmp_path, pool):
    table = spec(pool, cross={"method": ["dcl"], "seed": [0, 1], "epochs": [30]})
    runs = plan(table)
    results = tmp_path / "r.jsonl"
    checkpoints = [tmp_path / "r.work" / run.id / "checkpoint.safetensors" for run in runs]
    process = _sweep_process(write_json(tmp_path / "s.json", table), results, jobs=2)
    try:
        _wait_for(lambda: all(path.exists() for path in checkpoints), process)  # both run at once
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    time.sleep(0.3)
    stamps = [path.stat().st_mtime_ns for path in checkpoints]
    time.sleep(1.0)
    assert [path.stat().st_mtime_ns for path in checkpoints] == stamps  # no worker is still training
    assert read_results(results) == []

    lines = dclkit.sweep(table, jobs=2, results=results, progress=False)
    assert sorted(line["id"] for line in read_results(results)) == sorted(run.id for run in runs)
    for line in lines:
        assert 1 <= line["resumed_from_epoch"] < 30 and len(line["history"]) == 30
        assert line["threads"] == max(1, (os.cpu_count() or 1) // 2)


def test_a_torn_last_line_is_ignored_then_cut_off_by_the_next_append(tmp_path, pool):
    results = tmp_path / "r.jsonl"
    table = spec(pool, cross={"method": ["dcl"], "seed": [0]})
    whole = json.dumps({**make_line("dcl", 32, 0.1, 0, np.random.default_rng(0)), "id": "finished-before"}) + "\n"
    results.write_text(whole + '{"id": "torn-by-a-cra')
    assert [line["id"] for line in read_results(results)] == ["finished-before"]
    lines = dclkit.sweep(table, results=results, progress=False)
    assert [line["id"] for line in lines] == [plan(table)[0].id]
    rows = results.read_text().splitlines()
    assert len(rows) == 2 and rows[0] == whole.strip() and json.loads(rows[1])["id"] == plan(table)[0].id
    results.write_text('not json\n' + rows[1] + "\n")
    with pytest.raises(dclkit.DCLFormatError, match="r.jsonl:1"):
        read_results(results)


def test_the_study_spec_plans_the_issue_s_runs():
    runs = plan(ROOT / "studies" / "dcl_cifar10.toml", data="cifar10-train.tar")
    simclr_family = [run for run in runs if run.config["method"] in ("simclr", "dcl", "dclw")]
    defaults = [run for run in simclr_family if "lr" in run.overrides or "augment" in run.overrides]
    swept = [run for run in simclr_family if run not in defaults]
    settings = {(r.config["method"], r.config["batch_size"], r.config["temperature"], r.config["seed"])
                for r in swept}
    expected = {(m, b, 0.1, s) for m in ("simclr", "dcl", "dclw") for b in (32, 64, 128, 256) for s in (0, 1, 2)}
    expected |= {(m, 64, t, s) for m in ("simclr", "dcl", "dclw") for t in (0.07, 0.1, 0.2, 0.5) for s in (0, 1, 2)}
    assert settings == expected and len(swept) == len(expected) == 63
    # The defaults question: NT-Xent and DCL at batch 64 with twice the default lr, and with blur.
    base = {run.config["method"]: run.config for run in swept
            if (run.config["batch_size"], run.config["temperature"], run.config["seed"]) == (64, 0.1, 0)}
    doubled = {(r.config["method"], r.config["seed"]) for r in defaults
               if r.config["lr"] == pytest.approx(2 * base[r.config["method"]]["lr"])}
    blurred = {(r.config["method"], r.config["seed"]) for r in defaults
               if r.config["augment"] != base[r.config["method"]]["augment"]}
    assert doubled == blurred == {(m, s) for m in ("simclr", "dcl") for s in (0, 1, 2)} and len(defaults) == 12
    assert len({run.config["epochs"] for run in runs}) == 1  # equal epochs across batch sizes
    moco = {run.config["method"]: run.config["batch_size"] for run in runs if run not in simclr_family}
    assert moco == {"moco": 128, "moco-dcl": 128, "mochi": 128, "nnclr": 128, "nnclr-dcl": 128}
    study = load_spec(ROOT / "studies" / "dcl_cifar10.toml")
    assert study.evaluation.linear_probe and study.data.eval_per_class > 0


def test_a_failing_run_is_reported_and_the_others_still_run(tmp_path, pool):
    table = spec(pool, cross=[], runs=[{"batch_size": 64}, {"seed": 0}])  # 40 training images < 64
    failing, fine = plan(table)
    results = tmp_path / "r.jsonl"
    with pytest.raises(dclkit.DCLStateError, match=r"1 of 2 runs failed") as caught:
        dclkit.sweep(table, results=results, progress=False)
    assert failing.id[:8] in str(caught.value) and "batch_size" in str(caught.value)
    assert [line["id"] for line in read_results(results)] == [fine.id]


@pytest.mark.parametrize("command,flags", [("sweep", ["--jobs", "--results", "--data", "--quiet"]),
                                           ("report", ["--out", "--baseline"])])
def test_help_documents_the_sweep_and_report_flags(command, flags, capsys):
    from dclkit.__main__ import main

    with pytest.raises(SystemExit) as done:
        main([command, "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert all(flag in text for flag in flags)


def _image_tree(root: Path, rng: np.random.Generator) -> dict:
    """3 classes of 5 PNG files each under root/<class>/; returns file name -> pixels."""
    from PIL import Image

    pixels = {}
    for name in ("cat", "ant", "bee"):
        (root / name).mkdir(parents=True)
        for index in range(5):
            image = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(image).save(root / name / f"{index:04d}.png")
            pixels[f"{name}/{index:04d}.png"] = image
    (root / "ant" / "notes.txt").write_text("not an image")
    (root / ".hidden").mkdir()
    Image.fromarray(pixels["ant/0000.png"]).save(root / ".hidden" / "0000.png")
    return pixels


def test_a_tar_of_class_folders_reads_as_the_folder_and_splits_stratified(tmp_path):
    import tarfile

    from dclkit import sweep_data

    pixels = _image_tree(tmp_path / "pics" / "tree", np.random.default_rng(3))
    with tarfile.open(tmp_path / "tree.tar", "w") as archive:
        archive.add(tmp_path / "pics" / "tree", arcname="tree")
    table = {"image_size": 8, "eval_per_class": 2, "train_per_class": 2, "seed": 5}
    from_tar = sweep_data.load(sweep_data.DataSpec.from_table({**table, "path": str(tmp_path / "tree.tar")}))
    from_folder = sweep_data.load(sweep_data.DataSpec.from_table({**table, "path": str(tmp_path / "pics" / "tree")}))
    assert from_tar.fingerprint == from_folder.fingerprint
    np.testing.assert_array_equal(from_tar.x_train, from_folder.x_train)
    assert np.bincount(from_tar.y_train).tolist() == [2, 2, 2] and np.bincount(from_tar.y_eval).tolist() == [2, 2, 2]
    # labels follow the sorted class names (ant 0, bee 1, cat 2); every image is one of its class's files
    for images, labels in ((from_tar.x_train, from_tar.y_train), (from_tar.x_eval, from_tar.y_eval)):
        for image, label in zip(images, labels):
            name = ("ant", "bee", "cat")[label]
            assert any(np.array_equal(image, pixels[f"{name}/{i:04d}.png"]) for i in range(5))
    chosen = [image.tobytes() for image in np.concatenate([from_tar.x_train, from_tar.x_eval])]
    assert len(set(chosen)) == 12  # training and held-out images are disjoint
    other = sweep_data.load(sweep_data.DataSpec.from_table({**table, "seed": 6, "path": str(tmp_path / "tree.tar")}))
    assert other.fingerprint != from_tar.fingerprint

    (tmp_path / "pics" / "tree" / "bee" / "0002.png").write_bytes(b"\x89PNG broken")
    with tarfile.open(tmp_path / "broken.tar", "w") as archive:
        archive.add(tmp_path / "pics" / "tree", arcname="tree")
    with pytest.raises(dclkit.DCLFormatError, match="bee/0002.png"):
        sweep_data.load(sweep_data.DataSpec.from_table({"path": str(tmp_path / "broken.tar"), "eval_per_class": 4,
                                                        "train_per_class": 1, "image_size": 8}))

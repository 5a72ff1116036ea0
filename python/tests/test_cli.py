"""The command line: every command documents its flags; a one-epoch train on built-in data."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dclkit", *args], capture_output=True, text=True, cwd=cwd, timeout=600)


@pytest.mark.parametrize("command,flags", [
    ("demo", ["--out", "--epochs"]),
    ("train", ["--data", "--method", "--arch", "--epochs", "--out", "--temperature", "--resume"]),
    ("eval", ["--checkpoint", "--data"]),
    ("embed", ["--checkpoint", "--data", "--out"]),
])
def test_help_documents_every_flag(command, flags):
    done = run(command, "--help")
    assert done.returncode == 0
    for flag in flags:
        assert flag in done.stdout


def test_one_epoch_train_then_eval_and_embed(tmp_path):
    out = tmp_path / "run"
    done = run("train", "--data", "builtin:digits", "--method", "dcl", "--arch", "resnet18", "--width", "0.125",
               "--epochs", "1", "--batch-size", "64", "--warmup-epochs", "0", "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    history = json.loads((out / "history.json").read_text())
    assert len(history) == 1 and "knn_top1" in history[0]
    assert (out / "history.png").exists()

    done = run("eval", "--checkpoint", str(out / "checkpoint.safetensors"), "--data", "builtin:digits")
    assert done.returncode == 0, done.stderr
    scores = json.loads(done.stdout)
    assert 0 <= scores["knn_top1"] <= 1 and 0 <= scores["linear_probe_top1"] <= 1

    feats = tmp_path / "feats.npy"
    done = run("embed", "--checkpoint", str(out / "checkpoint.safetensors"), "--data", "builtin:digits",
               "--out", str(feats))
    assert done.returncode == 0, done.stderr
    import numpy as np

    assert np.load(feats).ndim == 2


def test_bad_data_argument_is_a_clear_error(tmp_path):
    done = run("train", "--data", "mystery:thing", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "cannot read --data" in done.stderr
    done = run("train", "--data", "cifar10:/nonexistent", "--out", str(tmp_path / "x"))
    assert done.returncode == 2


def test_threads_zero_and_flags_beside_resume_are_errors_not_ignored(tmp_path):
    done = run("train", "--data", "builtin:digits", "--threads", "0", "--out", str(tmp_path / "x"))
    assert done.returncode == 2 and "between 1 and" in done.stderr
    done = run("train", "--data", "builtin:digits", "--resume", str(tmp_path / "none.safetensors"), "--lr", "0.1",
               "--batch-size", "32", "--out", str(tmp_path / "x"))
    assert done.returncode == 2
    assert "--lr" in done.stderr and "--batch-size" in done.stderr and "Traceback" not in done.stderr

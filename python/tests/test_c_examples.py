"""Every C program in examples/c builds with ``cc`` against dclkit.h and libdclkit.so alone,
runs, and prints what it promises (train, save, resume exactly, embed, kNN)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from dclkit import _native

ROOT = Path(__file__).resolve().parents[2]
PROGRAMS = sorted((ROOT / "examples" / "c").glob("*.c"))


def _build(source: Path, directory: Path) -> Path:
    """Compiles ``source`` with the header shipped beside the library (the installed package's),
    or the repository's when the library is a build-tree one."""
    if shutil.which("cc") is None:
        pytest.fail("cc is not installed (make deps installs gcc)")
    library = Path(_native.lib._name).resolve()
    include = library.parent if (library.parent / "dclkit.h").exists() else ROOT / "Sources" / "DCLKitABI"
    # -l needs the name libdclkit.so in a directory of its own.
    libdir = directory / "lib"
    libdir.mkdir(parents=True, exist_ok=True)
    link = libdir / "libdclkit.so"
    if not link.exists():
        link.symlink_to(library)
    binary = directory / source.stem
    subprocess.run(["cc", "-std=c11", "-O1", "-Wall", "-Wextra", "-Werror", f"-I{include}", str(source), f"-L{libdir}",
                    "-ldclkit", "-lm", "-o", str(binary)], check=True, capture_output=True, text=True)
    return binary


@pytest.mark.parametrize("source", PROGRAMS, ids=lambda p: p.name)
def test_c_example_builds_and_runs(source, tmp_path):
    binary = _build(source, tmp_path)
    env = dict(os.environ, LD_LIBRARY_PATH=str(tmp_path / "lib"))
    done = subprocess.run([str(binary), str(tmp_path / "run.safetensors")], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    if source.name == "train_dcl.c":
        assert "bad config: status 1, batch_size" in done.stdout
        assert "resume exact: yes" in done.stdout
        top1 = float(re.search(r"knn_top1 ([0-9.]+)", done.stdout).group(1))
        assert 0.0 <= top1 <= 1.0
        assert (tmp_path / "run.safetensors").exists()


def test_there_is_a_c_example():
    assert PROGRAMS

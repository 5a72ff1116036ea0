"""Throw-away virtual environments for the packaging and wheel tests: created with
``python -m venv`` (no system site-packages), filled from PyPI with pip, run with a clean
environment so nothing of the developer's Python leaks in."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def core_dependencies() -> list[str]:
    """``[project] dependencies`` of pyproject.toml: what a plain ``pip install dclkit`` brings."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]


def create(folder: Path, requirements: list[str]) -> Path:
    """A venv at ``folder`` with ``requirements`` installed; returns its python. Fails the test
    with pip's output when venv or pip fails."""
    done = subprocess.run([sys.executable, "-m", "venv", str(folder)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        pytest.fail(f"python -m venv failed (on Debian: apt-get install python3-venv):\n{done.stderr}")
    python = folder / "bin" / "python"
    done = subprocess.run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
                          capture_output=True, text=True, timeout=600, env=clean_environment())
    if done.returncode != 0:
        pytest.fail(f"pip install {' '.join(requirements)} failed:\n{done.stdout}\n{done.stderr}")
    return python


def clean_environment(**extra: str) -> dict[str, str]:
    """A minimal environment: HOME (pip's cache), PATH without the Swift toolchain
    (/usr/bin:/bin), no PYTHONPATH, DCLKIT_LIBRARY or LD_LIBRARY_PATH unless given in ``extra``."""
    env = {"PATH": "/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def run(python: Path, source: str, cwd: Path, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """Runs ``source`` with the venv's python in ``cwd``; fails the test with its output on a non-zero exit."""
    done = subprocess.run([str(python), "-c", source], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"exit {done.returncode}\nstdout:\n{done.stdout}\nstderr:\n{done.stderr}")
    return done

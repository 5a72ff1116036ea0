"""Shared helpers for the Python tests."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest


@pytest.fixture
def run_isolated():
    """Runs Python source in a fresh interpreter and returns (exit code, stdout, stderr).

    For the inputs that could crash a process: a crash there fails the test without
    taking pytest down."""

    def run(source: str) -> tuple[int, str, str]:
        done = subprocess.run([sys.executable, "-c", textwrap.dedent(source)], capture_output=True, text=True, timeout=300)
        return done.returncode, done.stdout, done.stderr

    return run


def pytest_terminal_summary(terminalreporter):
    """Reports how many fuzz cases ran in worker processes (see fuzz_support)."""
    import sys

    support = sys.modules.get("fuzz_support")
    if support is not None and support.CASES_RUN:
        terminalreporter.write_line(f"fuzz: {support.CASES_RUN} cases run in worker processes")

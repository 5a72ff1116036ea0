"""Every SIMD level of dclkit's kernels that this CPU runs, each in its own process
(``DCLKIT_SIMD`` is read once, at the first kernel call): the level is the one asked for, and
the encoder's forward pass and gradients match test_encoder.py's float64 reference there, on the
model whose layers run every kernel (the direct convolution on the 3-channel stem, Winograd
tile transforms on 16- and 32-channel layers (F(2×2) at this batch of 4, the planner's choice
below 32 samples; WinogradConvolutionTests runs F(4×4)'s at every level), im2col elsewhere,
BatchNorm with the fused residual add and ReLU, pooling)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent

# Each level with the /proc/cpuinfo flags it needs and the name native_info() reports.
LEVELS = [
    ("baseline", set(), "baseline"),
    ("avx2", {"avx2", "fma"}, "avx2+fma"),
    ("avx512", {"avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq"}, "avx512"),
]


def _cpuinfo_flags() -> set:
    if not os.path.exists("/proc/cpuinfo"):
        return set()
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


_FLAGS = _cpuinfo_flags() if platform.machine() == "x86_64" else set()
_SUPPORTED = [(name, reported) for name, needs, reported in LEVELS if needs <= _FLAGS] or [("baseline", "baseline")]


def _run(level: str, arguments: list) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *arguments], capture_output=True, text=True, cwd=HERE,
                          env=dict(os.environ, DCLKIT_SIMD=level))


def test_the_best_level_is_the_default_and_lower_ones_can_be_forced():
    script = "import dclkit; print(dclkit.native_info()['simd'])"
    for level, reported in _SUPPORTED:
        assert _run(level, ["-c", script]).stdout.strip() == reported, level
    best = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={k: v for k, v in os.environ.items() if k != "DCLKIT_SIMD"}).stdout.strip()
    assert best == _SUPPORTED[-1][1]


def test_an_unknown_level_is_reported_and_the_best_one_used():
    run = _run("sse9", ["-c", "import dclkit; print(dclkit.native_info()['simd'])"])
    assert run.stdout.strip() == _SUPPORTED[-1][1]
    assert "DCLKIT_SIMD=sse9" in run.stderr


@pytest.mark.parametrize("level", [name for name, _ in _SUPPORTED])
def test_encoder_matches_the_float64_reference_at_every_level(level):
    tests = ["test_forward_matches_float64_reference", "test_gradients_match_float64_directional_derivatives"]
    run = _run(level, ["-m", "pytest", "-q", "-p", "no:cacheprovider", "test_encoder.py",
                       "-k", f"resnet18-cifar-simclr and ({' or '.join(tests)})"])
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "3 passed" in run.stdout, run.stdout[-2000:]

"""The package's face: version, native info, threads, error classes, loading from anywhere."""
from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys

import pytest

import dclkit


def test_version_matches_native_library():
    assert dclkit.__version__ == dclkit.native_info()["version"] == "0.1.0"


def test_native_info_reports_swift_blas_and_threads():
    info = dclkit.native_info()
    assert info["swift"].startswith("6.")
    if shutil.which("swift"):  # the toolchain that built the library, where it is on PATH
        compiler = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout
        assert f"Swift version {info['swift'].rstrip('+')}" in compiler
    assert info["blas"] == "OpenBLAS"
    assert "OpenBLAS" in info["blas_config"]
    assert info["num_threads"] == dclkit.get_num_threads()


def _cpuinfo_flags() -> set:
    with open("/proc/cpuinfo") as info:
        for line in info:
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    return set()


@pytest.mark.skipif(platform.machine() != "x86_64" or not os.path.exists("/proc/cpuinfo"), reason="x86-64 Linux only")
def test_native_info_reports_the_cpu_features_the_kernel_reports_and_picks_the_simd_level():
    info = dclkit.native_info()
    flags = _cpuinfo_flags()
    features = ("avx2", "fma", "avx512f", "avx512vl", "avx512bw", "avx512dq")
    reported = (*features, "avx512_bf16")
    assert set(info["cpu_features"]) == {f for f in reported if f in flags}
    levels = ["baseline", "avx2+fma", "avx512"]
    best = 2 if set(features) <= flags else 1 if {"avx2", "fma"} <= flags else 0
    # DCLKIT_SIMD may ask for a lower level (test_simd_levels.py runs each one in a child process).
    asked = {"baseline": 0, "avx2": 1, "avx512": 2}.get(os.environ.get("DCLKIT_SIMD", ""), 2)
    assert info["simd"] == levels[min(best, asked)]


def test_set_num_threads_round_trips():
    before = dclkit.get_num_threads()
    try:
        dclkit.set_num_threads(1)
        assert dclkit.get_num_threads() == 1
        assert dclkit.native_info()["num_threads"] == 1
    finally:
        dclkit.set_num_threads(before)


@pytest.mark.parametrize("bad,error", [(0, ValueError), (-3, ValueError), (2**40, ValueError), (1.5, TypeError), ("2", TypeError)])
def test_set_num_threads_rejects_bad_values(bad, error):
    with pytest.raises(error):
        dclkit.set_num_threads(bad)


def test_error_classes_are_value_and_type_errors():
    assert issubclass(dclkit.DCLValueError, dclkit.DCLError) and issubclass(dclkit.DCLValueError, ValueError)
    assert issubclass(dclkit.DCLTypeError, dclkit.DCLError) and issubclass(dclkit.DCLTypeError, TypeError)


def test_package_imports_from_another_folder_without_library_path(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("LD_LIBRARY_PATH", "DCLKIT_LIBRARY")}
    done = subprocess.run(
        [sys.executable, "-c", "import dclkit, numpy as np; print(dclkit.losses.dcl(np.eye(3), np.eye(3))[0])"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) == pytest.approx(-10 + __import__("math").log(4), rel=1e-5)


def _blas_cores(environment: dict) -> tuple:
    """(blas_core, blas_core_detected) of the library in a child process with `environment`."""
    script = "import dclkit; i = dclkit.native_info(); print(i['blas_core'], i['blas_core_detected'])"
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environment, timeout=120)
    assert run.returncode == 0, run.stderr
    return tuple(run.stdout.split())


def test_openblas_picks_below_the_cpu_are_replaced_unless_the_user_chose_a_core():
    environment = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"}
    core, detected = _blas_cores(environment)
    features = set(dclkit.native_info()["cpu_features"])
    if {"avx512f", "avx512vl", "avx512bw", "avx512dq"} <= features:
        # OpenBLAS 0.3.21's AVX-512 cores stand; any other pick becomes SkylakeX.
        assert core == (detected if detected.lower() in {"skylakex", "cooperlake", "sapphirerapids"} else "SkylakeX")
    elif detected.lower() == "prescott" and {"avx2", "fma"} <= features:
        assert core == "Haswell"
    else:
        assert core == detected  # OpenBLAS's choice stands
    # A core the user names is never replaced, not even the generic one.
    assert _blas_cores(dict(environment, OPENBLAS_CORETYPE="Prescott")) == ("Prescott", "Prescott")

"""``dclkit.set_matmul_precision`` (issue 24's bfloat16 experiment): float32 by default, the
setting reported by ``native_info()``, unknown values refused, and under ``"bfloat16"`` the
encoder's features against the float64 reference of test_gradient_precision.py at every SIMD
level this CPU runs, each in its own process (``DCLKIT_SIMD``): VDPBF16PS where the CPU has
AVX512_BF16 at the AVX-512 level, the portable loop with the same sums below it.

The layers' own bounds (forward and both gradients against float64 sums, tolerance from bfloat16's
2⁻⁹ rounding per factor) are WinogradBFloat16Tests's; here the whole ResNet-18 at width 0.25 on
16x16 images, batch 4 (Winograd F(2x2)): six of its 3x3 layers have at least 32 channels and a
4x4 output or more (layer2's three at 32 channels, layer3's three at 64), and each rounds its
products' factors to 8 significant bits, about 2⁻⁸ of its output's size at most after the
transforms (F(2x2)'s are small); BatchNorm rescales every layer's output, so the errors add from
layer to layer at most: h within 6·2⁻⁸ of float64. Float32 stays within 1e-5, so an error above
100 times float32's shows the products did run in bfloat16.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_simd_levels import _SUPPORTED

import dclkit

HERE = Path(__file__).resolve().parent
BFLOAT16_LAYERS = 6

FEATURES = """
import json, sys
import numpy as np
import dclkit
from test_gradient_precision import Tape, relative_error

x = np.random.default_rng(4).standard_normal((4, 16, 16, 3)).astype(np.float32)
encoder = dclkit.Encoder("resnet18", stem="cifar", width=0.25, head=None, seed=0)
exact = Tape(encoder.state_dict(), np.float64).forward(x)
errors = {}
for precision in ("float32", "bfloat16"):
    dclkit.set_matmul_precision(precision)
    h, _ = encoder.forward(x, training=True)
    errors[precision] = relative_error(h, exact)
print(json.dumps({"simd": dclkit.native_info()["simd"], "precision": dclkit.get_matmul_precision(), **errors}))
"""


@pytest.fixture
def restore_precision():
    """Puts the process's matmul precision back after the test."""
    before = dclkit.get_matmul_precision()
    yield
    dclkit.set_matmul_precision(before)


def test_float32_is_the_default_and_native_info_reports_the_setting(run_isolated, restore_precision):
    code, out, err = run_isolated("import dclkit; print(dclkit.native_info()['matmul_precision'])")
    assert code == 0, err
    assert out.strip() == "float32"
    for precision in ("bfloat16", "float32", "bfloat16"):
        dclkit.set_matmul_precision(precision)
        assert dclkit.get_matmul_precision() == precision
        assert dclkit.native_info()["matmul_precision"] == precision


def test_unknown_precisions_are_refused_and_leave_the_setting(restore_precision):
    dclkit.set_matmul_precision("bfloat16")
    for wrong in ("float16", "BF16", "", "float32 "):
        with pytest.raises(dclkit.DCLValueError, match="precision must be one of 'float32', 'bfloat16'"):
            dclkit.set_matmul_precision(wrong)
    with pytest.raises(dclkit.DCLTypeError):
        dclkit.set_matmul_precision(16)  # type: ignore[arg-type]
    assert dclkit.get_matmul_precision() == "bfloat16"


@pytest.mark.parametrize("level,reported", _SUPPORTED)
def test_bfloat16_features_match_float64_within_bfloat16_rounding_at_every_level(level, reported):
    done = subprocess.run([sys.executable, "-c", FEATURES], capture_output=True, text=True, cwd=HERE, timeout=600,
                          env=dict(os.environ, DCLKIT_SIMD=level))
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert (result["simd"], result["precision"]) == (reported, "bfloat16")
    assert result["float32"] < 1e-5
    assert 100 * result["float32"] < result["bfloat16"] <= BFLOAT16_LAYERS * 2.0 ** -8, result


def test_sweep_workers_take_the_precision_and_record_it(tmp_path, restore_precision):
    """A sweep's line records the precision its run computed with; ``jobs`` workers are spawned
    processes, so they take it from the sweep's process."""
    from test_sweep import TINY

    rng = np.random.default_rng(3)
    y = np.arange(24) % 2
    x = rng.integers(0, 256, (24, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "pool.npz", x_train=x, y_train=y, x_test=x[:4], y_test=y[:4])
    table = {"base": {**TINY, "epochs": 1}, "cross": {"seed": [0, 1]},
             "data": {"path": str(tmp_path / "pool.npz"), "eval_per_class": 2}}
    for precision, jobs in (("bfloat16", 2), ("float32", 1)):
        dclkit.set_matmul_precision(precision)
        lines = dclkit.sweep(table, results=tmp_path / f"{precision}.jsonl", jobs=jobs, progress=False)
        assert [line["matmul_precision"] for line in lines] == [precision, precision]

"""Checkpoints of format 2 written before the method registry (their configuration holds every
method's fields, their history no diagnostics) still resume: written by commit 125238d (data/,
tiny DCL and MoCo runs saved after their first of three epochs), read and trained on here."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import dclkit

DATA = Path(__file__).resolve().parent / "data"


@pytest.mark.parametrize("method", ["dcl", "moco"])
def test_a_format2_checkpoint_resumes_and_trains_on(method):
    trainer = dclkit.Trainer.resume(DATA / f"format2-{method}.safetensors")
    assert (trainer.config.method, trainer.epoch) == (method, 1)
    assert trainer.config.queue_size == (8 if method == "moco" else None), "other methods' fields are dropped"
    x = np.random.default_rng(7).integers(0, 256, (16, 8, 8, 3), dtype=np.uint8)
    history = trainer.fit(x, progress=False)
    expected = np.load(DATA / f"format2-{method}-expected.npy")
    losses = np.array([record["loss"] for record in history])
    assert losses[0] == expected[0], "the first epoch's record is read back as saved"
    # The old build's uninterrupted run; the kernels may differ on another CPU, hence the tolerance.
    np.testing.assert_allclose(losses[1:], expected[1:], rtol=2e-2)
    assert "collapse_std" in history[-1] and "collapse_std" not in history[0]

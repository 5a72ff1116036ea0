"""Issue 20's learning check, on the long study's committed results: after the study's budget
(`studies/dcl_cifar10_long.toml`: ResNet-18 width 0.25, 24 epochs over 10,000 CIFAR-10 images)
each non-contrastive baseline's kNN top-1 on the held-out split beats the untrained encoder's
(`results/random_init_dcl_cifar10_long.jsonl`, `studies/random_init.py`, the same split and
evaluation) by at least 5 points, and its collapse monitor stayed above the trainer's warning
threshold (`COLLAPSE_RATIO / √D`) in every epoch. The numbers are the runs' own; a baseline whose
seed-0 run has not finished yet is reported as missing, not passed."""
from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from dclkit.sweep import read_results
from dclkit.trainer import COLLAPSE_RATIO

ROOT = Path(__file__).resolve().parents[2]
BASELINES = (("byol", {"head_dims": [4096, 256]}), ("simsiam", {}), ("barlow-twins", {}), ("vicreg", {}),
             ("byol", {"head_dims": [256, 256]}))
"""The study's baseline rows (method, the configuration values that pick the row): BYOL's is run with
lightly's and solo-learn's 4096-unit CIFAR heads (the spec says why); its default-head run is
checked too, as a measured shortfall."""
MARGIN = 0.05


def untrained_knn() -> float:
    """The mean kNN top-1 of the untrained encoders (seeds 0-2) on the study's held-out split."""
    lines = [json.loads(line) for line in (ROOT / "results" / "random_init_dcl_cifar10_long.jsonl").read_text().splitlines()]
    assert [line["seed"] for line in lines] == [0, 1, 2]
    return statistics.mean(line["knn_top1"] for line in lines)


def study_lines(method: str, row: dict) -> list[dict]:
    return [line for line in read_results(ROOT / "results" / "dcl_cifar10_long.jsonl")
            if line["config"]["method"] == method and all(line["config"][key] == value for key, value in row.items())]


SHORT_OF_BUDGET = {
    ("byol", "[256, 256]"): "BYOL at its default heads [2F, 256] = [256, 256] reached 29.0% at seed 0 (+1.3 points), "
                            "30.2% with per-view BatchNorm, 29.7% with target momentum 0.99 (results/README.md); "
                            "correct (bench/parity/byol_agreement.py agrees with a PyTorch BYOL from the paper step for "
                            "step) but slow at 240,000 images with heads this narrow",
}
"""Rows that do not pass at this budget, each with what was measured: strict, so a passing
result shows as a failure that removes the entry."""


def _case(method: str, row: dict):
    key = (method, str(row.get("head_dims", "")))
    marks = [pytest.mark.xfail(strict=True, reason=SHORT_OF_BUDGET[key])] if key in SHORT_OF_BUDGET else []
    return pytest.param(method, row, marks=marks, id=f"{method}{'-' + '-'.join(map(str, row['head_dims'])) if row else ''}")


@pytest.mark.parametrize("method, row", [_case(method, row) for method, row in BASELINES])
def test_baseline_beats_the_untrained_encoder_by_five_points_without_collapse(method, row):
    lines = study_lines(method, row)
    assert lines, f"no finished long-study run of {method} yet"
    floor = untrained_knn() + MARGIN
    for line in lines:
        assert line["config"]["epochs"] == len(line["history"]) == 24
        assert line["knn_top1"] >= floor, f"{method} seed {line['config']['seed']}: kNN {line['knn_top1']:.3f} < {floor:.3f}"
        threshold = COLLAPSE_RATIO / math.sqrt(line["config"]["head_dims"][1])
        lowest = min(record["collapse_std"] for record in line["history"])
        assert lowest >= threshold, f"{method} seed {line['config']['seed']}: collapse_std fell to {lowest:.4g}"

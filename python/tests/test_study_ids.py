"""The committed study's run ids are the ones its spec plans with this code: a change in how a
configuration resolves (which changes every id) is caught here, and its results file re-keyed with
studies/rekey_results.py, numbers unchanged."""
from __future__ import annotations

from pathlib import Path

import pytest

from dclkit.sweep import plan, read_results

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("name", ["dcl_cifar10", "dcl_cifar10_long", "byol_view_batchnorm", "byol_budget_probes",
                                  "simsiam_budget_probes"])
def test_committed_results_have_the_ids_their_spec_plans(name):
    planned = {run.id for run in plan(ROOT / "studies" / f"{name}.toml")}
    lines = read_results(ROOT / "results" / f"{name}.jsonl")
    assert lines and {line["id"] for line in lines} <= planned

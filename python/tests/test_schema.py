"""The core describes itself: every face of the configuration (TrainConfig's generated fields,
the CLI's flags, the report's labels, the README's method table) is made from its schema and
registry, and stays equal to it."""
from __future__ import annotations

import io
import json
from contextlib import redirect_stdout
from pathlib import Path

import pytest

import dclkit
from dclkit import _generate, report
from dclkit.__main__ import build_parser
from dclkit.config import TrainConfig, resolve, schema


ROOT = Path(__file__).resolve().parents[2]
FIELDS = ROOT / "python" / "dclkit" / "_fields.py"
README = ROOT / "README.md"


def _train_help() -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["train", "--help"])
    return out.getvalue()


def test_generated_fields_and_readme_table_are_current():
    described = schema()
    assert FIELDS.read_text(encoding="utf-8") == _generate.fields_source(described), \
        "python/dclkit/_fields.py is stale: run python -m dclkit._generate"
    readme = README.read_text(encoding="utf-8")
    assert _generate.readme_with_table(readme, described) == readme, "README's method table is stale: run python -m dclkit._generate"


def test_every_registered_method_appears_in_every_face():
    methods = schema()["methods"]
    names = [method["name"] for method in methods]
    assert len(names) == len(set(names)) >= 8
    method_field = next(field for field in schema()["fields"] if field["name"] == "method")
    assert method_field["choices"] == names == list(dclkit.config.METHODS)
    help_text = " ".join(_train_help().split())
    table = README.read_text(encoding="utf-8")
    for method in methods:
        assert TrainConfig(method=method["name"], batch_size=8).method == method["name"]
        assert f"{method['name']}: {method['label']}" in help_text
        assert report.LABELS[method["name"]] == method["label"]
        assert f"| `{method['name']}` | {method['label']} |" in table


def test_trainconfig_fields_are_the_schema_fields_in_order():
    assert list(TrainConfig.__dataclass_fields__) == [field["name"] for field in schema()["fields"]]


def test_every_field_has_a_flag_and_a_doc():
    help_text = _train_help()
    for field in schema()["fields"]:
        assert "--" + field["name"].replace("_", "-") in help_text
        assert field["doc"] and (("default" in field) != ("default_rule" in field))


@pytest.mark.parametrize("method", [m["name"] for m in schema()["methods"]])
def test_stated_defaults_are_what_the_core_fills_in(method):
    extra = {"queue_size": 1024} if "queue_size" in next(m for m in schema()["methods"] if m["name"] == method)["settings"] else {}
    completed = resolve(json.dumps({"method": method, "batch_size": 64, **extra}))
    used = [f for f in schema()["fields"] if f["methods"] is None or method in f["methods"]]
    assert list(completed) == [f["name"] for f in used]
    for field in used:
        if "default" in field and field["name"] not in ("method", "batch_size", *extra):
            assert completed[field["name"]] == field["default"], field["name"]


def test_a_setting_of_another_method_is_refused_naming_its_methods():
    with pytest.raises(dclkit.DCLValueError, match="support_size is a setting of nnclr, nnclr-dcl"):
        TrainConfig(method="dcl", support_size=4096)


def test_the_cli_trains_with_a_flag_made_from_the_schema(tmp_path):
    from dclkit.__main__ import main

    data = tmp_path / "data.npz"
    import numpy as np

    rng = np.random.default_rng(0)
    np.savez(data, x_train=rng.integers(0, 256, (16, 8, 8, 3), dtype=np.uint8), y_train=np.arange(16) % 2,
             x_test=rng.integers(0, 256, (8, 8, 8, 3), dtype=np.uint8), y_test=np.arange(8) % 2)
    out = tmp_path / "run"
    assert main(["train", "--data", str(data), "--out", str(out), "--method", "nnclr", "--support-size", "40",
                 "--width", "0.0625", "--batch-size", "8", "--epochs", "1", "--head-dims", "16", "8", "--quiet",
                 "--no-sync-bn"]) == 0
    saved = dclkit.Trainer.resume(out / "checkpoint.safetensors").config
    assert (saved.method, saved.support_size, saved.head_dims, saved.sync_bn) == ("nnclr", 40, (16, 8), False)

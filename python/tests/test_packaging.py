"""dclkit with only its core dependencies (pyproject.toml's ``dependencies``): every module
imports, the core trains, and every feature that needs an extra raises DCLImportError naming
that extra. Runs in a throw-away venv (no system site-packages) with this checkout's source on
PYTHONPATH and the built library through DCLKIT_LIBRARY."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

import venv_support

import dclkit

# Run in the core-only venv: each case calls one feature and records what it raised.
CHECKS = r"""
import importlib, importlib.util, json, os, pkgutil, sys
import numpy as np
import dclkit

modules = ["dclkit"] + sorted(m.name for m in pkgutil.walk_packages(dclkit.__path__, "dclkit.") if m.name != "dclkit.libdclkit")
for name in modules:
    importlib.import_module(name)
present = [m for m in ("matplotlib", "scipy", "PIL", "sklearn", "mlxtend", "mpi4py", "tensorboardX") if importlib.util.find_spec(m)]

folder = sys.argv[1] if len(sys.argv) > 1 else os.getcwd()
images = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
os.makedirs(os.path.join(folder, "pictures", "cat"), exist_ok=True)
with open(os.path.join(folder, "pictures", "cat", "a.png"), "wb") as f:
    f.write(b"not decoded: the import comes first")
with open(os.path.join(folder, "results.jsonl"), "w") as f:  # two seeds of one setting, as a sweep writes them
    for seed in (0, 1):
        f.write(json.dumps({
            "id": f"dcl-{seed}", "sweep": "toy", "overrides": {"method": "dcl", "seed": seed},
            "config": {"method": "dcl", "batch_size": 32, "temperature": 0.1, "seed": seed, "epochs": 1},
            "data": {"name": "toy", "train_images": 100, "eval_images": 20, "classes": 4, "fingerprint": "0" * 16},
            "evaluation": {"knn_k": 20, "knn_temperature": 0.1, "linear_probe": True, "knn_every": 1},
            "history": [{"epoch": 1, "loss": 1.0, "lr": 0.1, "seconds": 2.0, "images_per_s": 50.0, "knn_top1": 0.5}],
            "knn_top1": 0.5, "linear_probe_top1": 0.5, "resumed_from_epoch": 0, "seconds": 3.0, "train_seconds": 2.0,
            "threads": 1, "dclkit": dclkit.__version__, "cpu": "test CPU", "finished": "2026-12-01T00:00:00Z"}) + "\n")

cases = {
    "plot.history": lambda: dclkit.plot.history([{"epoch": 1, "loss": 1.0}], os.path.join(folder, "h.png")),
    "augment.contact_sheet": lambda: dclkit.augment.contact_sheet(images, os.path.join(folder, "v.png")),
    "report.report": lambda: dclkit.report.report(os.path.join(folder, "results.jsonl")),
    "report.mean_ci": lambda: dclkit.report.mean_ci([0.1, 0.2]),
    "distributed.world": lambda: dclkit.distributed.world(),
    "datasets.builtin": lambda: dclkit.datasets.builtin(),
    "datasets.builtin_digits": lambda: dclkit.datasets.builtin("digits"),
    "datasets.image_folder": lambda: dclkit.datasets.image_folder(os.path.join(folder, "pictures")),
    "pack": lambda: dclkit.pack(os.path.join(folder, "pictures"), os.path.join(folder, "p.npy"), progress=False),
    "tensorboard.TensorBoardLogger": lambda: dclkit.tensorboard.TensorBoardLogger(os.path.join(folder, "tb")),
}
raised = {}
for name, case in cases.items():
    try:
        case()
        raised[name] = None
    except Exception as error:
        raised[name] = [type(error).__name__, isinstance(error, dclkit.DCLImportError),
                        isinstance(error, ImportError), str(error)]

# The core needs no extra: a loss and the sweep's TOML spec reader.
loss = float(dclkit.losses.dcl(np.eye(3), np.eye(3))[0])
spec = os.path.join(folder, "spec.toml")
with open(spec, "w") as f:
    f.write('name = "toml"\n[base]\nmethod = "dcl"\n')
from dclkit.sweep import _read_spec_file
from pathlib import Path
toml = _read_spec_file(Path(spec))
# The command line prints the same message and exits non-zero.
import subprocess
cli = subprocess.run([sys.executable, "-m", "dclkit", "report", os.path.join(folder, "results.jsonl")],
                     capture_output=True, text=True)
print(json.dumps({"modules": modules, "present": present, "raised": raised, "loss": loss, "toml": toml,
                  "cli": [cli.returncode, cli.stdout + cli.stderr]}))
"""

# feature -> the extra its error must name
EXPECTED = {
    "plot.history": "plots",
    "augment.contact_sheet": "plots",
    "report.report": "report",
    "report.mean_ci": "report",
    "distributed.world": "mpi",
    "datasets.builtin": "data",
    "datasets.builtin_digits": "data",
    "datasets.image_folder": "data",
    "pack": "data",
    "tensorboard.TensorBoardLogger": "tensorboard",
}


@pytest.fixture(scope="session")
def core_venv(tmp_path_factory) -> Path:
    """A venv holding only pyproject.toml's core dependencies (created once per session)."""
    return venv_support.create(tmp_path_factory.mktemp("core-venv"), venv_support.core_dependencies())


@pytest.fixture(scope="session")
def core_only_results(core_venv, tmp_path_factory) -> dict:
    work = tmp_path_factory.mktemp("core-only")
    env = venv_support.clean_environment(
        PYTHONPATH=str(venv_support.ROOT / "python"),
        DCLKIT_LIBRARY=os.environ.get("DCLKIT_LIBRARY") or dclkit.native_info()["library_path"],
        OMPI_COMM_WORLD_SIZE="2",  # as if started by mpirun -n 2: world() must import mpi4py
    )
    done = venv_support.run(core_venv, CHECKS, cwd=work, env=env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_core_dependencies_are_numpy_and_tqdm_only():
    names = sorted(requirement.split(";")[0].split(">")[0].split("=")[0].strip()
                   for requirement in venv_support.core_dependencies() if "python_version < '3.11'" not in requirement)
    assert names == ["numpy", "tqdm"]


def test_every_module_imports_with_core_dependencies_only(core_only_results):
    assert core_only_results["present"] == [], "the core venv holds an optional dependency"
    modules = set(core_only_results["modules"])
    expected = {f"dclkit.{path.stem}" for path in (venv_support.ROOT / "python" / "dclkit").glob("*.py")
                if path.stem != "__init__"} | {"dclkit", "dclkit.augment"}
    assert expected <= modules


def test_core_works_without_extras(core_only_results):
    assert core_only_results["loss"] == pytest.approx(-10 + __import__("math").log(4), rel=1e-5)
    assert core_only_results["toml"]["name"] == "toml"


@pytest.mark.parametrize("feature", sorted(EXPECTED))
def test_missing_extra_raises_dcl_import_error_naming_it(core_only_results, feature):
    raised = core_only_results["raised"][feature]
    assert raised is not None, f"{feature} ran without its extra"
    kind, is_dcl_import_error, is_import_error, message = raised
    assert is_dcl_import_error and is_import_error, f"{feature} raised {kind}: {message}"
    assert f"pip install 'dclkit[{EXPECTED[feature]}]'" in message, message
    assert "not installed" in message, message


def test_command_line_names_the_missing_extra(core_only_results):
    code, output = core_only_results["cli"]
    assert code != 0 and "pip install 'dclkit[report]'" in output, output


def test_dcl_import_error_is_a_dcl_error_and_an_import_error():
    assert issubclass(dclkit.DCLImportError, dclkit.DCLError)
    assert issubclass(dclkit.DCLImportError, ImportError)
    assert "DCLImportError" in dclkit.__all__

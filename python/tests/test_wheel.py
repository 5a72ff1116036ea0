"""The binary wheel (``make wheel``): it installs into a fresh venv with pip alone, its
libdclkit.so finds OpenBLAS and the Fortran runtime inside the wheel (``dclkit.libs/``), not in
/usr/lib, and it trains an epoch with no Swift toolchain on PATH.

The wheel comes from DCLKIT_WHEEL (``make test`` builds it once with ``make wheel`` and passes
it); without it the test runs ``make wheel`` itself. DCLKIT_SKIP_WHEEL=1 skips the file.
"""
from __future__ import annotations

import json
import math
import os
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

import venv_support

pytestmark = pytest.mark.skipif(os.environ.get("DCLKIT_SKIP_WHEEL") == "1", reason="DCLKIT_SKIP_WHEEL=1")

# Run in the wheel's venv, from an empty folder, with the Swift toolchain off PATH.
TRAIN_ONE_EPOCH = r"""
import importlib.metadata, json, math, shutil
import numpy as np
import dclkit

assert shutil.which("swift") is None, shutil.which("swift")
images = np.random.default_rng(0).integers(0, 256, (256, 16, 16, 3), dtype=np.uint8)
config = dclkit.TrainConfig(method="dcl", arch="resnet18", stem="cifar", width=0.25, batch_size=32, image_size=16,
                            epochs=1, warmup_epochs=0, seed=0, augment={"pipeline": "simclr", "blur": 0.0})
history = dclkit.Trainer(config).fit(images, progress=False)
with open("/proc/self/maps") as maps:
    loaded = sorted({line.split()[-1] for line in maps if "openblas" in line.lower() or "gfortran" in line.lower()})
print(json.dumps({"package": dclkit.__file__, "library": dclkit.native_info()["library_path"],
                  "version": dclkit.__version__, "metadata_version": importlib.metadata.version("dclkit"),
                  "history": history, "loaded": loaded}))
"""


def _path_without_swift(tmp: Path) -> str:
    """/usr/bin:/bin without any folder that holds ``swift`` (the official Swift images install
    it in /usr/bin); an empty folder when both do."""
    folders = [folder for folder in ("/usr/bin", "/bin") if not Path(folder, "swift").exists()]
    if not folders:
        empty = tmp / "empty-bin"
        empty.mkdir(exist_ok=True)
        folders = [str(empty)]
    return ":".join(folders)


@pytest.fixture(scope="module")
def wheel() -> Path:
    """The repaired wheel: DCLKIT_WHEEL, else built here by ``make wheel`` into dist/."""
    given = os.environ.get("DCLKIT_WHEEL")
    if given:
        path = Path(given)
        assert path.is_file(), f"DCLKIT_WHEEL={given} is not a file"
        return path
    done = subprocess.run(["make", "wheel"], cwd=venv_support.ROOT, capture_output=True, text=True, timeout=1800)
    if done.returncode != 0:
        pytest.fail(f"make wheel failed:\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}")
    found = sorted((venv_support.ROOT / "dist").glob("dclkit-*.whl"))
    assert len(found) == 1, found
    return found[0]


@pytest.fixture(scope="module")
def wheel_venv(wheel, tmp_path_factory) -> Path:
    """A fresh venv (no system site-packages) with the wheel and its core dependencies installed."""
    return venv_support.create(tmp_path_factory.mktemp("wheel-venv"), [str(wheel)])


def _site_packages(python: Path) -> Path:
    found = list(python.parent.parent.glob("lib/python3*/site-packages"))
    assert len(found) == 1, found
    return found[0]


def test_wheel_is_manylinux_and_carries_openblas_and_py_typed(wheel):
    assert re.fullmatch(r"dclkit-[^-]+-py3-none-manylinux_\d+_\d+_x86_64(\.manylinux\w+)*\.whl", wheel.name), wheel.name
    names = zipfile.ZipFile(wheel).namelist()
    for required in ("dclkit/libdclkit.so", "dclkit/py.typed", "dclkit/dclkit.h", "dclkit/_optional.py"):
        assert required in names
    bundled = [name for name in names if name.startswith("dclkit.libs/")]
    assert any("libopenblas" in name for name in bundled), bundled
    assert any("libgfortran" in name for name in bundled), bundled


def test_installed_library_resolves_openblas_inside_the_wheel(wheel_venv):
    site = _site_packages(wheel_venv)
    done = subprocess.run(["/usr/bin/ldd", str(site / "dclkit" / "libdclkit.so")], capture_output=True, text=True,
                          env=venv_support.clean_environment(), timeout=60)
    assert done.returncode == 0, done.stderr
    assert "not found" not in done.stdout, done.stdout
    resolved = dict(re.findall(r"^\s*(\S+) => (\S+)", done.stdout, re.MULTILINE))
    for prefix in ("libopenblas", "libgfortran"):
        paths = [Path(path) for name, path in resolved.items() if name.startswith(prefix)]
        assert paths, done.stdout
        assert all(path.resolve().parent == (site / "dclkit.libs").resolve() for path in paths), done.stdout


def test_wheel_trains_one_epoch_without_swift(wheel_venv, tmp_path):
    env = venv_support.clean_environment(PATH=_path_without_swift(tmp_path))
    assert shutil.which("swift", path=env["PATH"]) is None
    done = venv_support.run(wheel_venv, TRAIN_ONE_EPOCH, cwd=tmp_path, env=env, timeout=600)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    site = _site_packages(wheel_venv).resolve()
    assert Path(result["package"]).resolve().is_relative_to(site)
    assert Path(result["library"]).resolve().is_relative_to(site)
    # numpy's wheel maps its own OpenBLAS from numpy.libs/; nothing may come from the system.
    loaded = [Path(path).resolve() for path in result["loaded"]]
    assert any(path.parent == site / "dclkit.libs" and "openblas" in path.name for path in loaded), loaded
    assert all(path.is_relative_to(site) for path in loaded), loaded
    assert result["version"] == result["metadata_version"], "the wheel's metadata and the library disagree on the version"
    (record,) = result["history"]
    assert record["epoch"] == 1 and math.isfinite(record["loss"]) and record["loss"] > 0

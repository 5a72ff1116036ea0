"""The build step pyproject.toml cannot state: builds the Swift library in release mode and ships
libdclkit.so inside the Python package. The metadata lives in pyproject.toml.

`pip install .` runs `swift build -c release --product dclkit -Xswiftc -static-stdlib`: the
Swift runtime is linked in, so the library loads with no LD_LIBRARY_PATH and needs only libc,
libstdc++ and OpenBLAS (Debian's libopenblas-dev) at run time. `make wheel` then moves OpenBLAS
and its Fortran runtime into the wheel (auditwheel repair).
"""
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

from setuptools.command.bdist_wheel import bdist_wheel  # setuptools >= 70.1 (pyproject.toml asks for 77)

ROOT = Path(__file__).resolve().parent


def native_version() -> str:
    """The version's one source: `staticVersion` in Sources/DCLKitABI/Library.swift, which
    `dcl_version` (and so `dclkit.__version__`) returns."""
    source = (ROOT / "Sources" / "DCLKitABI" / "Library.swift").read_text(encoding="utf-8")
    found = re.search(r'staticVersion: StaticString = "([^"]+)"', source)
    if found is None:
        raise RuntimeError("Library.swift no longer declares staticVersion; setup.py reads the version there")
    return found.group(1)


class BuildSwiftThenPython(build_py):
    """build_py that first builds the Swift product and copies it into the package."""

    def run(self):
        subprocess.check_call(
            ["swift", "build", "-c", "release", "--product", "dclkit", "-Xswiftc", "-static-stdlib"],
            cwd=ROOT,
        )
        built = ROOT / ".build" / "release" / "libdclkit.so"
        super().run()
        target = Path(self.build_lib) / "dclkit"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(built, target / "libdclkit.so")
        shutil.copy2(ROOT / "Sources" / "DCLKitABI" / "dclkit.h", target / "dclkit.h")


class BinaryDistribution(Distribution):
    """The wheel carries a native library, so it is platform-specific."""

    def has_ext_modules(self):
        return True


class AnyPythonWheel(bdist_wheel):
    """Tags the wheel py3-none-<platform>: the library is loaded with ctypes, not as an extension
    module, so one wheel serves every Python 3 on the platform."""

    def get_tag(self):
        _, _, platform = super().get_tag()
        return "py3", "none", platform


setup(
    version=native_version(),
    cmdclass={"build_py": BuildSwiftThenPython, "bdist_wheel": AnyPythonWheel},
    distclass=BinaryDistribution,
)

"""Builds the Swift library in release mode and ships libdclkit.so inside the Python package.

`pip install .` runs `swift build -c release --product dclkit -Xswiftc -static-stdlib`: the
Swift runtime is linked in, so the library loads with no LD_LIBRARY_PATH and needs only libc,
libstdc++ and OpenBLAS (Debian's libopenblas-dev) at run time.
"""
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

ROOT = Path(__file__).resolve().parent


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


setup(
    name="dclkit",
    version="0.1.0",
    description="Contrastive self-supervised learning (SimCLR, MoCo v2, MoCHi, DCL/DCLW) with a Swift CPU core",
    long_description=(ROOT / "README.md").read_text(encoding="utf-8") if (ROOT / "README.md").exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    package_dir={"": "python"},
    packages=["dclkit", "dclkit.augment"],
    install_requires=["numpy>=1.22", "tqdm", "scikit-learn", "matplotlib", "Pillow", "mlxtend"],
    extras_require={"test": ["pytest", "safetensors"]},
    cmdclass={"build_py": BuildSwiftThenPython},
    distclass=BinaryDistribution,
    zip_safe=False,
)

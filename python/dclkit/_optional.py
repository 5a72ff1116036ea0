"""dclkit's optional dependencies: imported only where a feature needs them, and a missing one
raises :class:`dclkit.DCLImportError` naming the extra that installs it.

The extras (``pyproject.toml``): ``plots`` (matplotlib, Pillow), ``report`` (scipy,
matplotlib), ``data`` (mlxtend, scikit-learn, Pillow), ``mpi`` (mpi4py), ``tensorboard``
(tensorboardX, Pillow), ``all``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ._native import DCLImportError

# The name pip installs for an import name, where the two differ.
_DISTRIBUTIONS = {"PIL": "Pillow", "sklearn": "scikit-learn"}


def missing(module: str, extra: str, feature: str, detail: str = "", note: str = "") -> DCLImportError:
    """The error for ``feature`` when ``module`` (an import name) is not installed: it names the
    distribution and ``pip install 'dclkit[extra]'`` (then ``note``, when given)."""
    top = module.split(".")[0]
    distribution = _DISTRIBUTIONS.get(top, top)
    reason = f"could not be imported ({detail})" if detail else "is not installed"
    return DCLImportError(f"{feature} needs {distribution}, which {reason}: pip install 'dclkit[{extra}]'"
                          + (f" ({note})" if note else ""))


def require(module: str, extra: str, feature: str, note: str = "") -> ModuleType:
    """Imports ``module`` (e.g. ``"matplotlib.figure"``) and returns it.

    Raises
    ------
    DCLImportError
        ``module`` is missing (or fails to import); the message names ``feature``, the
        distribution and the extra, e.g. ``dclkit.plot.history needs matplotlib, which is not
        installed: pip install 'dclkit[plots]'``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as error:
        top = module.split(".")[0]
        absent = isinstance(error, ModuleNotFoundError) and (error.name or "").split(".")[0] == top
        raise missing(module, extra, feature, "" if absent else str(error), note) from error

"""Loading ``libdclkit.so`` and turning its status codes into Python exceptions.

Every native call goes through :func:`call`, which checks the returned status and raises
the matching :class:`DCLError` subclass with the library's message.
"""
from __future__ import annotations

import ctypes
import os
from pathlib import Path
from typing import Any, Callable

__all__ = ["DCLError", "DCLValueError", "DCLTypeError", "DCLIOError", "DCLStateError", "DCLCommError", "lib", "call", "bind"]


class DCLError(Exception):
    """Raised for every error reported by the native dclkit library."""


class DCLValueError(DCLError, ValueError):
    """A wrong argument value, shape or size."""


class DCLTypeError(DCLError, TypeError):
    """An argument of the wrong type."""


class DCLIOError(DCLError, OSError):
    """A file that could not be read or written."""


class DCLFormatError(DCLError, ValueError):
    """A file whose contents are not what dclkit expects."""


class DCLStateError(DCLError, RuntimeError):
    """A call that the object's state does not allow (for example backward before forward)."""


class DCLCommError(DCLError, RuntimeError):
    """A collective across MPI ranks failed (MPI reported an error, a peer is gone)."""


_STATUS_ERRORS: dict[int, type[DCLError]] = {
    1: DCLValueError,
    2: DCLTypeError,
    3: DCLIOError,
    4: DCLFormatError,
    5: DCLStateError,
    6: DCLCommError,
}


def _library_path() -> Path:
    override = os.environ.get("DCLKIT_LIBRARY")
    if override:
        return Path(override)
    return Path(__file__).with_name("libdclkit.so")


def _load() -> ctypes.CDLL:
    path = _library_path()
    if not path.exists():
        raise ImportError(
            f"dclkit's native library is missing at {path}; install the package with `pip install .` "
            "from the repository (it builds the Swift library), or set DCLKIT_LIBRARY."
        )
    library = ctypes.CDLL(str(path))
    library.dcl_last_error.restype = ctypes.c_char_p
    library.dcl_last_error.argtypes = []
    return library


lib = _load()


def bind(name: str, argtypes: list[Any], restype: Any = ctypes.c_int32) -> Callable[..., Any]:
    """Declares the C signature of ``name`` and returns the function."""
    function = getattr(lib, name)
    function.argtypes = argtypes
    function.restype = restype
    return function


def call(function: Callable[..., int], *args: Any) -> None:
    """Calls a status-returning native function and raises on a non-zero status."""
    status = function(*args)
    if status == 0:
        return
    message = lib.dcl_last_error()
    text = message.decode("utf-8", "replace") if message else f"native error {status}"
    raise _STATUS_ERRORS.get(status, DCLError)(text)

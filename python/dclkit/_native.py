"""Loading ``libdclkit.so`` and turning its status codes into Python exceptions.

:data:`functions` holds every function of ``dclkit.h`` with its argument and result types set
from the generated ``_bindings`` (never written by hand). Every native call goes through
:func:`call`, which checks the arguments, checks the returned status and raises the matching
:class:`DCLError` subclass with the library's message.
"""
from __future__ import annotations

import ctypes
import numbers
import os
from pathlib import Path
from typing import Any, Callable

from . import _bindings

__all__ = ["DCLError", "DCLValueError", "DCLTypeError", "DCLIOError", "DCLFormatError", "DCLStateError",
           "DCLMemoryError", "DCLCommError", "DCLImportError", "DCLFileNotFoundError", "NativeObject", "lib", "functions",
           "call", "text_output"]


class DCLError(Exception):
    """Raised for every error reported by the native dclkit library."""


class DCLValueError(DCLError, ValueError):
    """A wrong argument value, shape or size."""


class DCLTypeError(DCLError, TypeError):
    """An argument of the wrong type."""


class DCLIOError(DCLError, OSError):
    """A file that could not be read or written."""


class DCLFileNotFoundError(DCLIOError, FileNotFoundError):
    """A file or folder that does not exist (a ``FileNotFoundError`` too)."""


class DCLFormatError(DCLError, ValueError):
    """A file whose contents are not what dclkit expects."""


class DCLStateError(DCLError, RuntimeError):
    """A call that the object's state does not allow (for example backward before forward)."""


class DCLMemoryError(DCLError, MemoryError):
    """Memory for the call could not be allocated, or the request exceeds the machine's memory."""


class DCLCommError(DCLError, RuntimeError):
    """A collective across MPI ranks failed (MPI reported an error, a peer is gone)."""


class NativeObject:
    """The base of every public class whose objects own a native handle: the one rule for
    ``copy.copy``, ``copy.deepcopy`` and ``pickle``.

    A shallow copy would share the handle and free it twice, so there is none: a class that can be
    copied cheaply and meaningfully defines :meth:`_clone` (a new object with its own handle and the
    same state) and :meth:`_reduce` (what ``pickle`` stores: a function and its arguments that
    rebuild it), and ``copy.copy``, ``copy.deepcopy`` and ``pickle`` all give an independent object.
    Any other class refuses all three with :class:`DCLTypeError`, its ``_copy_hint`` saying what to
    do instead.
    """

    _copy_hint = ""

    def _refuse(self, what: str) -> DCLTypeError:
        hint = f"; {self._copy_hint}" if self._copy_hint else ""
        return DCLTypeError(f"a {type(self).__name__} cannot be {what} (it owns a native object){hint}")

    def _clone(self) -> Any:
        """An independent object with the same state (classes that can be copied override it)."""
        raise self._refuse("copied")

    def _reduce(self) -> tuple:
        """``(function, arguments)`` that rebuild the object (classes that can be pickled override it)."""
        raise self._refuse("pickled")

    def __copy__(self) -> Any:
        return self._clone()

    def __deepcopy__(self, memo: dict) -> Any:
        clone = self._clone()
        memo[id(self)] = clone
        return clone

    def __reduce_ex__(self, protocol: Any) -> tuple:
        return self._reduce()

    def __reduce__(self) -> tuple:
        return self._reduce()


class DCLImportError(DCLError, ImportError):
    """A feature needs an optional dependency that is not installed; the message names the
    extra that installs it (``pip install 'dclkit[plots]'``)."""


# The status codes of dclkit.h and the exception each raises.
_STATUS_ERRORS: dict[int, type[DCLError]] = {
    _bindings.DCL_INVALID_ARGUMENT: DCLValueError,
    _bindings.DCL_TYPE_ERROR: DCLTypeError,
    _bindings.DCL_IO_ERROR: DCLIOError,
    _bindings.DCL_FORMAT_ERROR: DCLFormatError,
    _bindings.DCL_STATE_ERROR: DCLStateError,
    _bindings.DCL_MEMORY_ERROR: DCLMemoryError,
    _bindings.DCL_COMM_ERROR: DCLCommError,
}

# The range of each C integer type, for the check in `call` (ctypes itself wraps silently).
_INTEGER_RANGES = {
    ctypes.c_int32: (-2**31, 2**31 - 1),
    ctypes.c_int64: (-2**63, 2**63 - 1),
    ctypes.c_uint64: (0, 2**64 - 1),
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
    return ctypes.CDLL(str(path))


def _declare(library: ctypes.CDLL) -> dict[str, Any]:
    """Every function of dclkit.h in ``library``, its ``argtypes`` and ``restype`` set from the
    generated bindings."""
    declared = {}
    for name, (restype, parameters) in _bindings.SIGNATURES.items():
        try:
            function = getattr(library, name)
        except AttributeError:
            raise ImportError(f"dclkit's native library {library._name} lacks {name}, which dclkit.h declares: "
                              "the library is older than the package; rebuild it") from None
        function.argtypes = [ctype for _, ctype in parameters]
        function.restype = restype
        declared[name] = function
    return declared


lib = _load()
#: Every function of dclkit.h by name, with its C signature declared.
functions: dict[str, Any] = _declare(lib)


def c_string(text: str, name: str) -> bytes:
    """``text`` as UTF-8 bytes for a C string, refused when it holds a NUL (the C side would
    see only what comes before it)."""
    if "\0" in text:
        raise DCLValueError(f"{name} ({text!r}) contains a NUL byte; names cannot hold one")
    return text.encode()


def _check_arguments(function: Any, args: tuple) -> None:
    """Refuses what ctypes would change silently: an int outside its C type's range (ctypes wraps
    it), an int too large for a double, and bytes holding a NUL (a C string ends there, so a
    path or name would be cut short). The one range check before every native call."""
    for position, (value, ctype) in enumerate(zip(args, function.argtypes or ())):
        if isinstance(value, bool):
            continue
        if ctype in _INTEGER_RANGES and isinstance(value, numbers.Integral):
            low, high = _INTEGER_RANGES[ctype]
            if not low <= int(value) <= high:
                raise DCLValueError(f"{_where(function, position)} is {value}, outside the range [{low}, {high}] "
                                    "of its C type")
        elif ctype is ctypes.c_double and isinstance(value, numbers.Integral):
            try:
                float(value)
            except OverflowError:
                raise DCLValueError(f"{_where(function, position)} is an int too large for a double") from None
        elif ctype is ctypes.c_char_p and isinstance(value, bytes) and b"\0" in value:
            raise DCLValueError(f"{_where(function, position)} ({value!r}) contains a NUL byte; paths and names "
                                "cannot hold one")


def _where(function: Any, position: int) -> str:
    """"argument 3 (n) of dcl_pair_loss": the parameter's name from the header, for messages."""
    _, parameters = _bindings.SIGNATURES.get(function.__name__, (None, ()))
    name = parameters[position][0] if position < len(parameters) and parameters[position][0] else ""
    return f"argument {position}{f' ({name})' if name else ''} of {function.__name__}"


def call(function: Callable[..., int], *args: Any) -> None:
    """Calls a status-returning native function and raises on a non-zero status."""
    _check_arguments(function, args)
    status = function(*args)
    if status == _bindings.DCL_OK:
        return
    message = functions["dcl_last_error"]()
    text = message.decode("utf-8", "replace") if message else f"native error {status}"
    raise _STATUS_ERRORS.get(status, DCLError)(text)



def text_output(function: Callable[..., int], *arguments: Any) -> str:
    """The text a native function writes by the header's text-output rule: asked once with no
    buffer for its length, then read into a buffer of that size (``arguments`` come before the
    buffer, capacity and needed arguments)."""
    needed = ctypes.c_int64()
    call(function, *arguments, None, 0, ctypes.byref(needed))
    buffer = ctypes.create_string_buffer(needed.value)
    call(function, *arguments, buffer, needed.value, ctypes.byref(needed))
    return buffer.value.decode()

"""Files the Python package writes: one atomic, checked write for every output.

Every file the package or the command line writes (features ``.npy``, history JSON, PNG plots,
a report's Markdown, the data a sweep hands to its workers) goes through :func:`atomic_write`:

1. the target must be a regular file, a symlink (replaced by the new file, never written
   through) or not exist (a folder, a device such as ``/dev/full``, a FIFO or a socket is
   refused: renaming over it would replace the node, writing into it would lose the data), as
   the core's ``AtomicFile`` does for checkpoints and encoder files;
2. the data go to a new file in the target's folder whose name has 64 random bits, created with
   ``O_CREAT | O_EXCL | O_NOFOLLOW`` (never an existing file, never through a planted symlink);
3. it is written, flushed and fsynced, then renamed over the target, and the folder is fsynced.

Any failure (a full disk, a file size limit, a folder that is missing, read-only or not a folder,
an over-long name) raises :class:`DCLIOError` naming the file, removes the temporary, and leaves
the previous file as it was. Sweep results lines are appended, not replaced (see
:mod:`dclkit.sweep`), and checked the same way.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import Any, BinaryIO, Callable, Union

from . import _arrays
from ._native import DCLIOError

__all__ = ["atomic_write", "io_error"]

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

_NAME_BYTES = 255
"""The longest file name Linux file systems take (NAME_MAX)."""


def io_error(error: OSError, doing: str, path: Any) -> DCLIOError:
    """A ``DCLIOError`` for an ``OSError`` met while ``doing`` something to ``path``: the one
    wording of a failed file operation (``cannot write results/x.md: No space left on device``)."""
    reason = error.strerror or str(error)
    return DCLIOError(f"cannot {doing} {os.fsdecode(path)}: {reason}")


def _encoded(path: PathLike, what: str) -> bytes:
    raw = _arrays.path(path, what)
    if not raw or b"\0" in raw:
        raise DCLIOError(f"{what} {os.fsdecode(raw)!r} is empty or contains a NUL byte")
    return raw


def atomic_write(path: PathLike, write: Callable[[BinaryIO], Any], what: str = "file") -> str:
    """Writes a file atomically (see the module docstring) and returns its path as a ``str``.

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The target; its folder must exist.
    write : callable
        Called with the open binary temporary file; writes the whole content to it.
    what : str
        How error messages name the target (``"--out"``, ``"the plot"``).

    Raises
    ------
    DCLIOError
        The target is not a regular file, or a step failed; the previous file is intact.
    """
    target = _encoded(path, what)
    folder, name = os.path.split(target)
    folder = folder or b"."
    try:
        mode = os.lstat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise io_error(error, f"write {what}", target) from None
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):  # a symlink is replaced, not followed
        kind = "a folder" if stat.S_ISDIR(mode) else "not a regular file"
        raise DCLIOError(f"cannot write {what} {os.fsdecode(target)}: it is {kind}")
    if len(name) > _NAME_BYTES:
        raise io_error(OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)), f"write {what}", target)
    temporary, fd = _create_temporary(folder, name, what, target)
    try:
        with os.fdopen(fd, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        if isinstance(error, OSError) and not isinstance(error, DCLIOError):
            raise io_error(error, f"write {what}", target) from None
        raise
    _sync_folder(folder)
    return os.fsdecode(target)


def _create_temporary(folder: bytes, name: bytes, what: str, target: bytes) -> tuple[bytes, int]:
    """A new file beside the target with an unpredictable name, created exclusively, never
    through a symlink."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
    stem = name[:_NAME_BYTES - 30]  # room for ".", ".tmp-" and 16 hex digits
    for _ in range(16):
        temporary = os.path.join(folder, b"." + stem + b".tmp-" + secrets.token_hex(8).encode())
        try:
            return temporary, os.open(temporary, flags, 0o666)
        except FileExistsError:
            continue
        except OSError as error:
            raise io_error(error, f"write {what}", target) from None
    raise DCLIOError(f"cannot write {what} {os.fsdecode(target)}: no free temporary name in its folder")


def _sync_folder(folder: bytes) -> None:
    """Makes the rename durable; a file system that cannot fsync a folder is no error."""
    try:
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)

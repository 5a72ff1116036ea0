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

A file too large to hold in memory (a packed image array, :mod:`dclkit.packed`) is written in
pieces through :class:`PartialFile`, by the same rules for the target: the pieces go to a
partial file beside it (``.NAME.partial``, opened with ``O_NOFOLLOW``, refused unless it is a
regular file of ours with one link, locked while written), a marker beside that
(``.NAME.partial.json``, itself written with :func:`atomic_write`) records after each fsynced
piece how far it got and what is being written, so a restart continues there; the target's name
appears only when the last piece is written, by one rename. The one exception to these rules is
TensorBoard's event files (:mod:`dclkit.tensorboard`), append-only logs that tensorboardX writes.
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Mapping
from typing import Any, BinaryIO, Callable, Union

from . import _arrays
from ._native import DCLIOError, DCLStateError

__all__ = ["atomic_write", "io_error", "PartialFile"]

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
    folder, name = _checked_target(target, what)
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


def _checked_target(target: bytes, what: str) -> tuple[bytes, bytes]:
    """The folder and name of ``target`` after rule 1 of the module docstring (a regular file, a
    symlink or nothing) and a name length check."""
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
    return folder, name


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


_MARKER_BYTES = 1 << 20
"""The largest progress marker read (a real one is a few hundred bytes)."""


class PartialFile:
    """A file of known length written in pieces, resumable after an interruption, whose name
    appears only when it is whole (see the module docstring).

    Parameters
    ----------
    path : str, bytes or os.PathLike
        The target; its folder must exist.
    length : int
        The final file's length in bytes.
    key : mapping
        What is being written (JSON-able: the source, its listing's digest, the shape): a partial
        file whose marker holds another key or length is started anew.
    what : str
        How error messages name the target.

    Attributes
    ----------
    done : int
        The progress the last :meth:`commit` recorded (0 for a new file): the caller's unit,
        e.g. images written.

    Raises
    ------
    DCLIOError
        The target is not a regular file, the partial file is not a regular file of this user
        with one link, or a step failed.
    DCLStateError
        Another process is writing the same target.

    Examples
    --------
    >>> with PartialFile("data.bin", 1 << 30, {"source": "x"}) as out:
    ...     for piece in range(out.done, 1024):
    ...         out.write(piece << 20, make(piece))
    ...         out.commit(piece + 1)
    ...     out.finish()
    """

    def __init__(self, path: PathLike, length: int, key: Mapping[str, Any], what: str = "file") -> None:
        self.what = what
        self.target = _encoded(path, what)
        self.length = _arrays.integer(length, "length", 0, 2**62)
        self._key = json.loads(json.dumps(dict(key), sort_keys=True))
        self._folder, name = _checked_target(self.target, what)
        stem = b"." + name[:_NAME_BYTES - 30] + b".partial"
        self._partial = os.path.join(self._folder, stem)
        self._marker = self._partial + b".json"
        self._fd = -1
        flags = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)
        try:
            fd = os.open(self._partial, flags, 0o666)
        except OSError as error:
            raise io_error(error, f"write {what}", self._partial) from None
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode) or info.st_nlink != 1 or info.st_uid != os.geteuid():
                raise DCLIOError(f"cannot write {what}: {os.fsdecode(self._partial)} is not a regular file of this "
                                 "user with one link; remove it")
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise
                raise DCLStateError(f"another process is writing {what} {os.fsdecode(self.target)} "
                                    f"({os.fsdecode(self._partial)} is locked)") from None
            marker = self._read_marker()
            if (marker.get("key") == self._key and marker.get("length") == self.length and info.st_size == self.length
                    and isinstance(marker.get("done"), int) and not isinstance(marker.get("done"), bool)):
                self.done = int(marker["done"])
            else:  # nothing to resume
                self._fd = fd
                self.reset()
        except DCLIOError:
            self._fd = -1
            os.close(fd)
            raise
        except OSError as error:
            self._fd = -1
            os.close(fd)
            raise io_error(error, f"write {what}", self._partial) from None
        except BaseException:
            self._fd = -1
            os.close(fd)
            raise
        self._fd = fd

    def _read_marker(self) -> dict[str, Any]:
        """The marker's content; {} when it is missing, not a regular file or not a marker."""
        try:
            fd = os.open(self._marker, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except OSError:
            return {}
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return {}
            data = os.read(fd, _MARKER_BYTES + 1)
            content = json.loads(data.decode("utf-8")) if len(data) <= _MARKER_BYTES else {}
            return content if isinstance(content, dict) else {}
        except (OSError, ValueError, RecursionError):
            return {}
        finally:
            os.close(fd)

    def _open(self) -> int:
        if self._fd < 0:
            raise DCLStateError(f"{self.what} {os.fsdecode(self.target)}: the partial file is closed")
        return self._fd

    def reset(self) -> None:
        """Starts anew: an empty file of the final length, ``done`` 0 (the marker is replaced by
        the next :meth:`commit`)."""
        fd = self._open()
        try:
            os.ftruncate(fd, 0)
            os.ftruncate(fd, self.length)
        except OSError as error:
            raise io_error(error, f"write {self.what}", self._partial) from None
        self.done = 0

    def write(self, offset: int, data: Any) -> None:
        """Writes ``data`` (bytes or any buffer, e.g. a contiguous numpy array) at ``offset``."""
        fd = self._open()
        view = memoryview(data).cast("B")
        if offset < 0 or offset + len(view) > self.length:
            raise DCLIOError(f"cannot write {self.what}: bytes {offset}..{offset + len(view)} lie beyond its "
                             f"length {self.length}")
        try:
            while view:
                written = os.pwrite(fd, view, offset)
                view, offset = view[written:], offset + written
        except OSError as error:
            raise io_error(error, f"write {self.what}", self.target) from None

    def commit(self, done: int) -> None:
        """Makes what was written durable (fdatasync), then records ``done`` in the marker, so an
        interruption after this call resumes from ``done``."""
        fd = self._open()
        try:
            os.fdatasync(fd)
        except OSError as error:
            raise io_error(error, f"write {self.what}", self.target) from None
        text = json.dumps({"key": self._key, "length": self.length, "done": int(done)}).encode()
        atomic_write(self._marker, lambda file: file.write(text), f"the progress marker of {self.what}")
        self.done = int(done)

    def finish(self) -> str:
        """Renames the whole file over the target (rule 1 checked again), removes the marker and
        returns the target's path as a ``str``."""
        fd = self._open()
        _checked_target(self.target, self.what)
        try:
            os.fsync(fd)
            os.replace(self._partial, self.target)
        except OSError as error:
            raise io_error(error, f"write {self.what}", self.target) from None
        try:
            os.unlink(self._marker)
        except OSError:
            pass
        _sync_folder(self._folder)
        self.close()
        return os.fsdecode(self.target)

    def close(self) -> None:
        """Closes the partial file, keeping it and its marker for a later resume."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> PartialFile:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

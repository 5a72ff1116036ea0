"""Data-parallel training over MPI: the world, the native communicator, and the collective
pieces of a distributed step.

A run on W ranks is started by ``mpirun -n W python ...``; :func:`world` then returns mpi4py's
``MPI.COMM_WORLD`` (and ``None`` on one machine without ``mpirun``, where mpi4py is never
imported, so single-machine users need no MPI). :class:`Communicator` wraps an mpi4py
communicator (or ``None`` for one process) into the native communicator: the Swift core runs
its collectives through ctypes callbacks that call mpi4py on zero-copy numpy views of the
core's buffers. Every collective must be called by all ranks in the same order.

Training on W ranks is ``dclkit.Trainer(config, comm=world())``: the core runs every piece
below inside its step. The functions below are those collective pieces on their own, each
computed by the core: the projection all-gather and its backward, SyncBN's global statistics and gradient sums,
MoCo's key shuffle across ranks, the fused gradient allreduce (:class:`GradientAllreduce`), the
start-of-run configuration check and the batch share of each rank. A failed collective raises
:class:`dclkit.DCLCommError`.

A job never waits forever for a rank that has left (README, "Guarantees"): once dclkit hands out
or wraps a communicator of more than one rank (:func:`world`, :class:`Communicator`),

- an exception no one catches prints its traceback and aborts the MPI job
  (``MPI.COMM_WORLD.Abort(1)``), so ``mpirun`` ends every rank
  (``DCLKIT_ABORT_ON_EXCEPTION=0`` or :func:`abort_on_exception` turns this off);
- a rank whose program ends tells the others how many collectives it took part in; a rank
  waiting in a collective that the departed rank never entered raises
  :class:`dclkit.DCLCommError` within about a second;
- every collective gives up after a time-out (600 s by default: ``Communicator(comm,
  timeout=...)`` or ``DCLKIT_COLLECTIVE_TIMEOUT``) and raises :class:`dclkit.DCLCommError`;
- MPI cannot cancel a started collective, so a rank holding one it gave up on aborts the job when
  it exits (through the hook above first, if the error is not caught).

Examples
--------
>>> comm = dclkit.distributed.Communicator(dclkit.distributed.world())
>>> local, offset = dclkit.distributed.batch_share(comm, 256)  # rows of this rank
>>> z_all = dclkit.distributed.gather_projections(comm, z)     # (W * b, D)
"""
from __future__ import annotations

import atexit
import ctypes
import math
import os
import sys
import time
from types import TracebackType
from typing import Any, Optional

import numpy as np
from numpy.typing import ArrayLike, NDArray

from . import _arrays
from ._bindings import DCL_FLOAT32, DCL_FLOAT64, DCL_INT64, dcl_allgather_fn, dcl_allreduce_fn, dcl_broadcast_fn
from ._native import DCLTypeError, DCLValueError, NativeObject, call, functions
from ._optional import require

__all__ = [
    "world", "launched_size", "collective_timeout", "abort_on_exception", "Communicator", "GradientAllreduce",
    "check_configuration", "batch_share",
    "gather_projections", "gather_projections_backward", "sync_bn_statistics", "sync_bn_gradient_sums",
    "shuffle_keys", "unshuffle_keys",
]

_HANDLE = ctypes.c_void_p

_comm_create = functions["dcl_comm_create"]
_comm_create_single = functions["dcl_comm_create_single"]
_comm_free = functions["dcl_comm_free"]
_allreduce_sum = functions["dcl_comm_allreduce_sum"]
_allgather = functions["dcl_comm_allgather"]
_broadcast = functions["dcl_comm_broadcast"]
_check_configuration = functions["dcl_comm_check_configuration"]
_batch_share = functions["dcl_comm_batch_share"]
_grad_create = functions["dcl_grad_allreduce_create"]
_grad_bucket_count = functions["dcl_grad_allreduce_bucket_count"]
_grad_run = functions["dcl_grad_allreduce_run"]
_grad_free = functions["dcl_grad_allreduce_free"]
_gather = functions["dcl_projection_gather"]
_gather_backward = functions["dcl_projection_gather_backward"]
_bn_statistics = functions["dcl_sync_bn_statistics"]
_bn_gradient_sums = functions["dcl_sync_bn_gradient_sums"]
_key_shuffle = functions["dcl_key_shuffle"]
_key_unshuffle = functions["dcl_key_unshuffle"]

# The element codes of the collectives and their numpy types.
_ELEMENTS: dict[int, tuple[Any, Any]] = {DCL_FLOAT32: (np.float32, ctypes.c_float), DCL_FLOAT64: (np.float64, ctypes.c_double),
             DCL_INT64: (np.int64, ctypes.c_int64)}
_CODES = {np.dtype(dtype): code for code, (dtype, _) in _ELEMENTS.items()}

# Environment variables in which launchers publish the number of ranks: Open MPI's mpirun, and
# the PMI of MPICH's Hydra, Intel MPI and Slurm.
_SIZE_VARIABLES = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def launched_size() -> int:
    """The number of ranks the launcher (``mpirun``, ``srun``) started, read from its environment
    variables without importing MPI; 1 when the process was not started by a launcher."""
    for name in _SIZE_VARIABLES:
        value = os.environ.get(name)
        if value is not None and value.strip().isdigit():
            return max(1, int(value))
    return 1


def world() -> Any:
    """``mpi4py.MPI.COMM_WORLD`` when this process was started by ``mpirun`` (or another MPI
    launcher) with more than one rank, else ``None``; mpi4py is imported only in the first case.

    Raises
    ------
    DCLImportError
        Started with several ranks but mpi4py is not installed (the ``mpi`` extra).
    """
    if launched_size() <= 1:
        return None
    MPI = require("mpi4py.MPI", "mpi", f"dclkit.distributed.world (started by an MPI launcher with {launched_size()} ranks)",
                  note="mpi4py builds against an installed MPI such as Debian's libopenmpi-dev")
    comm = MPI.COMM_WORLD
    if comm.Get_size() > 1:
        _session(comm, collective_timeout())
    return comm


def _view(address: int, count: int, element: int) -> NDArray[Any]:
    """A zero-copy numpy view of ``count`` elements of code ``element`` at ``address``."""
    dtype, ctype = _ELEMENTS[element]
    if count == 0:
        return np.empty(0, dtype)
    return np.frombuffer((ctype * count).from_address(address), dtype=dtype)


def _report(message: int, capacity: int, error: BaseException) -> int:
    """Writes ``error`` into the core's message buffer (NUL-terminated, truncated) and returns
    the callback's failure status."""
    text = (str(error) if isinstance(error, _GaveUp) else f"{type(error).__name__}: {error}")
    encoded = text.encode("utf-8", "replace")[: max(0, capacity - 1)]
    if message and capacity > 0:
        ctypes.memmove(message, encoded, len(encoded))
        ctypes.memset(message + len(encoded), 0, 1)
    return 1


def check_comm(comm: Any) -> None:
    """Refuses with ``DCLTypeError`` anything but None, a :class:`Communicator` or an object with
    mpi4py's ``Get_rank`` and ``Get_size``: the one check of a ``comm`` argument."""
    if comm is None or isinstance(comm, Communicator):
        return
    if not (callable(getattr(comm, "Get_rank", None)) and callable(getattr(comm, "Get_size", None))):
        raise DCLTypeError(f"comm must be an mpi4py communicator, a dclkit.distributed.Communicator or None, "
                           f"got {type(comm).__name__}")


# ---- Ending the job when a rank leaves ---------------------------------------------------------

_TIMEOUT_VARIABLE = "DCLKIT_COLLECTIVE_TIMEOUT"
_ABORT_VARIABLE = "DCLKIT_ABORT_ON_EXCEPTION"
# Long enough for one rank's kNN evaluation or checkpoint while the others wait in the next step.
DEFAULT_TIMEOUT = 600.0
# The point-to-point tag of the departure notices (on the run's own communicator; MPI keeps
# point-to-point traffic apart from collectives). Below 32767, the least MPI_TAG_UB allowed.
_DEPARTURE_TAG = 0x7DC1
# A collective not done at once is polled without pause for its first second: Open MPI moves a
# non-blocking collective's data only inside MPI calls, so pauses between tests would slow a
# large transfer (a 16 MiB allreduce on 2 ranks took 3.5 s with pauses up to 10 ms from the
# start, against 0.1-0.5 s blocking, 2026-12-07). After that the rank is waiting for a late peer
# and sleeps between tests, doubling from _FIRST_PAUSE up to _LONGEST_PAUSE, leaving the cores
# to the others (a blocking MPI call would spin all along).
_SPIN_SECONDS = 1.0
_FIRST_PAUSE = 50e-6
_LONGEST_PAUSE = 0.001


def collective_timeout(timeout: Optional[float] = None) -> float:
    """The seconds a collective may wait for the other ranks before it raises
    :class:`dclkit.DCLCommError`: ``timeout`` when given, else the environment variable
    ``DCLKIT_COLLECTIVE_TIMEOUT``, else 600 (a slow rank's evaluation or checkpoint must fit)."""
    name = "timeout"
    if timeout is None:
        text = os.environ.get(_TIMEOUT_VARIABLE)
        if text is None or not text.strip():
            return DEFAULT_TIMEOUT
        name = _TIMEOUT_VARIABLE
        try:
            timeout = float(text)
        except ValueError:
            raise DCLValueError(f"{name} must be a number of seconds, got {text!r}") from None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.floating, np.integer)):
        raise DCLTypeError(f"{name} must be a number of seconds, got {type(timeout).__name__}")
    if not math.isfinite(timeout) or timeout <= 0:
        raise DCLValueError(f"{name} must be a positive finite number of seconds, got {timeout!r}")
    return float(timeout)


_abort_enabled = os.environ.get(_ABORT_VARIABLE, "1").strip().lower() not in ("0", "false", "no", "off")
_hook_installed = False


def abort_on_exception(enabled: bool) -> None:
    """Whether an exception that reaches the top level of a rank of a multi-rank run aborts the
    MPI job (the default; ``DCLKIT_ABORT_ON_EXCEPTION=0`` sets it off at start). When off, the
    other ranks still end: they raise :class:`dclkit.DCLCommError` once this rank's program has
    ended, or after the collective time-out."""
    global _abort_enabled
    if not isinstance(enabled, bool):
        raise DCLTypeError(f"enabled must be a bool, got {type(enabled).__name__}")
    _abort_enabled = enabled


def _install_abort_hook() -> None:
    """Wraps ``sys.excepthook`` once: the hook that was there (the user's, or Python's) prints the
    traceback, then ``MPI.COMM_WORLD.Abort(1)`` makes mpirun end every rank."""
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def abort_the_job(kind: type[BaseException], value: BaseException, traceback: Optional[TracebackType]) -> None:
        try:
            previous(kind, value, traceback)
        finally:
            if _abort_enabled and not issubclass(kind, SystemExit):
                from mpi4py import MPI
                if MPI.Is_initialized() and not MPI.Is_finalized():
                    rank = MPI.COMM_WORLD.Get_rank()
                    _say(f"rank {rank} raised {kind.__name__}; aborting the MPI job so that the other ranks do "
                         f"not wait for it (set {_ABORT_VARIABLE}=0 to turn this off)")
                    MPI.COMM_WORLD.Abort(1)

    sys.excepthook = abort_the_job


def _say(text: str) -> None:
    """Writes one dclkit line to stderr, after flushing what the program wrote before it."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
    try:
        sys.stderr.write(f"dclkit: {text}\n")
        sys.stderr.flush()
    except Exception:
        pass


class _GaveUp(Exception):
    """A collective this rank gave up on (or refused after one); its message reaches the core,
    which raises :class:`dclkit.DCLCommError`."""

    def __init__(self, reason: str, pending: bool = True) -> None:
        self.reason = reason
        super().__init__(f"{reason}. MPI cannot cancel a started collective, so this rank aborts the job when this "
                         "error reaches the top level or the program ends" if pending else reason)


class _Session:
    """What this process knows about one communicator of several ranks: how many dclkit
    collectives it has entered, which ranks have ended their program (after how many), and the
    collective it gave up on, if any (with the buffers MPI may still use)."""

    def __init__(self, comm: Any, timeout: float, mpi: bool) -> None:
        self.comm = comm
        self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())
        self.timeout = timeout
        self.mpi = mpi  # a real mpi4py communicator (fakes in tests have no departures)
        self.entered = 0
        self.departed: dict[int, int] = {}
        self.broken: Optional[str] = None
        self.abandoned: list = []
        self.pid = os.getpid()

    def enter(self) -> int:
        """Counts a collective this rank starts; refuses it after a collective was given up."""
        if self.broken is not None:
            raise _GaveUp(f"an earlier collective on this communicator was given up ({self.broken}); MPI cannot "
                          "cancel it, so no further collective can run: end the job", pending=False)
        self.entered += 1
        return self.entered

    def receive_departures(self) -> None:
        """Takes in the departure notices that have arrived."""
        from mpi4py import MPI
        status = MPI.Status()
        while self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=_DEPARTURE_TAG, status=status):
            count = np.empty(1, dtype=np.int64)
            self.comm.Recv([count, MPI.INT64_T], source=status.Get_source(), tag=_DEPARTURE_TAG)
            self.departed[status.Get_source()] = int(count[0])

    def missing_from(self, index: int) -> Optional[str]:
        """Why collective number ``index`` can never complete (a rank ended its program before
        entering it), or None."""
        if not self.mpi:
            return None
        self.receive_departures()
        gone = sorted(r for r, count in self.departed.items() if count < index)
        if not gone:
            return None
        first = gone[0]
        return (f"rank {first} ended its program after {self.departed[first]} collectives, while rank {self.rank} "
                f"waits in collective {index}" + (f" (ranks {gone} are gone)" if len(gone) > 1 else "") +
                ": every rank must make the same dclkit calls (fit, evaluation, save) in the same order")

    def give_up(self, reason: str, request: Any, buffers: list) -> None:
        """Marks the communicator unusable and keeps the request and its buffers alive for good
        (MPI may still write to them)."""
        self.broken = reason
        self.abandoned.append((request, buffers))

    def leave(self) -> None:
        """At the end of this rank's program: tells every other rank how many collectives this
        one entered and waits (up to the time-out) until every other rank has ended its program
        too; aborts the job when one does not, or when a collective was given up."""
        from mpi4py import MPI
        if self.broken is not None:
            _say(f"rank {self.rank} gave up a collective ({self.broken}); MPI cannot cancel it and MPI_Finalize "
                 "could wait forever, so the MPI job is aborted")
            self.comm.Abort(1)
        count = np.array([self.entered], dtype=np.int64)
        sends = [self.comm.Isend([count, MPI.INT64_T], dest=r, tag=_DEPARTURE_TAG)
                 for r in range(self.size) if r != self.rank]
        deadline = time.monotonic() + self.timeout
        pause = _FIRST_PAUSE
        while True:
            self.receive_departures()
            if len(self.departed) >= self.size - 1 and MPI.Request.Testall(sends):
                return
            if time.monotonic() >= deadline:
                waiting = [r for r in range(self.size) if r != self.rank and r not in self.departed]
                _say(f"rank {self.rank} has ended its program, but ranks {waiting} did not end theirs within the "
                     f"{self.timeout:g} s collective time-out ({_TIMEOUT_VARIABLE}); aborting the MPI job so that "
                     "no rank waits forever")
                self.comm.Abort(1)
            time.sleep(pause)
            pause = min(2 * pause, _LONGEST_PAUSE)


# One session per MPI communicator of several ranks (keyed by its Fortran handle, the same for
# every Python object over it), left in creation order when the interpreter exits, before
# mpi4py's MPI_Finalize.
_SESSIONS: dict[int, _Session] = {}


def _session(comm: Any, timeout: float) -> _Session:
    """The session of an mpi4py communicator of several ranks (registered at the first call,
    with the abort hook); a later, longer time-out also lengthens the wait at exit."""
    key = comm.py2f()
    session = _SESSIONS.get(key)
    if session is None:
        if not _SESSIONS:
            atexit.register(_leave_all)
        session = _SESSIONS[key] = _Session(comm, timeout, mpi=True)
        _install_abort_hook()
    session.timeout = max(session.timeout, timeout)
    return session


def _leave_all() -> None:
    """The exit hook: leaves every session of this process (not in forked children)."""
    from mpi4py import MPI
    if not MPI.Is_initialized() or MPI.Is_finalized():
        return
    for session in _SESSIONS.values():
        if session.pid == os.getpid():
            session.leave()


def _is_mpi4py(comm: Any) -> bool:
    """True for an mpi4py communicator (tests pass look-alikes that are not)."""
    return type(comm).__module__.startswith("mpi4py")


class Communicator(NativeObject):
    """The native communicator over an mpi4py communicator, or over one process.

    Parameters
    ----------
    comm : mpi4py communicator or None
        ``None`` (or a communicator of one rank) gives the one-process communicator: every
        collective is the identity and MPI is not needed. Otherwise the core's collectives run
        mpi4py's non-blocking ``Ireduce_scatter_block`` + ``Iallgather`` (allreduce),
        ``Iallgather`` and ``Ibcast``, polled until they complete or time out.
    timeout : float, optional
        Seconds a collective may wait for the other ranks before it raises
        :class:`dclkit.DCLCommError` (default: ``DCLKIT_COLLECTIVE_TIMEOUT``, else 600).

    Notes
    -----
    The allreduce is a reduce-scatter followed by an all-gather, so every element is summed on
    exactly one rank and copied to the others: all ranks get the same bytes whatever MPI's
    summation order (``MPI_Allreduce`` only recommends that), which keeps weights bitwise
    identical. It moves the bytes of a ring allreduce, 2 (W - 1) / W of the buffer.

    The collectives run on buffers of this object, copied from and to the core's: a collective
    given up (time-out, or a rank that ended its program before entering it) stays pending in
    MPI, which cannot cancel it, so its buffers are kept for good and the core's may be freed.
    After that every collective of the communicator raises :class:`dclkit.DCLCommError` at once,
    and the rank aborts the job when it exits (see the module's notes).
    """

    _copy_hint = "create another Communicator over the same mpi4py communicator"

    def __init__(self, comm: Any = None, timeout: Optional[float] = None) -> None:
        self._handle = None
        if isinstance(comm, Communicator):
            raise DCLTypeError("comm is already a dclkit.distributed.Communicator; pass it as it is")
        check_comm(comm)
        self.comm = comm
        self.timeout = collective_timeout(timeout)
        handle = _HANDLE()
        if comm is None or comm.Get_size() == 1:
            self.rank, self.size = 0, 1
            call(_comm_create_single, ctypes.byref(handle))
        else:
            self.rank, self.size = int(comm.Get_rank()), int(comm.Get_size())
            self._session = (_session(comm, self.timeout) if _is_mpi4py(comm)
                             else _Session(comm, self.timeout, mpi=False))
            self._staging: dict = {}
            # The callbacks must live as long as the handle: they are attributes of self.
            self._callbacks = (dcl_allreduce_fn(self._allreduce), dcl_allgather_fn(self._allgather),
                               dcl_broadcast_fn(self._broadcast))
            call(_comm_create, self.rank, self.size, *self._callbacks, None, ctypes.byref(handle))
        self._handle = handle

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            _comm_free(handle)
            self._handle = None

    def __repr__(self) -> str:
        return f"dclkit.distributed.Communicator(rank={self.rank}, size={self.size})"

    def _stage(self, role: str, dtype: np.dtype, count: int) -> np.ndarray:
        """This object's buffer for one role of a collective, ``count`` elements of ``dtype``."""
        buffer = self._staging.get((role, dtype))
        if buffer is None or buffer.size < count:
            buffer = self._staging[(role, dtype)] = np.empty(max(count, 1), dtype=dtype)
        return buffer[:count]

    def _complete(self, request: Any, operation: str, index: int) -> None:
        """Polls ``request`` until it completes; gives it up (raising ``_GaveUp``) when a rank
        ended its program before entering collective ``index`` or after the time-out. Any other
        exception while it is pending (an interrupt, an MPI error) gives it up too."""
        try:
            if request.Test():
                return
            start = time.monotonic()
            deadline, pause = start + self.timeout, 0.0
            while not request.Test():
                now = time.monotonic()
                if now - start < _SPIN_SECONDS and now < deadline:
                    continue
                reason = self._session.missing_from(index)
                if reason is None and now >= deadline:
                    reason = (f"no answer within the {self.timeout:g} s time-out (Communicator(timeout=...) or "
                              f"{_TIMEOUT_VARIABLE}): a rank is stuck, died, or left this collective out")
                if reason is not None:
                    raise _GaveUp(reason)
                pause = min(max(2 * pause, _FIRST_PAUSE), _LONGEST_PAUSE)
                time.sleep(min(pause, max(deadline - now, 0.0)))
        except BaseException as error:
            reason = error.reason if isinstance(error, _GaveUp) else f"interrupted by {type(error).__name__}: {error}"
            self._session.give_up(f"{operation}: {reason}", request, list(self._staging.values()))
            self._staging = {}
            raise

    # The three callbacks the core calls; each returns 0 or reports the exception.

    def _allreduce(self, _context: int, buffer: int, count: int, element: int, message: int, capacity: int) -> int:
        try:
            index = self._session.enter()
            if count == 0:
                return 0
            data = _view(buffer, count, element)
            block = -(-count // self.size)  # padded with zeros to W equal blocks
            send = self._stage("send", data.dtype, block * self.size)
            send[:count] = data
            send[count:] = 0
            part = self._stage("part", data.dtype, block)
            self._complete(self.comm.Ireduce_scatter_block(send, part), "allreduce", index)
            receive = self._stage("receive", data.dtype, block * self.size)
            self._complete(self.comm.Iallgather(part, receive), "allreduce", index)
            data[:] = receive[:count]
            return 0
        except BaseException as error:  # a callback must not raise into the core
            return _report(message, capacity, error)

    def _allgather(self, _context: int, send: int, receive: int, count: int, element: int,
                   message: int, capacity: int) -> int:
        try:
            index = self._session.enter()
            source = _view(send, count, element)
            staged = self._stage("send", source.dtype, count)
            staged[:] = source
            gathered = self._stage("receive", source.dtype, count * self.size)
            self._complete(self.comm.Iallgather(staged, gathered), "allgather", index)
            _view(receive, count * self.size, element)[:] = gathered
            return 0
        except BaseException as error:
            return _report(message, capacity, error)

    def _broadcast(self, _context: int, buffer: int, count: int, element: int, root: int,
                   message: int, capacity: int) -> int:
        try:
            index = self._session.enter()
            data = _view(buffer, count, element)
            staged = self._stage("send", data.dtype, count)
            staged[:] = data
            self._complete(self.comm.Ibcast(staged, root=root), "broadcast", index)
            data[:] = staged
            return 0
        except BaseException as error:
            return _report(message, capacity, error)

    # Collectives on numpy arrays, through the core.

    @staticmethod
    def _array(x: ArrayLike, name: str) -> NDArray[Any]:
        array = np.ascontiguousarray(x)
        if array.dtype not in _CODES:
            raise DCLTypeError(f"{name} must be float32, float64 or int64, got dtype {array.dtype}")
        if array.size == 0:
            raise DCLValueError(f"{name} is empty (shape {array.shape})")
        return array

    def allreduce_sum(self, x: ArrayLike) -> NDArray[Any]:
        """The element-wise sum of ``x`` over all ranks (float32, float64 or int64; a new array
        of ``x``'s shape, the same bytes on every rank)."""
        out = self._array(x, "x").copy()
        call(_allreduce_sum, self._handle, _CODES[out.dtype], out.ctypes.data, out.size)
        return out

    def allgather(self, x: ArrayLike) -> NDArray[Any]:
        """Every rank's ``x`` stacked in rank order: shape ``(size, *x.shape)``."""
        array = self._array(x, "x")
        out = np.empty((self.size,) + array.shape, dtype=array.dtype)
        call(_allgather, self._handle, _CODES[array.dtype], array.ctypes.data, array.size, out.ctypes.data)
        return out

    def broadcast(self, x: ArrayLike, root: int = 0) -> NDArray[Any]:
        """Rank ``root``'s ``x`` on every rank (each rank passes an array of the same shape and type)."""
        out = self._array(x, "x").copy()
        root = _arrays.integer(root, "root", 0, self.size - 1)
        call(_broadcast, self._handle, _CODES[out.dtype], out.ctypes.data, out.size, root)
        return out


def check_configuration(comm: Communicator, text: str) -> None:
    """Checks that every rank passes the same resolved configuration ``text`` (its JSON): each
    rank's 64-bit hash is all-gathered; on a difference every rank raises the same
    :class:`dclkit.DCLValueError`, naming the ranks that differ from rank 0."""
    if not isinstance(text, str):
        raise DCLTypeError(f"text must be a str, got {type(text).__name__}")
    if "\0" in text:
        raise DCLValueError("text contains a NUL character")
    call(_check_configuration, comm._handle, text.encode("utf-8"))


def batch_share(comm: Communicator, batch_size: int) -> tuple[int, int]:
    """This rank's share of a global batch of ``batch_size`` rows: ``(local, offset)``, rows
    ``offset ..< offset + local`` with ``local = batch_size / W``. A batch not divisible by W
    raises :class:`dclkit.DCLValueError` on every rank."""
    batch_size = _arrays.integer(batch_size, "batch_size", 1, 1 << 40)
    local, offset = ctypes.c_int64(), ctypes.c_int64()
    call(_batch_share, comm._handle, batch_size, ctypes.byref(local), ctypes.byref(offset))
    return local.value, offset.value


class GradientAllreduce(NativeObject):
    """Averages an encoder's accumulated gradients over the ranks in a few fused buckets.

    Parameters
    ----------
    comm : Communicator
    encoder : dclkit.Encoder
        Every rank holds the same architecture; its gradients are averaged in place.
    bucket_floats : int
        The largest bucket, in floats (default 4 Mi = 16 MiB: ResNet-18's 11.2 M gradients
        travel in 3 allreduces). The last layers' gradients go first (backward finishes them
        first).

    After :meth:`run` the gradients are the mean over ranks, bitwise identical on every rank.
    """

    _copy_hint = "create another GradientAllreduce for the encoder"

    def __init__(self, comm: Communicator, encoder: Any, bucket_floats: int = 1 << 22) -> None:
        self._handle = None
        if not isinstance(comm, Communicator):
            raise DCLTypeError(f"comm must be a dclkit.distributed.Communicator, got {type(comm).__name__}")
        from .encoder import Encoder

        if not isinstance(encoder, Encoder):
            raise DCLTypeError(f"encoder must be a dclkit.Encoder, got {type(encoder).__name__}")
        self.comm = comm
        self.encoder = encoder
        bucket_floats = _arrays.integer(bucket_floats, "bucket_floats", 1, 1 << 34)
        handle = _HANDLE()
        with encoder._lock:
            call(_grad_create, comm._handle, encoder._handle, bucket_floats, ctypes.byref(handle))
        self._handle = handle
        count = ctypes.c_int64()
        call(_grad_bucket_count, handle, ctypes.byref(count))
        self.bucket_count: int = count.value

    def __del__(self) -> None:
        handle = getattr(self, "_handle", None)
        if handle is not None:
            _grad_free(handle)
            self._handle = None

    def run(self) -> None:
        """Replaces every accumulated gradient of the encoder by its mean over the ranks."""
        with self.encoder._lock:
            call(_grad_run, self._handle)


def _float64_vector(x: ArrayLike, name: str, length: Optional[int] = None) -> NDArray[np.float64]:
    array = np.ascontiguousarray(x, dtype=np.float64)
    if array.ndim != 1 or array.size == 0:
        raise DCLValueError(f"{name} must be a non-empty vector, got shape {array.shape}")
    if length is not None and array.size != length:
        raise DCLValueError(f"{name} must have {length} values (one per channel), got {array.size}")
    return array


def gather_projections(comm: Communicator, z: ArrayLike) -> NDArray[np.float32]:
    """All-gathers the projections ``z`` (b, D) of every rank: ``(W * b, D)``, rank 0's rows first."""
    local = _arrays.float32_array(z, "z", ndim=2)
    out = np.empty((comm.size * local.shape[0], local.shape[1]), dtype=np.float32)
    call(_gather, comm._handle, _arrays.pointer(local), local.shape[0], local.shape[1], _arrays.pointer(out))
    return out


def gather_projections_backward(comm: Communicator, grad_gathered: ArrayLike) -> NDArray[np.float32]:
    """The backward of :func:`gather_projections` (lightly's ``GatherLayer``): ``grad_gathered``
    (W * b, D) is the gradient of this rank's loss term with respect to all gathered rows; returns
    the sum of all ranks' ``grad_gathered`` at this rank's rows, ``(b, D)``."""
    g = _arrays.float32_array(grad_gathered, "grad_gathered", ndim=2)
    if g.shape[0] % comm.size:
        raise DCLValueError(f"grad_gathered has {g.shape[0]} rows, not a multiple of the {comm.size} ranks")
    rows = g.shape[0] // comm.size
    out = np.empty((rows, g.shape[1]), dtype=np.float32)
    call(_gather_backward, comm._handle, _arrays.pointer(g), rows, g.shape[1], _arrays.pointer(out))
    return out


def sync_bn_statistics(comm: Communicator, sum: ArrayLike, sum_sq: ArrayLike,
                       count: int) -> tuple[NDArray[np.float64], NDArray[np.float64], int]:
    """SyncBN's forward reduction: from this rank's per-channel ``sum`` and ``sum_sq`` (C each)
    of ``count`` values per channel, the global ``(mean, var, N)`` (biased variance, float64)."""
    s = _float64_vector(sum, "sum")
    s2 = _float64_vector(sum_sq, "sum_sq", s.size)
    count = _arrays.integer(count, "count", 0, 1 << 50)
    mean, var, total = np.empty_like(s), np.empty_like(s), ctypes.c_int64()
    call(_bn_statistics, comm._handle, _arrays.pointer(s, ctypes.c_double), _arrays.pointer(s2, ctypes.c_double),
         count, s.size, _arrays.pointer(mean, ctypes.c_double), _arrays.pointer(var, ctypes.c_double),
         ctypes.byref(total))
    return mean, var, total.value


def sync_bn_gradient_sums(comm: Communicator, sum_dy: ArrayLike,
                          sum_dy_xhat: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """SyncBN's backward reduction: this rank's per-channel Σdy and Σdy·x̂ (C each) summed over
    the global batch."""
    a = _float64_vector(sum_dy, "sum_dy")
    b = _float64_vector(sum_dy_xhat, "sum_dy_xhat", a.size)
    out_a, out_b = np.empty_like(a), np.empty_like(b)
    call(_bn_gradient_sums, comm._handle, _arrays.pointer(a, ctypes.c_double), _arrays.pointer(b, ctypes.c_double),
         a.size, _arrays.pointer(out_a, ctypes.c_double), _arrays.pointer(out_b, ctypes.c_double))
    return out_a, out_b


def shuffle_keys(comm: Communicator, rows: ArrayLike, seed: int, step: int) -> tuple[NDArray[np.float32], NDArray[np.int64]]:
    """MoCo's shuffle across ranks: gathers every rank's ``rows`` (b, ...), takes this rank's b rows
    of the global batch in the order of a permutation that rank 0 draws from (seed, step) and
    broadcasts. Returns ``(shuffled, permutation)``: this rank's rows (``rows``' shape) and the
    permutation of the W * b global rows (int64, the same on every rank)."""
    x = _arrays.float32_array(rows, "rows")
    if x.ndim < 1:
        raise DCLValueError("rows must have at least one dimension")
    seed = _arrays.integer(seed, "seed", 0, (1 << 64) - 1)
    step = _arrays.integer(step, "step", 0, (1 << 64) - 1)
    n = x.shape[0]
    shuffled = np.empty_like(x)
    permutation = np.empty(comm.size * n, dtype=np.int64)
    call(_key_shuffle, comm._handle, _arrays.pointer(x), n, x.size // n, seed, step, _arrays.pointer(shuffled),
         _arrays.pointer(permutation, ctypes.c_int64))
    return shuffled, permutation


def unshuffle_keys(comm: Communicator, keys: ArrayLike, permutation: ArrayLike) -> NDArray[np.float32]:
    """The inverse of :func:`shuffle_keys` for the keys (b, D) computed on the shuffled rows:
    gathers them and returns the keys of this rank's own rows in their original order."""
    k = _arrays.float32_array(keys, "keys", ndim=2)
    order = np.ascontiguousarray(permutation)
    if order.dtype.kind not in "iu" or order.ndim != 1:
        raise DCLTypeError(f"permutation must be a vector of integers, got dtype {order.dtype}, shape {order.shape}")
    if order.size != comm.size * k.shape[0]:
        raise DCLValueError(f"permutation must hold {comm.size * k.shape[0]} indices, got {order.size}")
    order = order.astype(np.int64, copy=False)
    out = np.empty_like(k)
    call(_key_unshuffle, comm._handle, _arrays.pointer(k), k.shape[0], k.shape[1],
         _arrays.pointer(order, ctypes.c_int64), _arrays.pointer(out))
    return out

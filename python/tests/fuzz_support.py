"""The parent side of the fuzz tests: a long-lived worker process (``fuzz_worker.py``) that runs
many cases, one at a time, and is restarted when a case kills it.

``Worker.run`` returns the worker's answer for one case and raises ``CaseFailed`` when the
process died (a signal or an exit) or did not answer within the timeout (a hang). The
property every fuzz test asserts is ``check(answer)``: a ``DCLError`` or a correct result.
"""
from __future__ import annotations

import os
import pickle
import select
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = Path(__file__).with_name("fuzz_worker.py")

#: Cases run in worker processes so far in this pytest session (printed at the end).
CASES_RUN = 0


class CaseFailed(AssertionError):
    """The worker crashed or hung on a case."""


class Worker:
    """A subprocess running fuzz cases; ``timeout`` seconds per case count as a hang."""

    def __init__(self, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile()

    def _start(self) -> subprocess.Popen:
        environment = dict(os.environ, PYTHONFAULTHANDLER="1")
        self.log.seek(0)
        self.log.truncate()
        return subprocess.Popen([sys.executable, str(WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=self.log, env=environment)

    def _read(self, count: int) -> bytes:
        assert self.process is not None and self.process.stdout is not None
        data = b""
        descriptor = self.process.stdout.fileno()
        while len(data) < count:
            ready, _, _ = select.select([descriptor], [], [], self.timeout)
            if not ready:
                raise TimeoutError
            chunk = os.read(descriptor, count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def _log_tail(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-3000:]

    def run(self, name: str, *arguments: object) -> tuple[str, str]:
        """The answer ``(kind, detail)`` of case ``name`` with ``arguments``."""
        global CASES_RUN
        if self.process is None or self.process.poll() is not None:
            self.process = self._start()
        CASES_RUN += 1
        frame = pickle.dumps((name, arguments))
        try:
            assert self.process.stdin is not None
            self.process.stdin.write(struct.pack("<I", len(frame)) + frame)
            self.process.stdin.flush()
            (length,) = struct.unpack("<I", self._read(4))
            return pickle.loads(self._read(length))
        except TimeoutError:
            self.process.kill()
            self.process.wait()
            self.process = None
            raise CaseFailed(f"case {name} hung for {self.timeout} s: {arguments!r:.2000}") from None
        except (EOFError, BrokenPipeError):
            code = self.process.wait()
            self.process = None
            how = f"signal {-code}" if code < 0 else f"exit status {code}"
            raise CaseFailed(f"case {name} killed the worker ({how}): {arguments!r:.2000}\n{self._log_tail()}") from None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
        self.log.close()


def check(answer: tuple[str, str], case: object = "") -> str:
    """Asserts the property of the suite: a DCLError or a correct result; returns the kind."""
    kind, detail = answer
    assert kind in ("ok", "dcl"), f"{kind} for {case!r:.2000}:\n{detail}"
    return kind


def fuzz_settings(examples: int, *checks: object) -> object:
    """Hypothesis settings of the fuzz suite: ``examples`` cases times ``DCLKIT_FUZZ_SCALE``
    (fixed examples unless it is set, then fresh ones), no deadline, no example database."""
    from hypothesis import HealthCheck, settings

    scale = float(os.environ.get("DCLKIT_FUZZ_SCALE", "1"))
    return settings(max_examples=int(examples * scale), deadline=None, database=None,
                    derandomize="DCLKIT_FUZZ_SCALE" not in os.environ,
                    suppress_health_check=[HealthCheck.too_slow, *checks])


def module_worker():
    """A worker for one test module (use as ``worker = pytest.fixture(scope="module")(module_worker)``)."""
    w = Worker(timeout=60)
    yield w
    w.close()


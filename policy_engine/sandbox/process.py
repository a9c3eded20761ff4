"""Persistent worker processes that run untrusted selector code, and a small pool of them.

A worker is a child process that speaks JSON lines: it writes ``{"ready": true, ...}`` once it
has started, then answers each request line with one reply line carrying the request's ``id``.
The parent never trusts a worker to stop on its own: every request has a deadline, and a worker
that misses it, writes garbage, floods its pipe or dies is killed (``SIGKILL`` of its whole
process group) and replaced by a fresh one started in the background.

Resource limits are applied from the parent with ``prlimit`` right after the process starts and
before it receives any user code, so the same mechanism serves Python and node workers.

Workers die with their parent. A worker busy in a script loop never reads its stdin, so closing
the pipe is not enough when the engine is killed (``SIGKILL``, an out-of-memory kill): the worker
would spin on, orphaned. Every worker therefore asks the kernel for ``SIGKILL`` when its parent
goes (``prctl(PR_SET_PDEATHSIG)``, set between ``fork`` and ``exec``, so it holds for node too).
The kernel sends that signal when the *thread* that forked the worker ends, not the process, so
every worker is started by one long-lived spawner thread (:func:`spawn`), never by the short-lived
threads that warm workers up in the background.

A worker may ask to be retired: a reply carrying ``"retire": true`` is returned to the caller as
usual, then the worker is killed and replaced (the Python worker does this when a script left it
holding too much memory, so the next script, perhaps another pool's, finds a fresh one).

Reply lines are split with the bounded :class:`~policy_engine.common.line_framing.LineFramer` (a worker that
writes more than :data:`MAX_REPLY_BYTES` without a newline is killed as soon as it does) and parsed
only when they are short and shallow (:mod:`~policy_engine.sandbox.bounded_json`).

Exceptions (all derive from :class:`WorkerError`)::

    WorkerError
    ├── WorkerUnavailable   the program cannot be started (missing, or failed before "ready")
    ├── WorkerTimeout       no reply before the deadline (the worker was killed)
    └── WorkerCrashed       the worker died or broke the protocol (it was killed if still alive)
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import json
import os
import queue
import resource
import select
import signal
import subprocess
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from typing import Any, NoReturn

from policy_engine.common.line_framing import READ_CHUNK, LineFramer, TooLong
from policy_engine.common.records import dataclass

from .bounded_json import MAX_ANSWER_DEPTH
from .bounded_json import loads as bounded_loads

__all__ = [
    "MAX_REPLY_BYTES",
    "WorkerCrashed",
    "WorkerError",
    "WorkerPool",
    "WorkerProcess",
    "WorkerSpec",
    "WorkerTimeout",
    "WorkerUnavailable",
    "spawn",
]

MAX_REPLY_BYTES = 1 << 20  # a reply line longer than this is a protocol violation

#: The modules that register paired ``os.register_at_fork`` hooks ("before" and "after in parent") when first
#: imported: all of them in the standard library and in the dependencies of ``mp-policy serve`` (the Redis and metrics
#: extras included; a test keeps the list complete).
#: The spawner imports them before its thread starts, so none is first imported while it forks. A fork with a
#: ``preexec_fn`` runs the "before" hooks, then waits for the import lock; such a module imported meanwhile by
#: another thread (logging by a ``fail`` classifying an error while a worker is replaced in the background,
#: concurrent.futures.thread by the first call of an AsyncEngine, whose asyncio.to_thread starts a thread pool) adds
#: its hooks in between, and the parent runs the "after" one without the "before" one ("cannot release un-acquired
#: lock", "release unlocked lock").
_PAIRED_AT_FORK_MODULES = ("logging", "concurrent.futures.thread")
STARTUP_TIMEOUT = 10.0  # seconds a worker may take to print its "ready" line
MAX_REPLY_DEPTH = MAX_ANSWER_DEPTH + 4  # a reply line: the answer plus the reply's own object
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class WorkerError(Exception):
    """A worker could not answer a request."""


class WorkerUnavailable(WorkerError):
    """The worker program cannot be started."""


class WorkerTimeout(WorkerError):
    """The worker did not answer before the deadline and was killed."""


class WorkerCrashed(WorkerError):
    """The worker died, or wrote something that is not a reply, and was killed."""


def _death_signal_setter() -> Callable[[], None] | None:
    """A ``preexec_fn`` that makes the child receive ``SIGKILL`` when its parent goes (Linux only)."""
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the line above: nobody will kill us later
            os._exit(1)

    return set_death_signal


class _Spawner:
    """The one long-lived thread that starts worker processes (see the module docstring)."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.preexec = _death_signal_setter()
        for name in _PAIRED_AT_FORK_MODULES:  # before the thread exists: see _PAIRED_AT_FORK_MODULES
            importlib.import_module(name)
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], threading.Event]] = queue.SimpleQueue()
        threading.Thread(target=self._serve, name="mp-policy-worker-spawner", daemon=True).start()

    def _serve(self) -> None:
        while True:
            job, box, done = self._jobs.get()
            try:
                box.append((True, job()))
            except BaseException as exc:
                box.append((False, exc))
            finally:
                done.set()

    def run(self, job: Callable[[], Any]) -> Any:
        """Run ``job`` on the spawner thread and return its result (or raise its exception)."""
        box: list[tuple[bool, Any]] = []
        done = threading.Event()
        self._jobs.put((job, box, done))
        done.wait()
        ok, value = box[0]
        if not ok:
            raise value
        return value


_spawner: _Spawner | None = None
_spawner_lock = threading.Lock()


def spawn(argv: Sequence[str], env: Mapping[str, str], cwd: str | None) -> subprocess.Popen[bytes]:
    """Start a worker process from the spawner thread; it gets ``SIGKILL`` when this process dies."""
    global _spawner, _spawner_lock
    if _spawner is not None and _spawner.pid != os.getpid():  # a forked child: the thread did not survive
        _spawner, _spawner_lock = None, threading.Lock()
    with _spawner_lock:
        if _spawner is None:
            _spawner = _Spawner()
        spawner = _spawner
    return spawner.run(lambda: subprocess.Popen(
        list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        close_fds=True, env=dict(env), cwd=cwd, start_new_session=True, preexec_fn=spawner.preexec,
    ))


@dataclass(frozen=True)
class WorkerSpec:
    """How to start one kind of worker: command line, environment, working folder and rlimits."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    limits: Mapping[int, tuple[int, int]] = field(default_factory=dict)  # resource.RLIMIT_* -> (soft, hard)
    startup_timeout: float = STARTUP_TIMEOUT


class WorkerProcess:
    """One running worker. Not thread-safe: a :class:`WorkerPool` hands it to one caller at a time."""

    def __init__(self, spec: WorkerSpec) -> None:
        self.spec = spec
        self.proc: subprocess.Popen[bytes] | None = None
        self.ready: dict[str, Any] = {}
        self.loaded: set[str] = set()  # source hashes this worker has compiled (reset on restart)
        self.calls = 0
        self._framer = LineFramer(MAX_REPLY_BYTES)
        self._lines: deque[bytes | TooLong] = deque()  # read, not yet taken
        self._next_id = 0
        self.owner_pid = os.getpid()

    @property
    def alive(self) -> bool:
        """True while the process runs."""
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float | None = None) -> None:
        """Start the process, apply the limits and wait for its ready line."""
        self.kill()
        self.loaded = set()
        self._framer = LineFramer(MAX_REPLY_BYTES)
        self._lines.clear()
        try:
            self.proc = spawn(self.spec.argv, self.spec.env, self.spec.cwd)
        except (OSError, subprocess.SubprocessError) as exc:
            program = os.path.basename(self.spec.argv[0])  # its name, not where it is installed
            why = exc.strerror if isinstance(exc, OSError) else str(exc)
            raise WorkerUnavailable(f"cannot start the {self.spec.name} worker ({program}): {why}") from exc
        try:
            for res, limit in self.spec.limits.items():
                resource.prlimit(self.proc.pid, res, limit)
        except OSError as exc:
            self.kill()
            raise WorkerUnavailable(f"cannot limit the {self.spec.name} worker: {exc}") from exc
        try:
            line = self._read_line(time.monotonic() + (timeout or self.spec.startup_timeout))
            ready = bounded_loads(line, MAX_REPLY_BYTES, MAX_REPLY_DEPTH)
        except (WorkerError, ValueError) as exc:
            self.kill()
            raise WorkerUnavailable(f"the {self.spec.name} worker did not start: {exc}") from exc
        if not isinstance(ready, dict) or ready.get("ready") is not True:
            self.kill()
            raise WorkerUnavailable(f"the {self.spec.name} worker did not start: unexpected greeting")
        self.ready = ready

    def request(self, message: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Send ``message`` (an ``id`` is added) and return the reply, or raise before ``deadline``.

        A worker that died since it was handed out is noticed by the write or the read (no poll here).
        """
        if self.proc is None or self.proc.stdin is None:
            raise WorkerCrashed(f"the {self.spec.name} worker is not running")
        self._next_id += 1
        ident = self._next_id
        data = json.dumps({**message, "id": ident}, separators=(",", ":")).encode() + b"\n"
        try:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            text = self._exit_text()
            self.kill()
            raise WorkerCrashed(f"the {self.spec.name} worker {text}") from exc
        self.calls += 1
        line = self._read_line(deadline)
        try:
            reply = bounded_loads(line, MAX_REPLY_BYTES, MAX_REPLY_DEPTH)
        except ValueError as exc:
            self.kill()
            raise WorkerCrashed(f"the {self.spec.name} worker wrote something that is not JSON, "
                                "or too deeply nested") from exc
        if not isinstance(reply, dict) or reply.get("id") != ident:
            self.kill()
            raise WorkerCrashed(f"the {self.spec.name} worker answered out of turn")
        return reply

    def _read_line(self, deadline: float) -> bytes:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        while not self._lines:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.kill()
                raise WorkerTimeout(f"the {self.spec.name} worker did not answer in time")
            readable, _, _ = select.select([fd], [], [], remaining)
            if not readable:
                continue
            chunk = os.read(fd, READ_CHUNK)
            if not chunk:
                text = self._exit_text()
                self.kill()
                raise WorkerCrashed(f"the {self.spec.name} worker {text}")
            self._lines.extend(self._framer.feed(chunk))
            if self._framer.overflowing:  # over the limit before its newline: no need to read the rest
                self._too_long()
        line = self._lines.popleft()
        if isinstance(line, TooLong):
            self._too_long()
        return line

    def _too_long(self) -> NoReturn:
        self.kill()
        raise WorkerCrashed(f"the {self.spec.name} worker wrote more than {MAX_REPLY_BYTES} bytes")

    def _exit_text(self) -> str:
        proc = self.proc
        if proc is None:
            return "is not running"
        try:
            code = proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            try:
                return f"was killed by {signal.Signals(-code).name}"
            except ValueError:
                return f"was killed by signal {-code}"
        return f"exited with status {code}"

    def kill(self) -> None:
        """Kill the worker's process group (it may have children despite the sandbox) and reap it."""
        proc, self.proc = self.proc, None
        if proc is None:
            return
        if os.getpid() == self.owner_pid:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


class WorkerPool:
    """Up to ``size`` warm workers of one spec, handed out one caller at a time.

    ``call`` takes an idle worker (starting one when none is running, within the startup
    allowance), sends the request and returns the reply. A worker that times out or crashes is
    killed and a replacement is started in the background, so the next call finds a warm one.
    After ``fork`` the child never touches its parent's workers; it starts its own.
    """

    def __init__(self, spec_factory: Callable[[], WorkerSpec], size: int = 2) -> None:
        self._spec_factory = spec_factory
        self._spec: WorkerSpec | None = None
        self.size = max(1, size)
        self._idle: list[WorkerProcess] = []
        self._busy = 0
        self._starting = 0
        self._cond = threading.Condition()
        self._pid = os.getpid()
        self.restarts = 0
        self.retired = 0  # workers replaced at their own request
        self.last_start_error: str | None = None
        _POOLS.add(self)

    @property
    def spec(self) -> WorkerSpec:
        """The worker spec (built on first use)."""
        if self._spec is None:
            self._spec = self._spec_factory()
        return self._spec

    def _after_fork(self) -> None:
        if os.getpid() != self._pid:
            self._pid = os.getpid()
            self._idle = []
            self._busy = 0
            self._starting = 0
            self._cond = threading.Condition()

    def warm(self) -> None:
        """Start one worker in the background when none is running or starting."""
        self._after_fork()
        with self._cond:
            if self._idle or self._busy or self._starting:
                return
            self._starting += 1
        threading.Thread(target=self._start_one, name=f"mp-policy-{self.spec.name}-start", daemon=True).start()

    def _start_one(self) -> None:
        worker = WorkerProcess(self.spec)
        try:
            worker.start()
        except WorkerError as exc:
            self.last_start_error = str(exc)
            worker = None  # type: ignore[assignment]
        with self._cond:
            self._starting -= 1
            if worker is not None:
                self.last_start_error = None
                self._idle.append(worker)
            self._cond.notify_all()

    def _acquire(self, wait_until: float) -> WorkerProcess:
        self._after_fork()
        with self._cond:
            while True:
                while self._idle:
                    worker = self._idle.pop()
                    if worker.alive:
                        self._busy += 1
                        return worker
                    worker.kill()
                if self._busy + self._starting < self.size:
                    self._busy += 1
                    break
                if self._starting == 0 and self.last_start_error and self._busy == 0:
                    raise WorkerUnavailable(self.last_start_error)
                remaining = wait_until - time.monotonic()
                if remaining <= 0:
                    raise WorkerTimeout(f"no {self.spec.name} worker became free in time")
                self._cond.wait(remaining)
        worker = WorkerProcess(self.spec)
        try:
            worker.start()
        except WorkerError as exc:
            self.last_start_error = str(exc)
            self._release(None)
            raise
        self.last_start_error = None
        return worker

    def _release(self, worker: WorkerProcess | None) -> None:
        with self._cond:
            self._busy -= 1
            if worker is not None and worker.proc is not None:  # it just answered; _acquire polls it again
                self._idle.append(worker)
            self._cond.notify_all()

    def call(self, message: dict[str, Any], timeout: float, prepare: Callable[[WorkerProcess, dict[str, Any]],
             dict[str, Any]] | None = None) -> dict[str, Any]:
        """Send ``message`` to a worker and return its reply within ``timeout`` seconds of the send.

        ``prepare`` may adjust the message for the chosen worker (e.g. add the source of a script
        that worker has not compiled yet). Waiting for a free or starting worker is not counted in
        ``timeout``; it is bounded by the spec's startup allowance.
        """
        worker = self._acquire(time.monotonic() + self.spec.startup_timeout)
        try:
            reply = worker.request(prepare(worker, message) if prepare else message, time.monotonic() + timeout)
        except WorkerError:
            self._release(None)
            self.restarts += 1
            self.warm()
            raise
        if reply.get("retire") is True:  # the worker asks to be replaced (e.g. it holds too much memory)
            worker.kill()
            self._release(None)
            self.retired += 1
            self.warm()
            return reply
        self._release(worker)
        return reply

    def close(self) -> None:
        """Kill every idle worker (busy ones are killed by their caller's deadline)."""
        with self._cond:
            idle, self._idle = self._idle, []
        for worker in idle:
            worker.kill()


_POOLS: weakref.WeakSet[WorkerPool] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for pool in list(_POOLS):
        pool.close()

"""Python selectors: RestrictedPython code run in a pool of persistent, limited worker processes.

Selector scripts are untrusted (a project policy may come from a cloned repository). The layers,
from the outside in:

1. **The parent** (:mod:`policy_engine.sandbox.process`): every call has a deadline equal to the
   call's timeout; a worker that misses it, floods its pipe, writes garbage or dies is killed
   (``SIGKILL`` of its process group) and replaced in the background.
2. **rlimits applied by the parent**: ``RLIMIT_AS`` = :data:`ADDRESS_SPACE_BYTES` (memory bombs end
   in ``MemoryError``), a hard ``RLIMIT_CPU`` backstop of :data:`CPU_SECONDS_HARD` for the worker's
   whole life, ``RLIMIT_CORE`` 0. The worker runs ``python -I`` (no environment variables, no user
   site, no current folder on ``sys.path``) with an EMPTY environment and ``/`` as its folder.
3. **The worker** (:mod:`policy_engine.sandbox.python_worker`): no file descriptor beyond
   stdin/stdout/stderr can be opened, no file can grow, no process can be forked; a soft timeout at
   75 % of the call's timeout interrupts Python-level loops; a per-call soft ``RLIMIT_CPU`` kills a
   C-level hog with ``SIGXCPU``.
4. **The language** (:mod:`~policy_engine.sandbox.python_compile`,
   :mod:`~policy_engine.sandbox.python_guards`): RestrictedPython plus an allow-list of plain data
   types for attributes, items and iteration, no imports, a fixed set of pure builtins.

Compiling is the worker's job too. Compiling RestrictedPython is not cheap (measured: about 3 s for
256 KiB of ``x[1][2]`` statements), so this process never compiles a script: it refuses one longer
than :data:`~policy_engine.sandbox.base.MAX_PYTHON_SOURCE_CHARS` unread, and hands the rest
to a worker, where compiling counts against the call's timeout (``call``) or
:data:`CHECK_TIMEOUT` (``check``, which compiles and never runs the script). Problems a worker
found are remembered by source hash (at most :data:`PROBLEM_CACHE_SIZE`), so a script that does
not compile is not sent again; a compile that failed for want of memory, stack or time is not
remembered.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import MAX_PYTHON_SOURCE_CHARS as MAX_SOURCE_CHARS
from .base import Outcome, SourceProblem, source_hash
from .process import WorkerCrashed, WorkerPool, WorkerProcess, WorkerSpec, WorkerTimeout, WorkerUnavailable

__all__ = ["ADDRESS_SPACE_BYTES", "CHECK_TIMEOUT", "CPU_SECONDS_HARD", "PythonRunner", "get_python_runner"]

# RLIMIT_AS: the worker maps ~22 MiB once it has answered a call (interpreter, json,
# RestrictedPython; VmPeak measured) and still starts under a 32 MiB limit; a selector needs a few
# MiB for its context. 256 MiB is over 10x that, so legitimate scripts never come near it, while a
# memory bomb hits MemoryError after ~230 MiB, quickly (well within a sub-second timeout), and two
# workers can never take more than 512 MiB of the machine.
ADDRESS_SPACE_BYTES = 256 << 20
CPU_SECONDS_HARD = 3600  # CPU seconds a worker may use in its whole life (kernel SIGKILL beyond)
CHECK_TIMEOUT = 2.0  # seconds a worker may spend compiling a script for ``check`` (64 KiB: ~0.7 s at worst)
PROBLEM_CACHE_SIZE = 128
WORKER_MODULE = "policy_engine.sandbox.python_worker"

_SIGNAL_HINTS = {
    "SIGXCPU": "it used too much CPU time",
    "SIGKILL": "out of memory or CPU time?",
    "SIGSEGV": "the interpreter crashed",
    "SIGABRT": "the interpreter aborted, out of memory?",
}


_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class PythonRunner:
    """Runs Python selector scripts (``language = "python"``); see the module docstring."""

    language = "python"

    def __init__(self, pool_size: int = 2, address_space: int = ADDRESS_SPACE_BYTES,
                 cpu_seconds: int = CPU_SECONDS_HARD) -> None:
        self.address_space = address_space
        self.cpu_seconds = cpu_seconds
        self.pool = WorkerPool(self._spec, size=pool_size)
        self._problems: OrderedDict[str, tuple[SourceProblem, ...]] = OrderedDict()  # hash -> what a worker found
        self._problems_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"PythonRunner(pool_size={self.pool.size})"

    def _spec(self) -> WorkerSpec:
        return WorkerSpec(
            name="Python",
            # -I: no user site, no PYTHON* variables, no current directory on the path. The folder
            # this package was loaded from goes first, so the worker runs the same code as the parent
            # (installed or not).
            argv=(sys.executable, "-I", "-c",
                  f"import sys; sys.path.insert(0, {_PACKAGE_ROOT!r}); import runpy; "
                  f"runpy.run_module({WORKER_MODULE!r}, run_name='__main__')"),
            env={},
            cwd="/",
            limits={
                resource.RLIMIT_AS: (self.address_space, self.address_space),
                resource.RLIMIT_CPU: (self.cpu_seconds, self.cpu_seconds),
                resource.RLIMIT_CORE: (0, 0),
            },
        )

    def unavailable(self) -> str | None:
        """``None`` when scripts can run; else why the last worker failed to start."""
        return self.pool.last_start_error

    def _known(self, digest: str) -> tuple[SourceProblem, ...] | None:
        with self._problems_lock:
            found = self._problems.get(digest)
            if found is not None:
                self._problems.move_to_end(digest)
            return found

    def _remember(self, digest: str, problems: tuple[SourceProblem, ...]) -> None:
        with self._problems_lock:
            self._problems[digest] = problems
            while len(self._problems) > PROBLEM_CACHE_SIZE:
                self._problems.popitem(last=False)

    def check(self, source: str, filename: str) -> list[SourceProblem]:
        """Problems that stop the script from running: compiled by a worker within
        :data:`CHECK_TIMEOUT`, never run, never compiled in this process."""
        if len(source) > MAX_SOURCE_CHARS:
            return [_too_large()]
        digest = source_hash(source)
        known = self._known(digest)
        if known is not None:
            return list(known)
        try:
            reply = self.pool.call({"op": "check", "source": source, "filename": filename, "timeout": CHECK_TIMEOUT},
                                   CHECK_TIMEOUT)
        except WorkerUnavailable:
            return []  # reported by unavailable(); the pool falls back at call time
        except WorkerTimeout:
            return [SourceProblem(f"the script did not compile within {CHECK_TIMEOUT:g} s; is it too large?")]
        except WorkerCrashed as exc:
            return [SourceProblem(f"the script could not be checked ({exc})")]
        if reply.get("ok") is not True:
            return [SourceProblem(f"the script could not be checked ({_text(reply.get('message'))})")]
        problems = _problems(reply.get("problems"))
        if reply.get("transient") is not True:
            self._remember(digest, problems)
        return list(problems)

    def call(self, source: str, filename: str, ctx_json: str, timeout: float, scope: str = "") -> Outcome:
        """Run ``select(ctx)`` in a worker (module state kept per ``scope``); answers within ``timeout``
        s (plus scheduling slack), compiling included."""
        if not timeout > 0:
            return Outcome("timeout", detail="the selector was given no time to answer")
        if len(source) > MAX_SOURCE_CHARS:
            problem = _too_large()
            return Outcome("compile", detail=problem.message)
        digest = source_hash(source)
        known = self._known(digest)
        if known:
            return _compile_outcome(known)
        message = {"op": "call", "hash": digest, "filename": filename, "scope": scope, "ctx": ctx_json,
                   "timeout": min(timeout, 3000.0)}
        used: list[subprocess.Popen[bytes]] = []  # the worker process each attempt went to
        try:
            reply = self.pool.call(message, timeout, self._preparer(digest, source, used, force=False))
            if reply.get("kind") == "missing":  # the worker dropped the script: send the source again
                reply = self.pool.call(message, timeout, self._preparer(digest, source, used, force=True))
        except WorkerTimeout as exc:
            return Outcome("timeout", detail=f"the selector did not answer within {timeout:g} s ({exc})")
        except WorkerCrashed as exc:
            return Outcome("crash", detail=_crash_text(str(exc), used[-1] if used else None))
        except WorkerUnavailable as exc:
            return Outcome("unavailable", detail=str(exc))
        if reply.get("kind") == "compile":
            problems = _problems(reply.get("problems"))
            if problems:
                self._remember(digest, problems)
                return _compile_outcome(problems)
        return _outcome(reply)

    @staticmethod
    def _preparer(digest: str, source: str, used: list[subprocess.Popen[bytes]],
                  force: bool) -> Callable[[WorkerProcess, dict[str, Any]], dict[str, Any]]:
        def prepare(worker: WorkerProcess, message: dict[str, Any]) -> dict[str, Any]:
            if worker.proc is not None:
                used.append(worker.proc)
            if digest in worker.loaded and not force:
                return message
            worker.loaded.add(digest)
            return {**message, "source": source}

        return prepare

    def warm(self) -> None:
        """Start a worker in the background so that the first call does not pay for it."""
        self.pool.warm()

    def close(self) -> None:
        """Stop the idle workers."""
        self.pool.close()


def _too_large() -> SourceProblem:
    return SourceProblem(f"the script is too large (over {MAX_SOURCE_CHARS // 1024} KiB; a selector is a few lines)")


def _text(value: Any) -> str:
    return value if isinstance(value, str) else "no reason given"


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _problems(raw: Any) -> tuple[SourceProblem, ...]:
    """The problems of a worker reply, checked field by field (a reply is never trusted)."""
    if not isinstance(raw, list):
        return ()
    return tuple(SourceProblem(_text(p.get("message")), _int(p.get("line")), _int(p.get("column")))
                 for p in raw[:100] if isinstance(p, dict))


def _compile_outcome(problems: tuple[SourceProblem, ...]) -> Outcome:
    first = problems[0]
    detail = f"{first.message} (line {first.line})" if first.line is not None else first.message
    return Outcome("compile", detail=detail, line=first.line)


def _crash_text(text: str, proc: subprocess.Popen[bytes] | None) -> str:
    """Say how the worker died: the pool's message, or the process's exit status when it says nothing."""
    vague = "is not running" in text or "stopped answering" in text
    code = proc.poll() if proc is not None and vague else None
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        text = f"the Python worker was killed by {name}"
    elif code is not None:
        text = f"the Python worker exited with status {code}"
    for name, hint in _SIGNAL_HINTS.items():
        if name in text:
            return f"{text} ({hint})"
    return text


def _outcome(reply: dict[str, Any]) -> Outcome:
    if reply.get("ok") is True:
        return Outcome("ok", value=reply.get("value"))
    kind = reply.get("kind")
    message = str(reply.get("message") or "the selector failed")
    line = reply.get("line")
    line = line if isinstance(line, int) and not isinstance(line, bool) else None
    if kind in ("error", "compile", "timeout"):
        return Outcome(kind, detail=message, line=line)
    return Outcome("error", detail=message, line=line)


_shared: PythonRunner | None = None
_shared_lock = threading.Lock()


def get_python_runner() -> PythonRunner:
    """The process-wide shared :class:`PythonRunner` (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PythonRunner()
        return _shared


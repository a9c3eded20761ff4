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

``check`` only compiles, in this process; it never runs user code. ``call`` compiles in this
process first too (cached), so a script that does not compile never reaches a worker.
"""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .base import Outcome, SourceProblem, source_hash
from .process import WorkerCrashed, WorkerPool, WorkerProcess, WorkerSpec, WorkerTimeout, WorkerUnavailable
from .python_compile import compile_selector

__all__ = ["ADDRESS_SPACE_BYTES", "CPU_SECONDS_HARD", "PythonRunner", "get_python_runner"]

# RLIMIT_AS: the worker maps ~22 MiB once it has answered a call (interpreter, json,
# RestrictedPython; VmPeak measured) and still starts under a 32 MiB limit; a selector needs a few
# MiB for its context. 256 MiB is over 10x that, so legitimate scripts never come near it, while a
# memory bomb hits MemoryError after ~230 MiB, quickly (well within a sub-second timeout), and two
# workers can never take more than 512 MiB of the machine.
ADDRESS_SPACE_BYTES = 256 << 20
CPU_SECONDS_HARD = 3600  # CPU seconds a worker may use in its whole life (kernel SIGKILL beyond)
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

    def check(self, source: str, filename: str) -> list[SourceProblem]:
        """Problems that stop the script from running (compiles in this process; never runs it)."""
        return list(compile_selector(source, filename).problems)

    def call(self, source: str, filename: str, ctx_json: str, timeout: float) -> Outcome:
        """Run ``select(ctx)`` in a worker; answers within ``timeout`` s (plus scheduling slack)."""
        if not timeout > 0:
            return Outcome("timeout", detail="the selector was given no time to answer")
        digest = source_hash(source)
        compiled = compile_selector(source, filename, key=digest)
        if not compiled.ok:
            first = compiled.problems[0]
            detail = f"{first.message} (line {first.line})" if first.line is not None else first.message
            return Outcome("compile", detail=detail, line=first.line)
        message = {"op": "call", "hash": digest, "filename": filename, "ctx": ctx_json, "timeout": min(timeout, 3000.0)}
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


"""The Python selector worker: ``python -I -m policy_engine.sandbox.python_worker``.

It speaks the JSON-lines protocol of :mod:`policy_engine.sandbox.process`. Started by
:class:`~policy_engine.sandbox.python_runner.PythonRunner` with an empty environment, ``/`` as its
working folder, in a session of its own, with ``RLIMIT_AS`` (memory) and a hard ``RLIMIT_CPU``
applied by the parent.

Layers of defence, from the inside out
--------------------------------------
1. The script is compiled by :mod:`~policy_engine.sandbox.python_compile` (RestrictedPython plus
   our AST rules) and runs with the globals of :mod:`~policy_engine.sandbox.python_guards`: it can
   touch plain data only; it cannot import, open, reach ``sys``, frames, or this module.
2. This process, once it has imported everything it needs and before it reads any request, closes
   every file descriptor above 2 and sets ``RLIMIT_NOFILE`` to 3 (no new descriptor can be
   opened: no file, socket or pipe), ``RLIMIT_FSIZE`` to 0 (no file can grow), ``RLIMIT_CORE`` to
   0 and ``RLIMIT_NPROC`` to 0 (no ``fork`` for an unprivileged user). Its environment is empty, so
   there is no secret in it to read even after an escape.
3. Each call runs under a soft timeout: ``setitimer`` fires at 75 % of the call's timeout and
   raises :class:`~policy_engine.sandbox.python_guards.SelectorTimeout` (derived from
   ``BaseException``, which the script cannot name; bare ``except:`` is compiled as
   ``except Exception:``; every ``except`` clause re-raises it once it has fired; ``return`` in
   ``finally`` is refused). It fires once per call: the handler disarms itself before it raises,
   so the worker's own clean-up can never be interrupted by a second tick (a loop inside a
   script's ``finally`` is the parent's hard kill's job). That stops pure-Python loops and keeps
   the worker alive. A call whose soft timeout fired is reported as a timeout whatever the script
   returns or raises.
4. Each call also lowers the soft ``RLIMIT_CPU`` to (CPU used so far + the call's allowance), so a
   C-level hog that never returns to the interpreter (where signals are handled) dies of
   ``SIGXCPU``. ``RLIMIT_AS`` turns memory bombs into ``MemoryError``, which is reported; after one,
   every script's module state is dropped to give the memory back.
5. The parent's deadline (the call's timeout) and ``SIGKILL`` of the process group are the hard
   limit; a killed worker is replaced in the background.

Requests and replies (one JSON object per line)::

    {"id": 1, "op": "call", "hash": "<sha256>", "source": "...", "filename": "x.py",
     "ctx": "<JSON text>", "timeout": 0.5}
    {"id": 1, "ok": true, "value": <the answer>}
    {"id": 1, "ok": false, "kind": "error" | "compile" | "timeout" | "missing", "message": "...", "line": 3}

``source`` is sent only when this worker has not compiled that hash yet; ``missing`` asks the
parent to send it again (the worker keeps at most :data:`MAX_SCRIPTS` scripts).

Module state: a script's module-level names persist between calls of the same script in the same
worker, so a selector may keep a cache in a global dict. There are several workers and any of them
may be restarted at any time, so that state is a cache, never storage.
"""

from __future__ import annotations

import contextlib
import gc
import json
import math
import os
import resource
import signal
import sys
import time
from collections import OrderedDict
from types import CodeType, FrameType, TracebackType
from typing import Any

from .base import source_hash
from .python_compile import CompiledSelector, compile_selector
from .python_guards import SelectorTimeout, SoftTimeout, make_globals

__all__ = ["MAX_SCRIPTS", "MAX_VALUE_BYTES", "SelectorTimeout", "main"]

MAX_SCRIPTS = 64  # compiled scripts (and their module state) kept per worker
MAX_VALUE_BYTES = 256 * 1024  # the JSON of an answer; a selector answers with a few names
MAX_VALUE_NODES = 100_000  # values in an answer
MAX_VALUE_DEPTH = 64  # nesting of an answer
MAX_MESSAGE_CHARS = 400
SOFT_TIMEOUT_FRACTION = 0.75


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    if SoftTimeout.armed:
        SoftTimeout.armed = False  # once: a second raise could land in the worker's own clean-up
        SoftTimeout.fired = True
        raise SelectorTimeout


def _arm(seconds: float) -> None:
    SoftTimeout.fired = False
    SoftTimeout.armed = True
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))


def _disarm() -> None:
    SoftTimeout.armed = False  # first: from here on a tick does nothing
    # Then the timer, again after freeing memory if even that fails (a script that ran the worker
    # out of memory may still hold its garbage here).
    for _ in range(3):
        try:
            signal.setitimer(signal.ITIMER_REAL, 0)
            break
        except MemoryError:
            gc.collect()


_cpu_limit_set = (-1.0, 0.0)  # (monotonic time of the last update, the timeout it allowed for)


def _limit_cpu(timeout: float) -> None:
    """Let this request use at most about ``timeout`` + 1-2 s more CPU time, then ``SIGXCPU``.

    The limit is refreshed when more than half a second of wall time has passed since the last
    update, or for a longer timeout: a single-threaded process cannot have used more CPU than wall
    time meanwhile, so the headroom never drops below ``timeout`` + 0.5 s, and the three system
    calls are saved on most calls.
    """
    global _cpu_limit_set
    now = time.monotonic()
    last, allowed = _cpu_limit_set
    if now - last < 0.5 and timeout <= allowed:
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + 1 + max(1, math.ceil(timeout))
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    _cpu_limit_set = (now, timeout)


def harden() -> None:
    """Restrict this process before any request is read (see the module docstring)."""
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        if name.isdigit() and int(name) > 2:
            with contextlib.suppress(OSError):
                os.close(int(name))
    os.closerange(3, 1 << 16)
    for res, value in (
        (resource.RLIMIT_NOFILE, 3),
        (resource.RLIMIT_FSIZE, 0),
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NPROC, 0),
    ):
        try:
            resource.setrlimit(res, (value, value))
        except (ValueError, OSError):
            # never raise a limit; RLIMIT_NPROC cannot be lowered below use in some containers
            soft, hard = resource.getrlimit(res)
            resource.setrlimit(res, (min(value, soft), hard))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write beyond RLIMIT_FSIZE fails instead of killing
    sys.setrecursionlimit(1000)


class _Script:
    __slots__ = ("compiled", "namespace")

    def __init__(self, compiled: CompiledSelector) -> None:
        self.compiled = compiled
        self.namespace: dict[str, Any] | None = None


_scripts: OrderedDict[str, _Script] = OrderedDict()


class _Failure(Exception):
    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line


def _script_line(tb: TracebackType | None, codes: frozenset[CodeType]) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code in codes:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def _short(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."


def _exception_text(exc: BaseException) -> str:
    name = type(exc).__name__
    if isinstance(exc, MemoryError):
        limit = resource.getrlimit(resource.RLIMIT_AS)[0]
        if limit != resource.RLIM_INFINITY:
            return f"MemoryError: the selector ran out of memory (the limit is {limit >> 20} MiB)"
        return "MemoryError: the selector ran out of memory"
    try:
        text = str(exc)
    except Exception:  # e.g. an int too large to print
        text = ""
    return _short(f"{name}: {text}" if text else name)


def _with_line(message: str, line: int | None) -> str:
    return f"{message} (line {line})" if line is not None else message


def _check_value(value: Any) -> None:
    """Refuse an answer that is not plain JSON, too large or too deep, before encoding it."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    nodes = 0
    while stack:
        item, depth = stack.pop()
        nodes += 1
        if nodes > MAX_VALUE_NODES:
            raise _Failure("error", f"the selector's answer is too large (more than {MAX_VALUE_NODES} values)")
        kind = type(item)
        if item is None or kind in (bool, int, float):
            continue
        if kind is str:
            if len(item) > MAX_VALUE_BYTES:
                raise _Failure("error", f"the selector's answer is too large (a string of {len(item)} characters)")
            continue
        if depth >= MAX_VALUE_DEPTH:
            raise _Failure("error", f"the selector's answer is nested too deeply (more than {MAX_VALUE_DEPTH} levels)")
        if kind in (list, tuple, dict) and nodes + len(item) > MAX_VALUE_NODES:
            raise _Failure("error", f"the selector's answer is too large (more than {MAX_VALUE_NODES} values)")
        if kind in (list, tuple):
            stack.extend((child, depth + 1) for child in item)
        elif kind is dict:
            for key, child in item.items():
                if type(key) is not str:
                    raise _Failure("error", "the selector's answer cannot be encoded as JSON (a dict key is not a str)")
                stack.append((child, depth + 1))
        else:
            raise _Failure("error", f"the selector's answer cannot be encoded as JSON (it contains a {kind.__name__})")


def _encode_value(value: Any) -> str:
    _check_value(value)
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, check_circular=True, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError) as exc:
        raise _Failure("error", _short(f"the selector's answer cannot be encoded as JSON ({exc})")) from None
    if len(text) > MAX_VALUE_BYTES:
        raise _Failure("error", f"the selector's answer is too large ({len(text)} bytes of JSON)")
    return text


def _load(digest: str, request: dict[str, Any]) -> _Script:
    script = _scripts.get(digest)
    if script is not None:
        _scripts.move_to_end(digest)
        return script
    source = request.get("source")
    if not isinstance(source, str):
        raise _Failure("missing", "this worker has not compiled the script; send its source")
    if source_hash(source) != digest:
        raise _Failure("error", "the script's source does not match its hash")
    filename = request.get("filename")
    compiled = compile_selector(source, filename if isinstance(filename, str) else "<selector>", key=digest)
    if not compiled.ok:
        first = compiled.problems[0]
        raise _Failure("compile", _with_line(first.message, first.line), first.line)
    script = _Script(compiled)
    _scripts[digest] = script
    while len(_scripts) > MAX_SCRIPTS:
        _scripts.popitem(last=False)
    return script


def _drop_all_state() -> None:
    for script in _scripts.values():
        script.namespace = None
    gc.collect()


def _timeout(exc: BaseException, codes: frozenset[CodeType], timeout: float) -> _Failure:
    line = _script_line(exc.__traceback__, codes)
    exc.__traceback__ = None
    where = f" (stopped at line {line})" if line is not None else ""
    return _Failure("timeout", f"the selector did not answer within {timeout:g} s{where}", line)


def _run(script: _Script, ctx: Any, timeout: float) -> str:
    """Run the module body (first time) and ``select(ctx)`` under the soft timeout; return the JSON answer."""
    codes = script.compiled.codes
    try:
        try:
            _arm(timeout * SOFT_TIMEOUT_FRACTION)
            if script.namespace is None:
                namespace = make_globals()
                exec(script.compiled.code, namespace)  # the module body; guarded by the restricted globals
                script.namespace = namespace
            select = script.namespace.get("select")
            if not callable(select):
                raise _Failure("error", "the script has no function 'select'")
            value = select(ctx)
            text = _encode_value(value)
            del value
        finally:
            _disarm()
    except SelectorTimeout as exc:
        raise _timeout(exc, codes, timeout) from None
    except _Failure:
        raise
    except Exception as exc:
        if SoftTimeout.fired:  # whatever the script turned the timeout into
            raise _timeout(exc, codes, timeout) from None
        line = _script_line(exc.__traceback__, codes)
        exc.__traceback__ = None
        if isinstance(exc, MemoryError):
            _drop_all_state()
        raise _Failure("error", _with_line(_exception_text(exc), line), line) from None
    if SoftTimeout.fired:  # the script swallowed the soft timeout somehow: its answer is late anyway
        raise _Failure("timeout", f"the selector did not answer within {timeout:g} s")
    return text


def handle(request: dict[str, Any]) -> str:
    """Answer one decoded request; returns the reply line (without the newline)."""
    ident = request.get("id")
    try:
        if request.get("op") != "call":
            raise _Failure("error", f"unknown request {request.get('op')!r}")
        digest = request.get("hash")
        timeout = request.get("timeout")
        ctx_text = request.get("ctx")
        if not isinstance(digest, str) or not isinstance(ctx_text, str):
            raise _Failure("error", "a call needs 'hash' and 'ctx'")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout < 3600:
            raise _Failure("error", "a call needs a timeout in seconds")
        _limit_cpu(float(timeout))
        script = _load(digest, request)
        try:
            ctx = json.loads(ctx_text)
        except ValueError:
            raise _Failure("error", "the context is not valid JSON") from None
        text = _run(script, ctx, float(timeout))
        return '{"id":%s,"ok":true,"value":%s}' % (json.dumps(ident), text)  # noqa: UP031 - text is JSON already
    except _Failure as failure:
        reply = {"id": ident, "ok": False, "kind": failure.kind, "message": failure.message, "line": failure.line}
    except MemoryError:
        _drop_all_state()
        reply = {"id": ident, "ok": False, "kind": "error", "message": "the worker ran out of memory", "line": None}
    return json.dumps(reply, ensure_ascii=True, separators=(",", ":"))


def _write(data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(1, view)
        view = view[written:]


def serve() -> None:
    """Answer requests from stdin until it closes."""
    stdin = sys.stdin.buffer
    _write(json.dumps({"ready": True, "pid": os.getpid(), "python": sys.version.split()[0]}).encode() + b"\n")
    while True:
        line = stdin.readline()
        if not line:
            return
        ident = None
        try:
            request = json.loads(line)
            if not isinstance(request, dict):
                raise ValueError("a request must be a JSON object")
            ident = request.get("id")
            reply = handle(request)
        except BaseException as exc:  # the worker must always answer
            _disarm()
            reply = json.dumps(
                {"id": ident, "ok": False, "kind": "error", "message": f"worker error: {type(exc).__name__}",
                 "line": None}
            )
        _write(reply.encode("ascii") + b"\n")


def main() -> None:
    """Harden the process, then serve; whatever ends the loop, no timer outlives it."""
    harden()
    try:
        serve()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, signal.SIG_IGN)


if __name__ == "__main__":
    main()

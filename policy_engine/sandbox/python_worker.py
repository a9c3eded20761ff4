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
   ``SIGXCPU``. ``RLIMIT_AS`` turns memory bombs into ``MemoryError``, which is reported.
5. Memory is never left behind for the next script, which may be another pool's: after a call
   that hit ``MemoryError``, or that left the process's address space above half of its
   ``RLIMIT_AS`` (:func:`address_space_used`, read from ``/proc/self/statm`` through a descriptor
   opened before hardening), the reply carries ``"retire": true`` and the parent replaces this
   worker. So every call starts with at least half the limit free, whatever ran before it.
6. Compiling is part of the call: the script is compiled here, under the soft timeout, the CPU
   limit and the parent's deadline, never in the parent (``check`` requests compile only).
7. The parent's deadline (the call's timeout) and ``SIGKILL`` of the process group are the hard
   limit; a killed worker is replaced in the background. The worker also dies with the parent
   (``PR_SET_PDEATHSIG``, set by :mod:`~policy_engine.sandbox.process`).

Requests and replies (one JSON object per line)::

    {"id": 1, "op": "call", "hash": "<sha256>", "source": "...", "filename": "x.py",
     "scope": "<the pool's state key>", "ctx": "<JSON text>", "timeout": 0.5}
    {"id": 1, "ok": true, "value": <the answer>}
    {"id": 1, "ok": false, "kind": "error" | "compile" | "timeout" | "missing", "message": "...", "line": 3,
     "problems": [...]}
    {"id": 2, "op": "check", "source": "...", "filename": "x.py", "timeout": 2.0}
    {"id": 2, "ok": true, "problems": [{"message": "...", "line": 3, "column": 5}], "transient": false}

Any reply may also carry ``"retire": true``. ``source`` is sent only when this worker has not
compiled that hash yet; ``missing`` asks the parent to send it again (the worker keeps at most
:data:`MAX_SCRIPTS` compiled scripts). A ``compile`` reply lists the script's problems; a
compile that failed for want of memory or stack is an ``error`` instead (worth trying again).

Module state: a script's module-level names persist between calls of the same script *for the
same scope* in the same worker, so a selector may keep a cache in a global dict. The scope is the
pool's own key (:attr:`~policy_engine.sandbox.selector.Selector.scope`): two pools that merely
have the same script text never see each other's state. There are several workers and any of
them may be restarted at any time, so that state is a cache, never storage.
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
from .bounded_json import MAX_ANSWER_BYTES, MAX_ANSWER_DEPTH
from .python_compile import CompiledSelector, compile_selector
from .python_guards import SelectorTimeout, SoftTimeout, make_globals

__all__ = ["MAX_SCRIPTS", "MAX_STATES", "MAX_VALUE_BYTES", "SelectorTimeout", "address_space_used", "main"]

MAX_SCRIPTS = 64  # compiled scripts kept per worker
MAX_STATES = 64  # module states (script, scope) kept per worker
MAX_VALUE_BYTES = MAX_ANSWER_BYTES  # the JSON of an answer; a selector answers with a few names
MAX_VALUE_NODES = 100_000  # values in an answer
MAX_VALUE_DEPTH = MAX_ANSWER_DEPTH  # nesting of an answer
MAX_MESSAGE_CHARS = 400
SOFT_TIMEOUT_FRACTION = 0.75
RETIRE_SHARE = 0.5  # retire after a call that left more than this share of RLIMIT_AS mapped


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


_statm_fd: int | None = None  # /proc/self/statm, opened before hardening
_memory_limit_hit = False  # a MemoryError happened since the last reply: retire


def address_space_used() -> int | None:
    """Bytes of address space this process has mapped now (what ``RLIMIT_AS`` limits), if known."""
    if _statm_fd is None:
        return None
    try:
        return int(os.pread(_statm_fd, 64, 0).split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return None


def _should_retire() -> bool:
    """True after a ``MemoryError``, or when this process holds more than its share of ``RLIMIT_AS``."""
    global _memory_limit_hit
    if _memory_limit_hit:
        _memory_limit_hit = False
        return True
    limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    used = address_space_used()
    return used is not None and limit != resource.RLIM_INFINITY and used > limit * RETIRE_SHARE


def harden() -> None:
    """Restrict this process before any request is read (see the module docstring)."""
    global _statm_fd
    with contextlib.suppress(OSError):
        _statm_fd = os.open("/proc/self/statm", os.O_RDONLY | os.O_CLOEXEC)
        os.dup2(_statm_fd, 3)  # fd 3: under RLIMIT_NOFILE 3 it stays usable while nothing new can open
        if _statm_fd != 3:
            os.close(_statm_fd)
        _statm_fd = 3
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        if name.isdigit() and int(name) > 2 and int(name) != _statm_fd:
            with contextlib.suppress(OSError):
                os.close(int(name))
    os.closerange(4 if _statm_fd == 3 else 3, 1 << 16)
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


_scripts: OrderedDict[str, CompiledSelector] = OrderedDict()  # source hash -> compiled script
_states: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()  # (hash, scope) -> module namespace


class _Failure(Exception):
    def __init__(self, kind: str, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.line = line
        self.problems: list[dict[str, Any]] = []


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


def _problems_json(compiled: CompiledSelector) -> list[dict[str, Any]]:
    return [{"message": p.message, "line": p.line, "column": p.column} for p in compiled.problems]


def _compile_failure(compiled: CompiledSelector) -> _Failure:
    global _memory_limit_hit
    first = compiled.problems[0]
    if compiled.transient:  # out of memory or stack: an error worth trying again (in a fresh worker)
        _memory_limit_hit = True
        return _Failure("error", first.message)
    failure = _Failure("compile", _with_line(first.message, first.line), first.line)
    failure.problems = _problems_json(compiled)
    return failure


def _load(digest: str, request: dict[str, Any]) -> CompiledSelector:
    """The compiled script of ``digest`` (compiled from the request's source the first time)."""
    compiled = _scripts.get(digest)
    if compiled is not None:
        _scripts.move_to_end(digest)
        return compiled
    source = request.get("source")
    if not isinstance(source, str):
        raise _Failure("missing", "this worker has not compiled the script; send its source")
    if source_hash(source) != digest:
        raise _Failure("error", "the script's source does not match its hash")
    filename = request.get("filename")
    compiled = compile_selector(source, filename if isinstance(filename, str) else "<selector>", key=digest)
    if not compiled.ok:
        raise _compile_failure(compiled)
    _scripts[digest] = compiled
    while len(_scripts) > MAX_SCRIPTS:
        _scripts.popitem(last=False)
    return compiled


def _drop_all_state() -> None:
    _states.clear()
    gc.collect()


def _timeout(exc: BaseException, codes: frozenset[CodeType], timeout: float, compiling: bool) -> _Failure:
    line = _script_line(exc.__traceback__, codes)
    exc.__traceback__ = None
    if compiling:
        return _Failure("timeout", f"the selector did not compile within {timeout:g} s (is it too large?)")
    where = f" (stopped at line {line})" if line is not None else ""
    return _Failure("timeout", f"the selector did not answer within {timeout:g} s{where}", line)


def _run(digest: str, scope: str, request: dict[str, Any], ctx: Any, timeout: float) -> str:
    """Compile (first time), run the module body (first time for this scope) and ``select(ctx)``,
    all under the soft timeout; return the JSON answer."""
    global _memory_limit_hit
    codes: frozenset[CodeType] = frozenset()
    compiling = True
    try:
        try:
            _arm(timeout * SOFT_TIMEOUT_FRACTION)
            compiled = _load(digest, request)
            compiling = False
            codes = compiled.codes
            key = (digest, scope)
            namespace = _states.get(key)
            if namespace is None:
                namespace = make_globals()
                exec(compiled.code, namespace)  # the module body; guarded by the restricted globals
                _states[key] = namespace
                while len(_states) > MAX_STATES:
                    _states.popitem(last=False)
            else:
                _states.move_to_end(key)
            select = namespace.get("select")
            if not callable(select):
                raise _Failure("error", "the script has no function 'select'")
            value = select(ctx)
            text = _encode_value(value)
            del value
        finally:
            _disarm()
    except SelectorTimeout as exc:
        raise _timeout(exc, codes, timeout, compiling) from None
    except _Failure:
        raise
    except Exception as exc:
        if SoftTimeout.fired:  # whatever the script turned the timeout into
            raise _timeout(exc, codes, timeout, compiling) from None
        line = _script_line(exc.__traceback__, codes)
        exc.__traceback__ = None
        if isinstance(exc, MemoryError):
            _memory_limit_hit = True
            _drop_all_state()
        raise _Failure("error", _with_line(_exception_text(exc), line), line) from None
    if SoftTimeout.fired:  # the script swallowed the soft timeout somehow: its answer is late anyway
        raise _Failure("timeout", f"the selector did not answer within {timeout:g} s")
    return text


def _timeout_of(request: dict[str, Any]) -> float:
    timeout = request.get("timeout")
    if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or not 0 < timeout < 3600:
        raise _Failure("error", "the request needs a timeout in seconds")
    return float(timeout)


def _check(request: dict[str, Any]) -> dict[str, Any]:
    """Compile a script (never run it) under the soft timeout; list its problems."""
    global _memory_limit_hit
    source = request.get("source")
    if not isinstance(source, str):
        raise _Failure("error", "a check needs 'source'")
    timeout = _timeout_of(request)
    filename = request.get("filename")
    _limit_cpu(timeout)
    try:
        try:
            _arm(timeout * SOFT_TIMEOUT_FRACTION)
            compiled = compile_selector(source, filename if isinstance(filename, str) else "<selector>")
        finally:
            _disarm()
    except SelectorTimeout:
        raise _Failure("timeout", f"the selector did not compile within {timeout:g} s (is it too large?)") from None
    if compiled.transient:
        _memory_limit_hit = True  # retire: a fresh worker has its memory and stack back
    return {"ok": True, "problems": _problems_json(compiled), "transient": compiled.transient}


def _call(request: dict[str, Any]) -> str:
    digest = request.get("hash")
    ctx_text = request.get("ctx")
    scope = request.get("scope", "")
    if not isinstance(digest, str) or not isinstance(ctx_text, str) or not isinstance(scope, str):
        raise _Failure("error", "a call needs 'hash' and 'ctx'")
    timeout = _timeout_of(request)
    _limit_cpu(timeout)
    try:
        ctx = json.loads(ctx_text)
    except ValueError:
        raise _Failure("error", "the context is not valid JSON") from None
    return _run(digest, scope, request, ctx, timeout)


def handle(request: dict[str, Any]) -> str:
    """Answer one decoded request; returns the reply line (without the newline)."""
    global _memory_limit_hit
    ident = request.get("id")
    try:
        op = request.get("op")
        if op == "call":
            text = _call(request)
            retire = ',"retire":true' if _should_retire() else ""
            return '{"id":%s,"ok":true,"value":%s%s}' % (json.dumps(ident), text, retire)  # noqa: UP031 - JSON
        if op == "check":
            reply: dict[str, Any] = {"id": ident, **_check(request)}
        else:
            raise _Failure("error", f"unknown request {op!r}")
    except _Failure as failure:
        reply = {"id": ident, "ok": False, "kind": failure.kind, "message": failure.message, "line": failure.line}
        if failure.problems:
            reply["problems"] = failure.problems
    except MemoryError:
        _memory_limit_hit = True
        _drop_all_state()
        reply = {"id": ident, "ok": False, "kind": "error", "message": "the worker ran out of memory", "line": None}
    if _should_retire():
        reply["retire"] = True
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

"""JavaScript selectors: a pool of persistent ``node`` workers running each script in its own ``vm`` context.

Selector scripts are untrusted (a project policy may come from a cloned repository). The layers,
from the outside in, and what each one stops:

1. **The parent** (:mod:`policy_engine.sandbox.process`): every request has a deadline; a worker
   that misses it, floods its pipe, writes garbage or dies is killed with ``SIGKILL`` (its whole
   process group) and replaced in the background. This is the hard limit on CPU hogs that slip
   past the in-worker timeout (a blocked thread, a runaway host callback).
2. **rlimits** applied by the parent: ``RLIMIT_AS`` caps the address space (``--max-old-space-size``
   only caps V8's heap; ``ArrayBuffer`` backing stores live outside it, so without this
   ``new ArrayBuffer(2**31)`` succeeds and a buffer bomb can take the machine's memory),
   ``RLIMIT_FSIZE`` 0 (no file can grow even if one were opened), ``RLIMIT_CORE`` 0 (an
   out-of-memory abort leaves no core dump).
3. **node's command line**: the permission model (``--experimental-permission`` on node 20,
   ``--permission`` from 22) with ``--allow-fs-read`` for the worker script only, and neither
   child processes nor worker threads; ``--disallow-code-generation-from-strings`` (no ``eval``
   anywhere in the process, even in the host realm); ``--frozen-intrinsics`` (the host realm's
   built-in prototypes cannot be polluted even if a host object leaked); ``--jitless`` (no JIT
   compiler: the largest class of V8 exploits and all writable-executable memory are gone, as is
   WebAssembly, and the address-space footprint halves, see ``ADDRESS_SPACE_BYTES``); a small V8
   heap (``--max-old-space-size``: a heap bomb ends in a quick out-of-memory crash, reported as
   ``crash``); ``--experimental-vm-modules`` so that the worker's ``import()`` hook is honoured
   (without it ``import()`` rejects with a host-realm error object: a way to the host's
   prototypes). The environment is EMPTY: the permission model guards neither ``process.env``,
   the network nor ``process.kill``, so nothing secret is there (and no ``process`` is reachable).
4. **The worker** (``js_worker.js``, see its header): one ``vm`` context per script with code
   generation and WebAssembly disabled and promise jobs inside the timeout; no host object ever
   enters a context (``ctx`` goes in as a JSON string, the answer comes out as one); no
   ``require``/``process``/``console``/timers; a per-call ``vm`` timeout of about 75% of the call
   timeout so that a runaway script is usually interrupted without killing the worker.

Scripts are compiled once per worker and pool scope (the same text in two pools gets two contexts,
so no module state is shared), cached by :func:`~policy_engine.sandbox.base.source_hash` and
scope; the source is sent only to a worker that has not loaded it (:attr:`WorkerProcess.loaded`).
Compiling happens in the worker, under the call's deadline, for sources of at most
:data:`MAX_SOURCE_BYTES`. All contexts of a worker share one V8 heap: after a call that left more
than half of it in use, the worker collects garbage, then drops that script's context, then asks
to be retired (see ``js_worker.js``), so one pool's script cannot exhaust the heap another's
needs. An answer is parsed only after its size and depth were checked
(:mod:`~policy_engine.sandbox.bounded_json`).
"""

from __future__ import annotations

import os
import re
import resource
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.sandbox.base import Outcome, SourceProblem, source_hash
from policy_engine.sandbox.bounded_json import JSONLimitError
from policy_engine.sandbox.bounded_json import loads as bounded_loads
from policy_engine.sandbox.process import (
    WorkerCrashed,
    WorkerPool,
    WorkerProcess,
    WorkerSpec,
    WorkerTimeout,
    WorkerUnavailable,
)

__all__ = [
    "ADDRESS_SPACE_BYTES",
    "HEAP_MB",
    "MIN_NODE_MAJOR",
    "NodeRunner",
    "get_node_runner",
]

MIN_NODE_MAJOR = 20
HEAP_MB = 64  # --max-old-space-size: selectors need a few MB; a heap bomb dies within ~0.2 s
# RLIMIT_AS, measured with node 20.20 on x86-64 and the flags above: right after start the worker
# maps ~470 MB of address space (~990 MB without --jitless: the JIT code range, and
# --frozen-intrinsics). Under a stress mix (a 400k-object heap, a buffer bomb, 40 contexts, a
# timeout) it crashed with a limit of 500 MB and held from 550 MB up. 1 GiB leaves ~500 MB of
# headroom for what varies between machines (glibc malloc arenas, one per busy thread) and for heap
# growth and watchdog threads, and still refuses ``new ArrayBuffer(2**31)``: a buffer bomb gets at
# most ~450 MB. Without --jitless the same headroom would need ~1.5 GiB.
ADDRESS_SPACE_BYTES = 1 << 30
VM_SHARE = 0.75  # the in-worker vm timeout of a script's first load, as a share of the call timeout
# select() calls run without a vm timeout (it costs a watchdog thread per call); the parent's
# deadline (the call timeout) and SIGKILL stop them, and the worker is restarted in the background.
CHECK_TIMEOUT = 5.0  # seconds a worker may take to compile a script for ``check``
VERSION_TIMEOUT = 5.0  # seconds ``node --version`` may take
MAX_SOURCE_BYTES = 256 * 1024  # a larger script is refused without being sent (the same as a selector file)
WORKER_FILE = "js_worker.js"
UNAVAILABLE_HINT = "JavaScript selectors fall back to round-robin (install Node.js 20+ or set MP_POLICY_NODE)"


@dataclass(frozen=True, slots=True)
class _Node:
    """The outcome of looking for node once: its path and major version, or why it cannot be used."""

    path: str | None
    major: int = 0
    version: str = ""
    reason: str | None = None


def _find_node() -> _Node:
    """Locate node (``MP_POLICY_NODE``, else ``PATH``) and check that it is recent enough."""
    configured = os.environ.get("MP_POLICY_NODE")
    if configured:
        path = configured
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            return _Node(None, reason=f"MP_POLICY_NODE={configured!r} is not an executable file; {UNAVAILABLE_HINT}")
    else:
        found = shutil.which("node")
        if found is None:
            return _Node(None, reason=f"node is not installed; {UNAVAILABLE_HINT}")
        path = found
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=VERSION_TIMEOUT,
                              env={}, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return _Node(None, reason=f"cannot run {path} --version ({exc}); {UNAVAILABLE_HINT}")
    version = done.stdout.strip()
    match = re.fullmatch(r"v(\d+)\.(\d+)\.(\d+)\S*", version)
    if done.returncode != 0 or match is None:
        return _Node(None, reason=f"{path} --version did not print a node version; {UNAVAILABLE_HINT}")
    major = int(match.group(1))
    if major < MIN_NODE_MAJOR:
        return _Node(None, major=major, version=version,
                     reason=f"node {version} is too old (20+ is needed); {UNAVAILABLE_HINT}")
    return _Node(path, major=major, version=version)


_worker_copy_lock = threading.Lock()
_worker_copy: str | None = None


def _worker_path() -> str:
    """The worker script's real path; a private copy if the path holds a comma (``--allow-fs-read`` splits on it)."""
    global _worker_copy
    path = os.path.realpath(Path(__file__).with_name(WORKER_FILE))
    if "," not in path:
        return path
    with _worker_copy_lock:
        if _worker_copy is None or not os.path.exists(_worker_copy):
            folder = os.path.realpath(tempfile.mkdtemp(prefix="mp-policy-js-"))
            copy = os.path.join(folder, WORKER_FILE)
            shutil.copyfile(path, copy)
            _worker_copy = copy
        return _worker_copy


class NodeRunner:
    """Runs JavaScript selector scripts in a small pool of sandboxed ``node`` workers."""

    language = "javascript"

    def __init__(self, *, pool_size: int = 2, heap_mb: int = HEAP_MB,
                 address_space: int = ADDRESS_SPACE_BYTES, jitless: bool = True) -> None:
        self.heap_mb = heap_mb
        self.jitless = jitless
        self.address_space = address_space
        self._node: _Node | None = None
        self._lock = threading.Lock()
        self.pool = WorkerPool(self._spec, size=pool_size)

    def __repr__(self) -> str:
        return f"NodeRunner(pool_size={self.pool.size}, heap_mb={self.heap_mb})"

    # -- node ------------------------------------------------------------------------------

    def _probe(self) -> _Node:
        with self._lock:
            if self._node is None:
                self._node = _find_node()
            return self._node

    def unavailable(self) -> str | None:
        """``None`` when node can run selectors, else why not."""
        return self._probe().reason

    def _spec(self) -> WorkerSpec:
        node = self._probe()
        if node.path is None:
            raise WorkerUnavailable(node.reason or "node is not available")
        worker = _worker_path()
        permission = "--permission" if node.major >= 22 else "--experimental-permission"
        argv = [
            node.path,
            permission,
            f"--allow-fs-read={worker}",
            "--experimental-vm-modules",
            "--frozen-intrinsics",
            "--disallow-code-generation-from-strings",
            f"--max-old-space-size={self.heap_mb}",
            "--no-warnings",
            *(["--jitless"] if self.jitless else []),
            worker,
            str(self.heap_mb * 1024 * 1024 // 2),  # heap a script may leave behind between calls (see the worker)
        ]
        limits = {
            resource.RLIMIT_AS: (self.address_space, self.address_space),
            resource.RLIMIT_FSIZE: (0, 0),
            resource.RLIMIT_CORE: (0, 0),
        }
        return WorkerSpec(name="node", argv=argv, env={}, cwd="/", limits=limits)

    # -- Runner ----------------------------------------------------------------------------

    def check(self, source: str, filename: str) -> list[SourceProblem]:
        """Syntax problems of ``source`` (compiled by a worker, never run); none when node is unavailable."""
        if self.unavailable() is not None:
            return []
        if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            return [SourceProblem(f"{filename}: the script is larger than {MAX_SOURCE_BYTES // 1024} KiB")]
        try:
            reply = self.pool.call({"op": "check", "source": source}, CHECK_TIMEOUT)
        except WorkerUnavailable:
            return []
        except (WorkerTimeout, WorkerCrashed) as exc:
            return [SourceProblem(f"the script could not be checked: {exc}")]
        problems = reply.get("problems")
        if not isinstance(problems, list):
            return [SourceProblem("the script could not be checked: the worker gave no answer")]
        return [
            SourceProblem(str(p.get("message", "syntax error")), _int_or_none(p.get("line")),
                          _int_or_none(p.get("column")))
            for p in problems if isinstance(p, dict)
        ]

    def call(self, source: str, filename: str, ctx_json: str, timeout: float, scope: str = "") -> Outcome:
        """Run the script's ``select(ctx)`` (module state kept per ``scope``); see
        :class:`~policy_engine.sandbox.base.Outcome` for the kinds."""
        reason = self.unavailable()
        if reason is not None:
            return Outcome("unavailable", detail=reason)
        if len(source.encode("utf-8", "surrogatepass")) > MAX_SOURCE_BYTES:
            return Outcome("compile", detail=f"the script is larger than {MAX_SOURCE_BYTES // 1024} KiB")
        digest = source_hash(source)
        key = f"{digest}/{scope}" if scope else digest  # as the worker keys its contexts
        vm_ms = max(1, round(timeout * VM_SHARE * 1000))
        message = {"op": "call", "hash": digest, "scope": scope, "ctx": ctx_json, "timeout_ms": vm_ms}
        try:
            reply = self._request(message, key, source, timeout)
            if reply.get("kind") == "unknown":  # the worker dropped the script: send it again
                reply = self._request(message, key, source, timeout, force_source=True)
        except WorkerTimeout:
            return Outcome("timeout", detail=f"the selector did not answer within {timeout:g} s; its worker was killed")
        except WorkerCrashed as exc:
            return Outcome("crash", detail=f"the selector's worker died ({exc}); out of memory?")
        except WorkerUnavailable as exc:
            return Outcome("unavailable", detail=str(exc))
        return _outcome(reply)

    def _request(self, message: dict[str, Any], key: str, source: str, timeout: float, *,
                 force_source: bool = False) -> dict[str, Any]:
        """Send ``message``; ``key`` (hash and scope) is what a worker that has loaded the script knows it by."""
        chosen: list[WorkerProcess] = []

        def prepare(worker: WorkerProcess, msg: dict[str, Any]) -> dict[str, Any]:
            chosen.append(worker)
            if force_source or key not in worker.loaded:
                return {**msg, "source": source}
            return msg

        reply = self.pool.call(message, timeout, prepare)
        if chosen:
            if reply.get("cached") is True:
                chosen[0].loaded.add(key)
            else:
                chosen[0].loaded.discard(key)
        return reply

    def warm(self) -> None:
        """Start a worker in the background (nothing happens when node is unavailable)."""
        if self.unavailable() is None:
            self.pool.warm()

    def close(self) -> None:
        """Stop the idle workers."""
        self.pool.close()


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _outcome(reply: dict[str, Any]) -> Outcome:
    """Turn a worker reply into an :class:`Outcome` (the reply is checked, never trusted)."""
    kind = reply.get("kind")
    detail = reply.get("detail")
    detail = detail if isinstance(detail, str) else ""
    line = _int_or_none(reply.get("line"))
    if kind == "ok":
        text = reply.get("json")
        if not isinstance(text, str):
            return Outcome("error", detail="the answer cannot be encoded as JSON")
        try:
            value = bounded_loads(text)
        except JSONLimitError as exc:
            return Outcome("error", detail=f"the answer was refused: {exc}")
        except ValueError:
            return Outcome("error", detail="the answer is not valid JSON")
        return Outcome("ok", value=value)
    if kind in ("error", "compile", "timeout"):
        if line is not None and f"(line {line})" not in detail:
            detail = f"{detail} (line {line})"
        return Outcome(kind, detail=detail, line=line)
    return Outcome("crash", detail="the selector's worker gave an unexpected answer")


_shared_lock = threading.Lock()
_shared: NodeRunner | None = None


def get_node_runner() -> NodeRunner:
    """The process-wide :class:`NodeRunner` (created on first use)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = NodeRunner()
        return _shared

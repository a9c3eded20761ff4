"""Worker processes: they die with the engine, they outlive the thread that started them, and a
reply is parsed only when it is small and shallow."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import policy_engine
from policy_engine.sandbox.node_runner import NodeRunner
from policy_engine.sandbox.process import (
    _PAIRED_AT_FORK_MODULES,
    WorkerCrashed,
    WorkerPool,
    WorkerProcess,
    WorkerSpec,
)
from policy_engine.sandbox.python_runner import PythonRunner

NODE = NodeRunner().unavailable() is None
PACKAGE_ROOT = Path(policy_engine.__file__).resolve().parents[1]  # the engine in the child is the one under test

# An engine in a child process whose two pools' selectors spin: node in a plain loop (a select()
# call runs without an in-worker timeout), Python in a loop inside `finally` (the soft timeout
# fires once, in the first loop; only the parent's deadline or the CPU limit, about 6 s of CPU
# later, would stop the second).
ENGINE = """
import sys, threading, time
from pathlib import Path
from policy_engine.engine import Engine

folder = Path(sys.argv[1])
(folder / "spin.js").write_text("module.exports = (ctx) => { for (;;) {} };\\n")
(folder / "spin.py").write_text(
    "def select(ctx):\\n    try:\\n        while True:\\n            pass\\n"
    "    finally:\\n        while True:\\n            pass\\n")
members = ["anthropic", "anthropic-2"]
pools = [{"name": lang, "baseProvider": "anthropic", "members": members, "strategy": "custom",
          "selectorScript": f"spin.{lang}"} for lang in sys.argv[2].split(",")]
policy = {"settings": {"selectorTimeout": "5s"}, "subscriptions": [{"provider": "anthropic", "index": 2}],
          "pools": pools}
engine = Engine.from_documents(policy, auth=set(members), base_dir=str(folder), state="memory://")
for pool in pools:
    threading.Thread(target=engine.select, kwargs={"pool": pool["name"], "dry_run": True}, daemon=True).start()
print("calling", flush=True)
time.sleep(120)
"""


def _stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            fields = handle.read().rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return fields[0], int(fields[1])


def _children(parent: int) -> dict[int, str]:
    """pid -> command line of the live children of ``parent``."""
    found: dict[int, str] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        stat = _stat(int(name))
        if stat is None or stat[1] != parent or stat[0] == "Z":
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as handle:
                found[int(name)] = handle.read().replace(b"\0", b" ").decode(errors="replace")
        except FileNotFoundError:
            continue
    return found


def _alive(pid: int) -> bool:
    stat = _stat(pid)
    return stat is not None and stat[0] != "Z"


@pytest.fixture()
def leftovers() -> Iterator[list[int]]:
    """Pids to SIGKILL after the test whatever happens (so a regression never leaves a spinner behind)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


@pytest.mark.parametrize(("languages", "signum"), [
    ("py", signal.SIGKILL),
    *([("js", signal.SIGKILL), ("js", signal.SIGTERM)] if NODE else []),
])
def test_spinning_workers_die_when_the_engine_is_killed(tmp_path: Path, leftovers: list[int], languages: str,
                                                        signum: int) -> None:
    env = {**os.environ, "PYTHONPATH": str(PACKAGE_ROOT)}
    engine = subprocess.Popen([sys.executable, "-c", textwrap.dedent(ENGINE), str(tmp_path), languages],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    leftovers.append(engine.pid)
    try:
        assert engine.stdout is not None
        assert engine.stdout.readline().strip() == "calling", engine.stderr.read() if engine.stderr else ""
        marker = "js_worker.js" if languages == "js" else "python_worker"
        spinning: list[int] = []
        deadline = time.monotonic() + 20
        while not spinning and time.monotonic() < deadline:
            time.sleep(0.1)
            spinning = [pid for pid, cmd in _children(engine.pid).items()
                        if marker in cmd and (_stat(pid) or ("", 0))[0] == "R"]
        assert spinning, f"no {marker} worker is spinning: {_children(engine.pid)}"
        workers = list(_children(engine.pid))
        leftovers.extend(workers)
        time.sleep(0.5)  # it spins for a while, with the engine waiting on it
        assert all(_alive(pid) for pid in spinning)
    finally:
        engine.send_signal(signum)  # SIGKILL: no atexit handler, no clean-up of any kind; SIGTERM: the default
        engine.wait(10)
    deadline = time.monotonic() + 3
    while any(_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    survivors = {pid: _stat(pid) for pid in workers if _alive(pid)}
    assert not survivors, f"workers outlived the engine: {survivors}"


def test_a_worker_warmed_by_a_short_lived_thread_outlives_the_thread() -> None:
    """PR_SET_PDEATHSIG fires when the *thread* that forked the worker ends: a spawner thread starts them all."""
    runner = PythonRunner(pool_size=1)
    try:
        starter = threading.Thread(target=runner.warm)
        starter.start()
        starter.join()
        deadline = time.monotonic() + 10
        while not runner.pool._idle and time.monotonic() < deadline:
            time.sleep(0.02)
        [worker] = runner.pool._idle
        assert worker.proc is not None
        time.sleep(0.3)  # the warm-up thread has long ended
        assert worker.alive
        outcome = runner.call("def select(ctx):\n    return ctx['members'][0]\n", "s.py", '{"members": ["a"]}', 10.0)
        assert outcome.ok and outcome.value == "a", outcome
        assert runner.pool.restarts == 0
    finally:
        runner.close()


def _echo_spec(reply: str, pad: int = 0) -> WorkerSpec:
    """A worker that greets, then answers every request line with ``reply`` (the request's id spliced
    in for ``ID``, ``pad`` x characters for ``PAD``)."""
    code = ("import sys, json\nprint(json.dumps({'ready': True}), flush=True)\nfor line in sys.stdin:\n"
            "    ident = json.loads(line)['id']\n"
            f"    print({reply!r}.replace('ID', str(ident)).replace('PAD', 'x' * {pad}), flush=True)\n")
    return WorkerSpec(name="echo", argv=(sys.executable, "-c", code))


@pytest.mark.parametrize("reply", [
    '{"id": ID, "ok": true, "value": ' + "[" * 2000 + "]" * 2000 + "}",  # json.loads: RecursionError
    '{"id": ID, "ok": true, "value": ' + "[" * 80 + "]" * 80 + "}",
])
def test_a_deeply_nested_reply_is_a_protocol_error_not_a_crash(reply: str) -> None:
    worker = WorkerProcess(_echo_spec(reply))
    worker.start()
    try:
        with pytest.raises(WorkerCrashed, match="nested"):
            worker.request({"op": "call"}, time.monotonic() + 10)
    finally:
        worker.kill()


def test_a_shallow_reply_still_passes() -> None:
    worker = WorkerProcess(_echo_spec('{"id": ID, "ok": true, "value": ' + "[" * 60 + "]" * 60 + "}"))
    worker.start()
    try:
        reply = worker.request({"op": "call"}, time.monotonic() + 10)
        assert reply["ok"] is True
    finally:
        worker.kill()


def test_a_worker_that_asks_to_retire_is_replaced_after_its_reply() -> None:
    pool = WorkerPool(lambda: _echo_spec('{"id": ID, "ok": true, "retire": true}'), size=1)
    try:
        first = pool.call({"op": "call"}, 10)
        assert first == {"id": 1, "ok": True, "retire": True}
        assert pool.retired == 1 and pool.restarts == 0
        assert pool.call({"op": "call"}, 10)["ok"] is True  # a fresh worker answers (its first request: id 1)
        assert pool.retired == 2
    finally:
        pool.close()


def test_a_worker_flooding_its_pipe_without_a_newline_is_killed_at_once_not_waited_for() -> None:
    code = ("import sys, json, time\nprint(json.dumps({'ready': True}), flush=True)\nsys.stdin.readline()\n"
            "sys.stdout.write('x' * (3 << 20))\nsys.stdout.flush()\ntime.sleep(600)\n")
    worker = WorkerProcess(WorkerSpec(name="flood", argv=(sys.executable, "-c", code)))
    worker.start()
    try:
        with pytest.raises(WorkerCrashed, match="more than"):  # not WorkerTimeout: it is not waited for
            worker.request({"op": "call"}, time.monotonic() + 300)
        assert not worker.alive
    finally:
        worker.kill()


def test_the_reply_limit_is_in_bytes_of_json() -> None:
    worker = WorkerProcess(_echo_spec('{"id": ID, "value": "PAD"}', pad=2 << 20))
    worker.start()
    try:
        with pytest.raises(WorkerCrashed, match="more than"):
            worker.request({"op": "call"}, time.monotonic() + 10)
    finally:
        worker.kill()


def _paired_at_fork_hooks(path: Path) -> bool:
    """Whether the module at ``path`` calls ``os.register_at_fork`` with a "before" hook."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if "register_at_fork" not in text:
        return False
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", getattr(node.func, "id", None)) == \
                "register_at_fork" and any(k.arg == "before" for k in node.keywords):
            return True
    return False


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: The extras whose libraries run inside ``mp-policy serve`` beside the spawner (Redis state, Prometheus metrics).
_SERVE_EXTRAS = ("redis", "metrics")


def _dependency_files() -> list[Path]:
    """The Python files of mp-policy's installed dependencies, with :data:`_SERVE_EXTRAS`, followed transitively
    (theirs without extras)."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    todo = ["mp-policy"]
    files: list[Path] = []
    while todo:
        name = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # a dependency of another platform's marker
        key = dist.metadata["Name"].lower().replace("_", "-")
        if key in seen:
            continue
        seen.add(key)
        if key != "mp-policy":
            files += [Path(str(dist.locate_file(f))) for f in dist.files or () if f.suffix == ".py"]
        extras = _SERVE_EXTRAS if key == "mp-policy" else ("",)
        for text in dist.requires or ():
            req = Requirement(text)
            if req.marker is None or any(req.marker.evaluate({"extra": extra}) for extra in extras):
                todo.append(req.name)
    return files


def test_the_modules_with_paired_at_fork_hooks_are_all_listed() -> None:
    """Every module of the standard library and of the dependencies that registers a "before" at-fork hook is one
    the spawner imports before its first fork (a new Python or dependency release may add one)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    found = {_module_name(path, stdlib) for path in stdlib.rglob("*.py")
             if "test" not in path.relative_to(stdlib).parts[:1] and "site-packages" not in path.parts
             and _paired_at_fork_hooks(path)}
    site = {Path(p) for p in sysconfig.get_paths().values()}
    for path in _dependency_files():
        root = next((r for r in site if path.is_relative_to(r)), None)
        if root is not None and path.exists() and _paired_at_fork_hooks(path):
            found.add(_module_name(path, root))
    assert "logging" in found  # the scan sees the hook it was written for
    assert found == set(_PAIRED_AT_FORK_MODULES)


def test_the_paired_at_fork_modules_are_imported_before_the_spawner_forks() -> None:
    """Imported while the spawner thread forks, such a module's "after" hook runs without its "before" one (the
    parent prints "cannot release un-acquired lock"); the spawner imports them all before its thread starts."""
    script = ("import json, sys\n"
              "from policy_engine.sandbox.process import _PAIRED_AT_FORK_MODULES as names, spawn\n"
              "before = [m for m in names if m in sys.modules]\n"
              "spawn([sys.executable, '-c', 'pass'], {}, None).wait()\n"
              "print(json.dumps({'before': before, 'after': [m for m in names if m in sys.modules]}))\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert "concurrent.futures.thread" not in seen["before"]  # imported by the spawner, not as a side effect
    assert seen["after"] == list(_PAIRED_AT_FORK_MODULES)

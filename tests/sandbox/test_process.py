"""Worker processes: they die with the engine, they outlive the thread that started them, and a
reply is parsed only when it is small and shallow."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import policy_engine
from policy_engine.sandbox.node_runner import NodeRunner
from policy_engine.sandbox.process import WorkerCrashed, WorkerPool, WorkerProcess, WorkerSpec
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


def test_logging_is_imported_before_the_spawner_can_fork() -> None:
    """logging's at-fork hooks must exist before the spawner thread's first fork: imported while it forks, its
    "after" hook runs without its "before" one (the parent prints "cannot release un-acquired lock")."""
    script = "import sys, policy_engine.sandbox.process; print('logging' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"

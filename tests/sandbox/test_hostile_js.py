"""The hostile corpus: every script in ``hostile/js`` tries to escape the JavaScript sandbox or exhaust it.

Convention: a script that escaped answers ``ctx.members[1]``; otherwise it throws, is stopped, or
answers something that is not a member. For each script the test asserts that the outcome means
"fall back", that it came within the timeout plus a margin, that the marker file named by
``ctx.prompt`` was never created, that a secret put in the parent's environment never shows up,
that the test process was not signalled, and that a benign (pollution-sensitive) selector run
right after on the same runner still answers correctly. A header line ``// @calls N`` asks for N
calls (for attacks whose effect arrives on a later call).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType

import pytest

from policy_engine.sandbox.node_runner import NodeRunner

CORPUS = sorted((Path(__file__).parent / "hostile" / "js").glob("*.js"))
MEMBERS = ["alpha", "bravo", "charlie"]
TIMEOUT = 0.3
MARGIN = 1.0  # seconds on top of the timeout: a kill, a reap, a busy machine
SECRET = "mp-policy-hostile-secret-7c1f0b9e"

# Answers members[0] only when nothing it relies on was tampered with (its own context and the worker).
BENIGN = """
module.exports = function select(ctx) {
  const clean = ({}).polluted === undefined && [].polluted === undefined && !('toJSON' in {}) && !('toJSON' in [])
    && JSON.stringify([1, {a: 2}]) === '[1,{"a":2}]' && JSON.parse('{"x":1}').x === 1
    && typeof Object.prototype.then === 'undefined' && [3, 4].indexOf(4) === 1
    && typeof FinalizationRegistry === 'undefined' && typeof process === 'undefined';
  return clean ? ctx.members[0] : 'POLLUTED';
};
"""

SKIP_REASON = "node (20+) is not installed; the JavaScript sandbox cannot run"


def _node_missing() -> bool:
    return NodeRunner().unavailable() is not None


pytestmark = pytest.mark.skipif(_node_missing(), reason=SKIP_REASON)


@pytest.fixture(scope="module")
def runner() -> Iterator[NodeRunner]:
    r = NodeRunner()
    yield r
    r.close()


@pytest.fixture()
def usr1() -> Iterator[list[int]]:
    """Records SIGUSR1 deliveries to the test process (a script tries to signal its parent)."""
    received: list[int] = []

    def handler(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    previous = signal.signal(signal.SIGUSR1, handler)
    yield received
    signal.signal(signal.SIGUSR1, previous)


def _calls(source: str) -> int:
    match = re.search(r"^// @calls (\d+)$", source, re.MULTILINE)
    return int(match.group(1)) if match else 2


def test_the_corpus_is_large_and_documented() -> None:
    assert len(CORPUS) >= 30
    for path in CORPUS:
        assert path.read_text().startswith("//"), f"{path.name} needs a header comment"


@pytest.mark.parametrize("script", CORPUS, ids=[p.stem for p in CORPUS])
def test_hostile_js_script_falls_back(script: Path, runner: NodeRunner, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch, usr1: list[int]) -> None:
    monkeypatch.setenv("MP_POLICY_HOSTILE_SECRET", SECRET)
    marker = tmp_path / "escaped-marker"
    ctx = {"members": MEMBERS, "currentProvider": "alpha", "modelId": "m", "prompt": str(marker),
           "pool": {"name": "p", "baseProvider": "alpha", "members": MEMBERS},
           "timestamp": 0, "hour": 0, "day": "mon", "quota": {}, "cooldowns": {}}
    source = script.read_text()
    benign_ctx = json.dumps({"members": MEMBERS})
    assert runner.call(BENIGN, "benign.js", benign_ctx, 5.0).value == "alpha"  # a warm worker
    for attempt in range(_calls(source)):
        started = time.monotonic()
        outcome = runner.call(source, script.name, json.dumps(ctx), TIMEOUT)
        elapsed = time.monotonic() - started

        assert not outcome.ok or outcome.value not in MEMBERS, f"call {attempt + 1} escaped: {outcome}"
        assert elapsed < TIMEOUT + MARGIN, f"call {attempt + 1} took {elapsed:.2f} s: {outcome}"
        assert not marker.exists(), "the script created the marker file"
        assert SECRET not in repr(outcome)
        assert not usr1, "the script signalled the test process"
        os.kill(os.getpid(), 0)  # still alive

        after = runner.call(BENIGN, "benign.js", benign_ctx, 5.0)
        assert after.ok and after.value == "alpha", f"the next script was affected: {after}"
    assert not list(tmp_path.iterdir())


def test_memory_bombs_do_not_outlive_the_call(runner: NodeRunner) -> None:
    """After an off-heap bomb, a selector that needs real memory still runs on the same runner."""
    bomb = (Path(__file__).parent / "hostile" / "js" / "memory_many_arraybuffers.js").read_text()
    heavy = ("module.exports = (ctx) => { const a = []; for (let i = 0; i < 200000; i++) a.push({i}); "
             "return ctx.members[a.length % 1]; };")
    ctx = json.dumps({"members": MEMBERS, "prompt": ""})
    for _ in range(3):
        assert runner.call(bomb, "bomb.js", ctx, 5.0).value != MEMBERS[1]
        assert runner.call(heavy, "heavy.js", ctx, 5.0).value == "alpha"


def test_node_is_really_there() -> None:
    """Guard against the whole module being skipped on a machine that has node."""
    if shutil.which("node") or os.environ.get("MP_POLICY_NODE"):
        assert not _node_missing()

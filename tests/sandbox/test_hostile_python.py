"""The hostile corpus: every script in hostile/python tries to escape the sandbox or exhaust it.

Convention: a script that escaped answers ``ctx["members"][1]``; scripts with side effects try to
create the file named by ``ctx["prompt"]`` (a path under ``tmp_path``). For each script the call
must end in a fall back (an error, a timeout, a crash, or an answer that is not a member), within
the timeout plus a margin, leave no file behind, never show the parent's secret, and leave the
runner able to answer a benign selector right after.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_engine.sandbox.base import Outcome
from policy_engine.sandbox.python_runner import PythonRunner

HOSTILE = sorted((Path(__file__).parent / "hostile" / "python").glob("*.py"))
MEMBERS = ["claude-a", "claude-b", "claude-c"]
TIMEOUT = 0.3
MARGIN = 1.0  # scheduling slack on a busy machine; a worker killed at the deadline is reaped within it
SECRET = "mp-policy-hostile-secret-7d41c09e"
SECRET_VAR = "MP_POLICY_HOSTILE_SECRET"
BENIGN = "def select(ctx):\n    return ctx['members'][2]\n"


def make_ctx(prompt: str) -> str:
    return json.dumps({
        "members": MEMBERS,
        "currentProvider": MEMBERS[0],
        "modelId": "claude-sonnet",
        "pool": {"name": "claude", "baseProvider": "anthropic", "members": MEMBERS},
        "timestamp": 1_700_000_000_000,
        "hour": 3,
        "day": "wed",
        "prompt": prompt,
        "quota": {m: 50.0 for m in MEMBERS},
        "cooldowns": {},
    })


@pytest.fixture(scope="module")
def runner() -> Iterator[PythonRunner]:
    # The secret is in the parent's environment before any worker starts.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(SECRET_VAR, SECRET)
        shared = PythonRunner()
        shared.warm()
        yield shared
        shared.close()


def escaped(outcome: Outcome) -> bool:
    """True when the answer would be used: a member, or a list holding one."""
    if not outcome.ok:
        return False
    value: Any = outcome.value
    if isinstance(value, str):
        return value in MEMBERS
    return isinstance(value, list) and any(isinstance(v, str) and v in MEMBERS for v in value)


def test_the_corpus_is_large_and_documented() -> None:
    assert len(HOSTILE) >= 30
    for script in HOSTILE:
        assert script.read_text().startswith("# Tries: "), script.name


@pytest.mark.parametrize("script", HOSTILE, ids=lambda path: path.stem)
def test_a_hostile_script_falls_back(runner: PythonRunner, script: Path, tmp_path: Path) -> None:
    assert os.environ.get(SECRET_VAR) == SECRET
    marker = tmp_path / "escaped.marker"
    (tmp_path / "credentials.json").write_text(json.dumps({"token": SECRET}))
    ctx = make_ctx(str(marker))
    warm = runner.call(BENIGN, "benign.py", ctx, 10.0)  # a warm worker is waiting: no start-up in the timing
    assert warm.ok and warm.value == MEMBERS[2], warm

    started = time.monotonic()
    outcome = runner.call(script.read_text(), script.name, ctx, TIMEOUT)
    elapsed = time.monotonic() - started

    assert not escaped(outcome), outcome
    assert elapsed < TIMEOUT + MARGIN, (elapsed, outcome)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["credentials.json"]
    assert SECRET not in repr(outcome)
    assert outcome.kind in ("ok", "error", "compile", "timeout", "crash"), outcome

    after = runner.call(BENIGN, "benign.py", ctx, 10.0)
    assert after.ok and after.value == MEMBERS[2], after

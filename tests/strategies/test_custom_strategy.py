"""The custom strategy: what a selector sees, and how every kind of failure becomes a fallback.

The runners are replaced by a recording fake here; the real sandboxes are tested in tests/sandbox
and end to end (real workers) in tests/strategies/test_custom_end_to_end.py.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.sandbox.base import Outcome, SourceProblem
from policy_engine.state import Cooldown, QuotaSnapshot, StateChanges

NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)  # a Monday


class FakeRunner:
    """Answers with queued outcomes and records every context it was given."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.outcomes: list[Outcome] = []
        self.contexts: list[dict[str, Any]] = []
        self.timeouts: list[float] = []
        self.scopes: list[str] = []
        self.warmed = 0
        self.missing: str | None = None
        self.problems: list[SourceProblem] = []

    def unavailable(self) -> str | None:
        return self.missing

    def check(self, source: str, filename: str) -> list[SourceProblem]:
        return self.problems

    def call(self, source: str, filename: str, ctx_json: str, timeout: float, scope: str = "") -> Outcome:
        self.scopes.append(scope)
        self.contexts.append(json.loads(ctx_json))
        self.timeouts.append(timeout)
        return self.outcomes.pop(0) if self.outcomes else Outcome("ok", None)

    def warm(self) -> None:
        self.warmed += 1

    def close(self) -> None:
        pass


@pytest.fixture
def runners(monkeypatch: pytest.MonkeyPatch) -> dict[str, FakeRunner]:
    fakes = {"python": FakeRunner("python"), "javascript": FakeRunner("javascript")}
    monkeypatch.setattr("policy_engine.sandbox.selector.runner_for", lambda language: fakes[language])
    return fakes


def _engine(tmp_path: Path, script: str = "pick.py", **settings: Any) -> Engine:
    (tmp_path / "pick.py").write_text("def select(ctx):\n    return None\n")
    (tmp_path / "pick.js").write_text("module.exports = () => null;\n")
    policy = {
        "settings": {"timezone": "Europe/Vienna", **settings},
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2",
                                                                            "anthropic-3"],
                   "strategy": "custom", "selectorScript": script}],
    }
    return Engine.from_documents(policy, auth={"anthropic", "anthropic-2", "anthropic-3"}, clock=lambda: NOW,
                                 base_dir=str(tmp_path))


def test_the_selector_sees_the_pi_context_plus_quota_and_cooldowns(tmp_path: Path,
                                                                  runners: dict[str, FakeRunner]) -> None:
    engine = _engine(tmp_path, selectorTimeout="400ms")
    assert runners["python"].warmed == 1  # a worker starts when the policy loads
    engine.store.apply(StateChanges(
        cooldowns=[Cooldown("anthropic-3", NOW + timedelta(minutes=5), "rate_limit", NOW)],
        quota=[QuotaSnapshot("anthropic", 42.0, NOW, "test")],
    ))
    runners["python"].outcomes = [Outcome("ok", "anthropic-2")]
    d = engine.select(pool="claude", model="claude-sonnet-4-5", prompt="fix the bug")
    assert d.target is not None and d.target.provider == "anthropic-2"
    assert d.to_dict()["strategy"] == [{"pool": "claude", "name": "custom", "fallback": False,
                                        "note": "selector chose anthropic-2"}]
    ctx = runners["python"].contexts[-1]
    assert ctx == {
        "members": ["anthropic", "anthropic-2"],
        "currentProvider": None,
        "modelId": "claude-sonnet-4-5",
        "pool": {"name": "claude", "baseProvider": "anthropic",
                 "members": ["anthropic", "anthropic-2", "anthropic-3"]},
        "timestamp": int(NOW.timestamp() * 1000),
        "hour": 12,  # Vienna, summer time
        "day": "mon",
        "prompt": "fix the bug",
        "quota": {"anthropic": 42.0},
        "cooldowns": {"anthropic-3": {"until": "2026-04-06T12:05:00+02:00", "reason": "rate_limit"}},
    }
    assert runners["python"].timeouts[-1] == pytest.approx(0.4)
    # On a failure the failing provider is the current one and is no longer a member.
    d = engine.fail(d.turn, status=429, message="rate_limit_error")
    ctx = runners["python"].contexts[-1]
    assert ctx["currentProvider"] == "anthropic-2" and ctx["members"] == ["anthropic"]


@pytest.mark.parametrize(("outcome", "words"), [
    (Outcome("error", detail="NameError: name 'open' is not defined (line 3)", line=3), "line 3"),
    (Outcome("timeout", detail="no answer within 250 ms"), "250 ms"),
    (Outcome("crash", detail="the worker was killed by SIGKILL"), "SIGKILL"),
    (Outcome("compile", detail="SyntaxError: invalid syntax (line 2)"), "SyntaxError"),
    (Outcome("unavailable", detail="node is not installed"), "node is not installed"),
    (Outcome("ok", "somebody-else"), "named no member"),
    (Outcome("ok", {"a": 1}), "returned an object"),
])
def test_every_failure_falls_back_to_rotation_order_with_the_reason(
        tmp_path: Path, runners: dict[str, FakeRunner], outcome: Outcome, words: str) -> None:
    engine = _engine(tmp_path)
    runners["python"].outcomes = [outcome]
    d = engine.select(pool="claude")
    assert d.target is not None and d.target.provider == "anthropic"
    [note] = d.to_dict()["strategy"]
    assert note["fallback"] is True and words in note["note"] and note["note"].endswith("rotation order")
    assert "pick.py" in note["note"]


def test_a_missing_script_and_a_missing_runtime_fall_back_and_are_reported(
        tmp_path: Path, runners: dict[str, FakeRunner]) -> None:
    engine = _engine(tmp_path, script="nowhere.js")
    assert [d.code for d in engine.graph.diagnostics] == ["selector-script"]
    d = engine.select(pool="claude")
    [note] = d.to_dict()["strategy"]
    assert note["fallback"] is True and "not found" in note["note"]
    assert runners["javascript"].contexts == []

    runners["javascript"].missing = "node is not installed; JavaScript selectors fall back to round-robin"
    engine = _engine(tmp_path, script="pick.js")
    [diag] = engine.graph.diagnostics
    assert diag.code == "selector-runtime" and "node is not installed" in diag.message
    assert runners["javascript"].warmed == 0


def test_python_compile_problems_are_warnings_with_the_script_line(tmp_path: Path,
                                                                  runners: dict[str, FakeRunner]) -> None:
    runners["python"].problems = [SourceProblem("imports are not allowed: import os", line=2, column=1)]
    engine = _engine(tmp_path)
    [diag] = engine.graph.diagnostics
    assert (diag.code, diag.severity, diag.file, diag.line) == ("selector-compile", "warning",
                                                               str(tmp_path / "pick.py"), 2)


def test_a_selector_that_keeps_timing_out_is_paused(tmp_path: Path, runners: dict[str, FakeRunner]) -> None:
    engine = _engine(tmp_path)
    runners["python"].outcomes = [Outcome("timeout", detail="no answer within 250 ms")] * 3
    for _ in range(3):
        engine.select(pool="claude")
    assert len(runners["python"].contexts) == 3
    d = engine.select(pool="claude")
    assert len(runners["python"].contexts) == 3  # not called: paused
    [note] = d.to_dict()["strategy"]
    assert note["fallback"] is True and "paused after 3 failures" in note["note"]


def test_an_edited_script_is_used_without_reloading_the_policy(tmp_path: Path,
                                                              runners: dict[str, FakeRunner]) -> None:
    engine = _engine(tmp_path)
    (tmp_path / "pick.py").unlink()
    d = engine.select(pool="claude")
    assert "not found" in d.to_dict()["strategy"][0]["note"]
    (tmp_path / "pick.py").write_text("def select(ctx):\n    return 'anthropic-3'\n")
    runners["python"].outcomes = [Outcome("ok", "anthropic-3")]
    d = engine.select(pool="claude")
    assert d.target is not None and d.target.provider == "anthropic-3"

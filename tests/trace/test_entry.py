"""Trace entries as the engine writes them: one per state-writing call, in the same batch as its changes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.state import StateChanges

T0 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
POLICY: dict[str, Any] = {
    "settings": {"timezone": "UTC"},
    "subscriptions": [{"provider": "anthropic", "index": 2}],
    "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"]}],
    "chains": [{"name": "main", "entries": [{"pool": "claude", "model": "claude-sonnet-4"}]}],
}


class Clock:
    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


def engine(settings: dict[str, Any] | None = None, clock: Clock | None = None) -> Engine:
    doc = {**POLICY, "settings": {**POLICY["settings"], **(settings or {})}}
    return Engine.from_documents(doc, state="memory://", env={}, auth={"anthropic", "anthropic-2"},
                                 clock=clock or Clock())


def log(e: Engine) -> list[dict[str, Any]]:
    return list(e.store.dump()["log"])


def test_select_fail_succeed_each_write_one_entry_in_the_batch_of_their_changes(monkeypatch: pytest.MonkeyPatch
                                                                               ) -> None:
    e = engine()
    batches: list[StateChanges] = []
    apply = e.store.apply
    monkeypatch.setattr(e.store, "apply", lambda changes: batches.append(changes) or apply(changes))
    d = e.select(chain="main", prompt="write a poem", label="pi/s1")
    e.fail(d.turn, status=429, headers={"retry-after": "120"}, message="rate limited", label="pi/s1")
    e.succeed(d.turn, label="pi/s1")
    assert [len(b.log) for b in batches] == [1, 1, 1]  # each call: one batch, holding its entry
    assert all(b.retention is not None and b.retention.entries == 10_000 for b in batches)
    assert d.turn in batches[0].turns and d.turn in batches[1].turns and batches[2].turns == {d.turn: None}
    assert [c.provider for c in batches[1].cooldowns] == ["anthropic"]  # the cooldown rides with the fail entry

    select, fail, succeed = log(e)
    assert select == {
        "v": 1, "t": T0.timestamp(), "tz": "UTC", "op": "select", "turn": d.turn,
        "request": {"chain": "main"}, "label": "pi/s1", "policyRevision": e.graph.revision,
        "target": {"provider": "anthropic", "model": "claude-sonnet-4", "pool": "claude", "chain": "main",
                   "preset": None, "entry": 0, "via": "chain"},
        "strategy": [{"pool": "claude", "name": "round-robin", "fallback": False, "note": ""}],
        "promptChars": len("write a poem"), "elapsedUs": select["elapsedUs"]}
    assert fail["failing"] == "anthropic" and fail["target"]["provider"] == "anthropic-2"
    assert fail["error"] == {"kind": "rate_limit", "status": 429, "headers": ["retry-after"], "rotate": True,
                             "retryAfter": "2026-04-06T10:02:00+00:00", "retrySource": "header retry-after",
                             "cooldownUntil": "2026-04-06T10:05:00+00:00", "reason": fail["error"]["reason"]}
    assert succeed == {"v": 1, "t": T0.timestamp(), "tz": "UTC", "op": "succeed",
                       "turn": d.turn, "request": {}, "label": "pi/s1", "policyRevision": e.graph.revision,
                       "target": None}
    assert "write a poem" not in json.dumps(log(e)) and "rate limited" not in json.dumps(log(e))


def test_skips_carry_reason_and_until() -> None:
    clock = Clock()
    e = engine(clock=clock)
    d = e.select(chain="main")
    e.fail(d.turn, status=429, headers={"retry-after": "600"})
    clock.at += timedelta(minutes=1)
    e.select(chain="main")
    skipped = log(e)[-1]["skipped"]
    assert skipped == [{"provider": "anthropic", "pool": "claude", "chain": "main", "entry": 0, "reason": "cooldown",
                        "detail": skipped[0]["detail"], "until": "2026-04-06T10:10:00+00:00"}]


def test_dry_runs_write_no_entry() -> None:
    e = engine()
    e.select(chain="main", dry_run=True)
    assert log(e) == []


def test_settings_trace_off_and_retention() -> None:
    off = engine({"trace": {"enabled": False}})
    d = off.select(chain="main")
    off.fail(d.turn, status=429)
    off.succeed(d.turn)
    assert log(off) == []
    small = engine({"trace": {"entries": 3, "age": "1h", "bytes": 0}})
    assert small.graph.settings.trace.entries == 3 and small.graph.settings.trace.max_bytes is None
    for _ in range(5):
        small.succeed(small.select(chain="main").turn)
    assert [x["op"] for x in log(small)] == ["succeed", "select", "succeed"]


def test_the_project_directory_is_recorded(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.json").write_text(json.dumps(POLICY), encoding="utf-8")
    project = tmp_path / "app"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text("allowedSubs: [anthropic-2]\n", encoding="utf-8")
    e = Engine.load(agent_dir=agent, project=project, state="memory://", env={}, auth={"anthropic", "anthropic-2"},
                    quota_refresh=False)
    e.select(chain="main")
    assert log(e)[0]["project"] == str(project) and log(e)[0]["target"]["provider"] == "anthropic-2"


def test_the_entry_spells_target_skips_and_strategy_as_their_json_forms() -> None:
    """decision_entry writes these fields out by hand (it runs on every decision); they must stay the
    JSON forms of Target, SkipRecord (without unset fields) and StrategyNote."""
    from policy_engine.evaluate.decision import Decision, SkipRecord, StrategyNote, Target
    from policy_engine.trace.entry import decision_entry

    skips = [
        SkipRecord("cooldown", "cooling", provider="a", pool="p", chain="c", preset=None, entry=0,
                   until=T0 + timedelta(minutes=5, milliseconds=250)),
        SkipRecord("outside-window", "closed for good", provider="b", pool="p"),
        SkipRecord("disabled", "preset entry off", preset="fast", entry=2),
    ]
    target = Target(provider="a-2", model="m", pool="p", chain=None, preset="fast", entry=1, via="preset")
    decision = Decision(target=target, candidates=[target], skipped=skips, retry_after=None,
                        strategy=[StrategyNote("p", "weighted", True, "selector failed")], turn="t1", at=T0,
                        policy_revision="r", tz=UTC, elapsed_us=12.34, segments=())
    entry = decision_entry("select", decision, request={"preset": "fast"})
    assert entry["target"] == target.to_dict()
    expected = [{k: v for k, v in s.to_dict(UTC).items() if v is not None} for s in skips]
    expected[1]["until"] = None  # a window that never opens again says so
    assert entry["skipped"] == expected
    assert [list(s) for s in entry["skipped"]] == [list(s) for s in expected]  # the same key order too
    assert entry["strategy"] == [s.to_dict() for s in decision.strategy]
    assert entry["elapsedUs"] == 12.3 and entry["tz"] == "+00:00"  # a zone without an IANA key: its offset

"""Tests of :mod:`policy_engine.simulate.world`: the change queue, quota tracks, auth and the clock."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file, load_text
from policy_engine.simulate.event_reader import parse_events
from policy_engine.simulate.world import SimAuth, World, pool_is_stable

REPO = Path(__file__).resolve().parents[2]
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)
POLICY = {
    "settings": {"timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "github-copilot", "index": 2}, {"provider": "github-copilot", "index": 3}],
    "pools": [{"name": "q", "baseProvider": "github-copilot", "strategy": "quota-first",
               "members": ["github-copilot", "github-copilot-2", "github-copilot-3"]}],
}
ACCOUNTS = {"github-copilot", "github-copilot-2", "github-copilot-3"}


def world(text: str, hours: int = 12) -> World:
    """A world over ``hours`` from Monday 00:00 with the events of ``text``."""
    engine = Engine.from_documents(POLICY, auth=ACCOUNTS)
    script = parse_events(load_text(text, "events.yaml"))
    end = MONDAY + timedelta(hours=hours)
    events, _ = script.occurrences(MONDAY, end, VIENNA)
    return World.create(engine, MONDAY, end, auth=script.auth, quota=script.quota, events=events)


def at(hour: float) -> float:
    """Epoch seconds ``hour`` hours after Monday 00:00."""
    return MONDAY.timestamp() + hour * 3600


def remaining(w: World, provider: str) -> float | None:
    """The quota snapshot in the world's store."""
    snap = w.engine.store.snapshot().quota.get(provider)
    return snap.remaining if snap else None


def test_quota_crossings_and_thresholds_are_found_exactly() -> None:
    w = world("""\
quota: {github-copilot-2: 30, github-copilot-3: 70}
events:
  - {at: +1h, burn: {provider: github-copilot, perHour: 10, remaining: 90, exhaust: false}}
""")
    assert [c.kind for c in w.advance(at(1))] == ["burn"]
    changes = w.advance(at(12))
    order = [(c.kind, round((c.at - MONDAY.timestamp()) / 3600, 6), c.repeat) for c in changes]
    # 90 - 10 %/h: below copilot-3 (70) at 3h, below copilot-2 (30) at 7h, 5 % at 9.5h, 0 % at 10h
    assert ("quota-order", 3.0, False) in order and ("quota-order", 3.0, True) in order
    assert ("quota-order", 7.0, False) in order
    assert ("quota-mark", 9.5, False) in order
    assert ("quota-empty", 10.0, False) in order
    w.refresh_quota(at(12))
    assert remaining(w, "github-copilot") == 0.0
    assert [c.text for c in w.changes if c.kind == "quota-order"] == [
        "github-copilot's quota falls below github-copilot-3's (pool q)",
        "github-copilot's quota falls below github-copilot-2's (pool q)",
    ]


def test_a_new_burn_makes_earlier_milestones_stale() -> None:
    w = world("""\
quota: {github-copilot-2: 50}
events:
  - {at: +0m, burn: {provider: github-copilot, perHour: 10, remaining: 100}}
  - {at: +2h, burn: {provider: github-copilot, perHour: 0}}
""")
    changes = w.advance(at(12))
    assert [c.kind for c in changes] == ["burn", "burn"]  # the crossing at 5h never happens
    w.refresh_quota(at(12))
    assert remaining(w, "github-copilot") == 80.0


def test_burn_for_a_while_then_stop() -> None:
    w = world("events:\n  - {at: +1h, burn: {provider: github-copilot-3, perHour: 6, remaining: 60, for: 2h}}\n")
    kinds = [(c.kind, c.text) for c in w.advance(at(12))]
    assert ("burn-end", "github-copilot-3 stops burning quota (48% left)") in kinds
    assert not w.burning
    assert remaining(w, "github-copilot-3") == 48.0


def test_running_dry_fails_for_real_and_resets() -> None:
    w = world("events:\n  - {at: +0m, burn: {provider: github-copilot, perHour: 50, remaining: 100, "
              "resetAfter: 3h}}\n")
    changes = w.advance(at(2))
    empty = changes[-1]
    assert empty.kind == "quota-empty" and empty.at == at(2)
    assert "429 quota_exhausted, cooling down until Mon 05:00" in empty.text
    cooldown = w.engine.store.snapshot().cooldowns["github-copilot"]
    assert cooldown.until.timestamp() == at(5)
    later = w.advance(at(5))
    assert {c.kind for c in later} == {"quota-reset", "cooldown-end"}
    assert remaining(w, "github-copilot") == 100.0
    assert w.burning  # no 'for': it burns on after the reset


def test_cooldown_ends_follow_the_longest_cooldown() -> None:
    w = world("""\
events:
  - {at: +1h, fail: {provider: github-copilot, status: 429, retryAfter: 30m}}
  - {at: +1h10m, fail: {provider: github-copilot, status: 429, retryAfter: 2h}}
""")
    kinds = [(c.kind, round((c.at - MONDAY.timestamp()) / 60)) for c in w.advance(at(12))]
    assert kinds == [("fail", 60), ("fail", 70), ("cooldown-end", 190)]  # the 90-minute end was superseded


def test_auth_changes_and_the_clock() -> None:
    auth = SimAuth(["a"])
    auth.change(["b", "c"], True)
    auth.change(["a"], False)
    assert auth.providers() == frozenset({"b", "c"}) and auth.has("b") and not auth.has("a")
    w = world("auth: [github-copilot]\nevents:\n  - {at: +1h, login: github-copilot-2}\n")
    assert w.engine.auth.providers() == frozenset({"github-copilot"})
    w.advance(at(1))
    assert w.engine.auth.providers() == frozenset({"github-copilot", "github-copilot-2"})
    w.set_time(at(3))
    assert w.engine.now().timestamp() == at(3)


def test_schedule_transitions_are_queued() -> None:
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"))
    w = World.create(engine, MONDAY, MONDAY + timedelta(days=1))
    changes = w.advance(at(24))
    assert [(c.kind, f"{datetime.fromtimestamp(c.at, VIENNA):%H:%M}", sorted(c.providers)) for c in changes] == [
        ("window-open", "09:00", ["openai-codex"]), ("window-close", "09:00", ["openai-codex-2"]),
        ("window-close", "17:00", ["openai-codex"]), ("window-open", "17:00", ["openai-codex-2"])]


def test_which_strategies_are_stable() -> None:
    graph = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml")).graph
    assert all(pool_is_stable(p) for p in graph.pools.values())
    custom = Engine.from_documents({"pools": [{"name": "c", "baseProvider": "anthropic", "members": ["anthropic"],
                                               "strategy": "custom", "selectorScript": "none.py"}]}).graph
    assert not pool_is_stable(custom.pools["c"])

"""``quota-first``: ordering by the cached bottleneck, and a note that stays short for big pools."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from policy_engine.engine import Engine
from policy_engine.quota.status import snapshot_from_windows
from policy_engine.state import QuotaWindow, StateChanges

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)


def _engine(remaining: dict[str, float | None], fetched: dict[str, datetime] | None = None) -> Engine:
    names = list(remaining)
    policy = {"subscriptions": [{"provider": "openai-codex", "index": i} for i in range(2, len(names) + 1)],
              "pools": [{"name": "p", "baseProvider": "openai-codex", "strategy": "quota-first", "members": names}]}
    engine = Engine.from_documents(policy, auth=set(names), clock=lambda: NOW)
    engine.store.apply(StateChanges(quota=[
        snapshot_from_windows(n, [QuotaWindow("5h", r, None)], now=(fetched or {}).get(n, NOW), source="t",
                              summary="") for n, r in remaining.items() if r is not None]))
    return engine


def _names(count: int) -> list[str]:
    return ["openai-codex", *(f"openai-codex-{i}" for i in range(2, count + 1))]


def test_order_groups_and_note() -> None:
    a, b, c, d = _names(4)
    engine = _engine({a: 3, b: 40, c: None, d: 90}, fetched={b: NOW - timedelta(minutes=5)})
    decision = engine.select(pool="p", dry_run=True)
    assert [t.provider for t in decision.candidates] == [d, b, c, a]
    note = decision.to_dict()["strategy"][0]["note"]
    assert note == (f"remaining quota: {d} 90%, {b} 40%, {a} 3%; no data: {c}; blocked (<= 5%): {a}; "
                    f"stale data for {b}")


def test_the_note_lists_at_most_eight_members() -> None:
    names = _names(12)
    engine = _engine({n: float(10 + i) for i, n in enumerate(names)})
    decision = engine.select(pool="p", dry_run=True)
    assert [t.provider for t in decision.candidates] == list(reversed(names))
    note = decision.to_dict()["strategy"][0]["note"]
    assert note.startswith(f"remaining quota: {names[-1]} 21%, ") and note.endswith(", ... 4 more")
    assert note.count("%") == 8

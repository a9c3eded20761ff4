"""TurnHistory bounds, and explain answers rebuilt from a real turn record in a store."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from policy_engine.engine import Engine
from policy_engine.serve.history import TurnHistory, from_record, request_summary, step_of

POLICY = {"subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
          "pools": [{"name": "claude", "baseProvider": "anthropic",
                     "members": ["anthropic", "anthropic-2", "anthropic-3"]}]}
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def test_history_keeps_the_last_turns_and_the_first_and_last_steps() -> None:
    history = TurnHistory(max_turns=3, max_steps=4)
    for t in range(5):
        history.add(f"t{t}", {"op": "select", "n": 0})
    assert len(history) == 3 and history.get("t0") is None and history.get("t4") is not None
    for n in range(1, 10):
        history.add("t4", {"op": "fail", "n": n})
    steps = history.get("t4")
    assert steps is not None and [s["n"] for s in steps] == [0, 7, 8, 9]  # the select that started it stays


def test_request_summary_keeps_header_names_and_cuts_long_messages() -> None:
    summary = request_summary({"provider": "a", "status": 429, "message": "m" * 2000,
                               "headers": {"Retry-After": "1", "authorization": "Bearer secret"}, "body": {"x": 1}})
    assert summary["headers"] == ["Retry-After", "authorization"] and "secret" not in str(summary)
    assert len(summary["message"]) == 501 and "body" not in summary


def test_explain_from_the_store_gives_the_failures_with_their_reasons(tmp_path: Path) -> None:
    engine = Engine.from_documents(POLICY, auth={"anthropic", "anthropic-2", "anthropic-3"},
                                   state=f"sqlite:///{tmp_path / 's.db'}", clock=lambda: NOW)
    try:
        turn = engine.select(pool="claude").turn
        engine.fail(turn, status=429, headers={"retry-after": "600"})
        record = engine.store.get_turn(turn, NOW)
        assert record is not None
        answer = from_record(turn, record, engine.store.snapshot(), engine.graph.tz)
    finally:
        engine.close()
    assert answer["source"] == "store" and answer["attempted"] == ["anthropic"]
    assert [s["op"] for s in answer["steps"]] == ["select", "fail"]
    assert answer["steps"][0]["request"] == {"pool": "claude"}
    fail = answer["steps"][1]
    assert fail["failing"] == "anthropic" and fail["error"]["kind"] == "rate_limit"
    assert fail["error"]["cooldownUntil"].startswith("2026-11-24T09:40:00")
    assert answer["target"]["provider"] == "anthropic-2" and "segment" not in answer["target"]
    assert answer["route"] == ["pool claude (from its cursor)"]


def test_a_step_has_the_same_shape_for_every_op() -> None:
    keys = {"op", "request", "at", "target", "error", "skipped", "strategy", "retryAfter"}
    assert keys <= set(step_of("succeed", {}, None))
    decision = {"at": "x", "target": None, "skipped": [], "strategy": [], "retryAfter": None, "candidates": []}
    assert keys | {"failing"} <= set(step_of("fail", {}, decision, "p"))

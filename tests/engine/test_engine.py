"""The embedding API (DESIGN §4 "Select", "Fail", "The turn remembers its place", §5, §8).

Turns through ``select`` / ``fail`` / ``succeed``: round-robin stickiness and cursors, the turn's
place across failures, non-rotating errors, cooldown lengths, ``rotateOn`` and ``errorRules``,
``retryAfter`` after a failure, the Decision JSON (times, ``elapsedUs``, ``trace``), the SQLite
store shared by several engines, read-only engines and :class:`AsyncEngine`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import AsyncEngine, Engine
from policy_engine.evaluate.decision import Decision
from policy_engine.evaluate.route import RouteError
from policy_engine.state import Cooldown, StateChanges, StateReadOnlyError

T0 = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
RATE_LIMIT = '429 {"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}'


class FakeClock:
    """A settable clock returning an aware datetime."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.at += timedelta(**delta)


CLAUDE = ["anthropic", "anthropic-2", "anthropic-3"]
CODEX = ["openai-codex", "openai-codex-2"]
EVERYONE = frozenset([*CLAUDE, *CODEX, "google-gemini-cli", "google-antigravity"])


def policy(**extra: Any) -> dict[str, Any]:
    """Three pools in one chain (UTC); keyword arguments replace top-level sections."""
    doc: dict[str, Any] = {
        "settings": {"timezone": "UTC"},
        "subscriptions": [
            {"provider": "anthropic", "index": 2},
            {"provider": "anthropic", "index": 3},
            {"provider": "openai-codex", "index": 2},
        ],
        "pools": [
            {"name": "claude", "baseProvider": "anthropic", "members": CLAUDE},
            {"name": "codex", "baseProvider": "openai-codex", "members": CODEX},
            {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]},
        ],
        "chains": [{"name": "main", "entries": [
            {"pool": "claude", "model": "claude-sonnet-4"},
            {"pool": "codex", "model": "gpt-5-mini"},
            {"pool": "gem", "model": "gemini-2.5-pro"},
        ]}],
        "presets": [{"name": "mix", "entries": [
            {"provider": "anthropic-2", "model": "opus"},
            {"provider": "openai-codex", "model": "gpt-5"},
        ]}],
    }
    doc.update(extra)
    return doc


def make(
    doc: Mapping[str, Any] | None = None,
    *,
    clock: FakeClock | None = None,
    auth: Iterable[str] = EVERYONE,
    state: str = "memory://",
    project: Mapping[str, Any] | None = None,
) -> Engine:
    """An engine over ``doc`` with a fake clock."""
    return Engine.from_documents(doc or policy(), project, state=state, env={}, auth=auth,
                                 clock=clock or FakeClock())


def target(d: Decision) -> tuple[str, str | None, str | None] | None:
    """(provider, model, via) of the target, or None."""
    return (d.target.provider, d.target.model, d.target.via) if d.target else None


def cursors(engine: Engine) -> dict[str, str]:
    """The stored round-robin cursors."""
    return dict(engine.store.snapshot().cursors)


def cooldown_until(engine: Engine, provider: str) -> datetime | None:
    """The stored cooldown end of ``provider``."""
    found = engine.store.snapshot().cooldowns.get(provider)
    return found.until if found else None


# --- the Decision JSON ---------------------------------------------------------------------------


def test_decision_json_has_every_documented_field() -> None:
    d = make().select("anthropic", model="claude-sonnet-4").to_dict()
    assert {"target", "candidates", "skipped", "retryAfter", "strategy", "turn", "at", "policyRevision",
            "elapsedUs"} <= set(d)
    assert set(d["target"]) == {"provider", "model", "pool", "chain", "entry", "via", "preset"}
    assert {"provider", "model", "pool", "via"} <= set(d["candidates"][0])
    assert "error" not in d
    assert "trace" not in d
    assert isinstance(d["elapsedUs"], float) and d["elapsedUs"] > 0
    assert isinstance(d["turn"], str) and d["turn"]
    assert d["at"] == "2026-04-06T10:00:00+00:00"


def test_every_select_without_a_turn_id_gets_a_fresh_turn() -> None:
    engine = make()
    a = engine.select("anthropic", model="m")
    b = engine.select("anthropic", model="m")
    assert a.turn != b.turn
    assert engine.select("anthropic", model="m", turn="my-turn").turn == "my-turn"


def test_explain_adds_a_trace() -> None:
    d = make().select(chain="main", explain=True).to_dict()
    steps = [t["step"] for t in d["trace"]]
    assert steps[0] == "route"
    assert {"segment", "candidate", "strategy"} <= set(steps)
    failed = make().fail(provider="anthropic", status=400, message="prompt is too long", explain=True).to_dict()
    assert failed["trace"][0]["step"] == "error"


def test_decision_times_carry_the_policy_time_zone_offset() -> None:
    clock = FakeClock()
    engine = make(policy(settings={"timezone": "Europe/Vienna"}), clock=clock)
    d = engine.select("anthropic", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT, headers={"retry-after": "600"})
    out = d.to_dict()
    assert out["at"] == "2026-04-06T12:00:00+02:00"
    assert out["error"]["retryAfter"] == "2026-04-06T12:10:00+02:00"
    assert out["error"]["cooldownUntil"] == "2026-04-06T12:10:00+02:00"
    again = engine.select("anthropic", model="m").to_dict()
    assert again["skipped"][0]["until"] == "2026-04-06T12:10:00+02:00"
    clock.at = datetime(2026, 1, 6, 10, 0, tzinfo=UTC)  # winter: CET
    assert engine.select("anthropic", model="m").to_dict()["at"] == "2026-01-06T11:00:00+01:00"


# --- round-robin stickiness and cursors ---------------------------------------------------------


def test_select_on_a_pool_starts_at_the_first_member_and_sets_the_cursor() -> None:
    engine = make()
    d = engine.select(pool="claude", model="m")
    assert target(d) == ("anthropic", "m", "pool")
    assert cursors(engine) == {"claude": "anthropic"}


def test_the_cursor_follows_failover_and_the_next_turn_stays_there() -> None:
    clock = FakeClock()
    engine = make(clock=clock)
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-2", "m", "pool")
    assert cursors(engine)["claude"] == "anthropic-2"
    engine.succeed(d.turn)
    clock.advance(minutes=30)  # anthropic's cooldown is long over: stickiness, not cooldown, decides
    d = engine.select(pool="claude", model="m")
    assert target(d) == ("anthropic-2", "m", "pool")
    assert [c.provider for c in d.candidates] == ["anthropic-2", "anthropic-3", "anthropic", "openai-codex",
                                                  "openai-codex-2", "google-gemini-cli"]


def test_a_new_turn_that_skips_the_cursor_moves_it() -> None:
    engine = make()
    engine.store.apply(StateChanges(cooldowns=[Cooldown("anthropic", T0 + timedelta(minutes=1), "t", T0)]))
    d = engine.select(pool="claude", model="m")
    assert target(d) == ("anthropic-2", "m", "pool")
    assert cursors(engine)["claude"] == "anthropic-2"


def test_naming_a_provider_moves_its_pool_cursor_to_it() -> None:
    engine = make()
    engine.select("anthropic-3", model="m")
    assert cursors(engine) == {"claude": "anthropic-3"}
    assert target(engine.select(pool="claude", model="m")) == ("anthropic-3", "m", "pool")


def test_dry_run_select_does_not_move_the_cursor_or_keep_the_turn() -> None:
    engine = make()
    engine.store.apply(StateChanges(cursors={"claude": "anthropic"},
                                    cooldowns=[Cooldown("anthropic", T0 + timedelta(minutes=1), "t", T0)]))
    d = engine.select(pool="claude", model="m", dry_run=True)
    assert target(d) == ("anthropic-2", "m", "pool")
    assert cursors(engine) == {"claude": "anthropic"}
    with pytest.raises(RouteError):
        engine.fail(d.turn, status=429, message=RATE_LIMIT)


def test_dry_run_fail_writes_no_cooldown_cursor_or_turn() -> None:
    engine = make()
    d = engine.select(pool="claude", model="m")
    before = engine.store.dump()
    out = engine.fail(d.turn, status=429, message=RATE_LIMIT, dry_run=True)
    assert target(out) == ("anthropic-2", "m", "pool")
    assert engine.store.dump() == before
    assert cooldown_until(engine, "anthropic") is None
    # the real failure still continues from the turn's unchanged place
    assert target(engine.fail(d.turn, status=429, message=RATE_LIMIT)) == ("anthropic-2", "m", "pool")


def test_a_preset_target_moves_the_cursor_of_its_pool() -> None:
    engine = make()
    engine.select(preset="mix")
    assert cursors(engine) == {"claude": "anthropic-2"}


def test_a_chain_entry_pool_cursor_moves_when_the_turn_reaches_it() -> None:
    engine = make(auth=EVERYONE - set(CLAUDE) - {"openai-codex"})
    d = engine.select(chain="main")
    assert (d.target.provider, d.target.entry) == ("openai-codex-2", 1)  # type: ignore[union-attr]
    assert cursors(engine) == {"codex": "openai-codex-2"}


# --- a turn's cascade --------------------------------------------------------------------------


def test_one_turn_walks_the_pool_then_the_chain_and_never_returns() -> None:
    clock = FakeClock()
    engine = make(clock=clock)
    d = engine.select("anthropic", model="claude-sonnet-4")
    seen: list[tuple[str, str | None, str, int | None]] = []
    while d.target is not None:
        seen.append((d.target.provider, d.target.model, d.target.via, d.target.entry))
        d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
        clock.advance(seconds=10)
    assert seen == [
        ("anthropic", "claude-sonnet-4", "current", None),
        ("anthropic-2", "claude-sonnet-4", "pool", None),
        ("anthropic-3", "claude-sonnet-4", "pool", None),
        ("openai-codex", "gpt-5-mini", "chain", 1),
        ("openai-codex-2", "gpt-5-mini", "chain", 1),
        ("google-gemini-cli", "gemini-2.5-pro", "chain", 2),
    ]
    out = d.to_dict()
    assert out["target"] is None
    assert out["candidates"] == []
    # a new turn could use anthropic again when its cooldown ends (5 minutes after its failure)
    assert out["retryAfter"] == "2026-04-06T10:05:00+00:00"
    assert out["error"]["kind"] == "rate_limit"


def test_each_failure_puts_the_failing_provider_in_cooldown() -> None:
    clock = FakeClock()
    engine = make(clock=clock)
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    clock.advance(minutes=1)
    engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=5)
    assert cooldown_until(engine, "anthropic-2") == T0 + timedelta(minutes=6)
    assert cooldown_until(engine, "anthropic-3") is None


def test_a_turn_never_returns_to_an_attempted_provider_even_after_its_cooldown() -> None:
    clock = FakeClock()
    doc = policy(settings={"timezone": "UTC", "cooldown": "30s"}, chains=[])
    engine = make(doc, clock=clock)
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    clock.advance(minutes=1)
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-3", "m", "pool")
    assert [(s.provider, s.reason) for s in d.skipped] == [("anthropic", "attempted")]
    clock.advance(minutes=1)
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    out = d.to_dict()
    assert out["target"] is None
    assert sorted((s["provider"], s["reason"]) for s in out["skipped"]) == [
        ("anthropic", "attempted"), ("anthropic-2", "attempted"),
    ]
    # only "attempted" stood in the way: a new turn can start right now
    assert out["retryAfter"] == out["at"] == "2026-04-06T10:02:00+00:00"


def test_a_turn_whose_pool_was_renamed_since_its_select_still_fails_over(tmp_path: Path) -> None:
    """The policy changed while the turn was open (its first pool renamed): the failure is recorded and the turn
    goes on along what is left of its route, the renamed pool's segment skipped as not in the policy."""
    state = f"sqlite:///{tmp_path / 'state.db'}"
    clock = FakeClock()
    before = make(state=state, clock=clock)
    d = before.select(chain="main")
    assert target(d) == ("anthropic", "claude-sonnet-4", "chain")
    renamed = policy()
    renamed["pools"][0]["name"] = "claude-accounts"
    renamed["chains"][0]["entries"][0]["pool"] = "claude-accounts"
    after = make(renamed, state=state, clock=clock)
    d = after.fail(d.turn, status=429, message=RATE_LIMIT)
    assert cooldown_until(after, "anthropic") == T0 + timedelta(minutes=5)
    assert target(d) == ("openai-codex", "gpt-5-mini", "chain")
    assert ("claude", "disabled") in [(s.pool, s.reason) for s in d.skipped]
    assert any("pool claude is not in the policy in force" in s.detail for s in d.skipped)
    d = after.fail(d.turn, provider="anthropic", status=429, message=RATE_LIMIT)  # a late failure walks it too
    assert target(d) == ("openai-codex", "gpt-5-mini", "chain")
    before.close()
    after.close()


def test_fail_continues_in_the_pool_after_the_failing_member_wrapping_around() -> None:
    engine = make(policy(chains=[]))
    engine.store.apply(StateChanges(cursors={"claude": "anthropic-2"}))
    d = engine.select(pool="claude", model="m")
    assert target(d) == ("anthropic-2", "m", "pool")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert [c.provider for c in d.candidates] == ["anthropic-3", "anthropic"]


def test_quota_first_orders_the_rest_of_the_pool_on_fail() -> None:
    from policy_engine.state import QuotaSnapshot

    doc = policy(subscriptions=[{"provider": "openai-codex", "index": i} for i in (2, 3, 4)],
                 pools=[{"name": "q", "baseProvider": "openai-codex", "strategy": "quota-first",
                         "members": ["openai-codex", "openai-codex-2", "openai-codex-3", "openai-codex-4"]}],
                 chains=[], presets=[])
    engine = make(doc, auth={"openai-codex", "openai-codex-2", "openai-codex-3", "openai-codex-4"})
    engine.store.apply(StateChanges(quota=[QuotaSnapshot(p, r, T0, "test") for p, r in (
        ("openai-codex", 90), ("openai-codex-2", 20), ("openai-codex-3", 60), ("openai-codex-4", 4))]))
    d = engine.select(pool="q", model="gpt-5")
    assert target(d) == ("openai-codex", "gpt-5", "pool")
    d = engine.fail(d.turn, status=429, message="rate_limit_exceeded")
    assert [c.provider for c in d.candidates] == ["openai-codex-3", "openai-codex-2", "openai-codex-4"]
    assert cursors(engine)["q"] == "openai-codex-3"
    assert [(s.pool, s.name, s.fallback) for s in d.strategy] == [("q", "quota-first", False)]


def test_preset_failover_rotates_in_the_entry_pool_before_the_next_entry() -> None:
    engine = make()
    d = engine.select(preset="mix")
    got = []
    while d.target is not None:
        got.append((d.target.provider, d.target.model, d.target.via, d.target.entry))
        d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert got == [
        ("anthropic-2", "opus", "preset", 0),
        ("anthropic-3", "opus", "pool", 0),
        ("anthropic", "opus", "pool", 0),
        ("openai-codex", "gpt-5", "preset", 1),
        ("openai-codex-2", "gpt-5", "pool", 1),
    ]


def test_a_chain_request_cascade_keeps_entry_indexes() -> None:
    engine = make(auth=EVERYONE - {"anthropic-2", "anthropic-3", "openai-codex-2"})
    d = engine.select(chain="main")
    got = []
    while d.target is not None:
        got.append((d.target.provider, d.target.entry, d.target.via))
        d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert got == [("anthropic", 0, "chain"), ("openai-codex", 1, "chain"), ("google-gemini-cli", 2, "chain")]


def test_a_late_failure_of_an_earlier_provider_never_sends_the_turn_back_to_a_visited_entry() -> None:
    clock = FakeClock()
    engine = make(policy(chains=[{"name": "main", "entries": [
        {"pool": "claude", "model": "claude-sonnet-4"}, {"pool": "codex", "model": "gpt-5-mini"},
    ]}]), clock=clock)
    engine.store.apply(StateChanges(cooldowns=[Cooldown("anthropic-3", T0 + timedelta(minutes=1), "t", T0)]))
    d = engine.select(chain="main")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)                      # -> anthropic-2 (entry 0)
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)                      # -> openai-codex (entry 1)
    assert (d.target.provider, d.target.entry) == ("openai-codex", 1)  # type: ignore[union-attr]
    clock.advance(minutes=2)  # anthropic-3's cooldown is over
    late = engine.fail(d.turn, provider="anthropic-2", status=429, message=RATE_LIMIT)
    assert late.target is not None
    assert late.target.entry != 0, "entry 0 of chain main was already visited in this turn"
    assert all(c.entry != 0 for c in late.candidates)


def test_fail_without_a_turn_starts_a_route_from_the_named_provider() -> None:
    engine = make()
    d = engine.fail(provider="openai-codex", model="gpt-5", status=429, message=RATE_LIMIT)
    out = d.to_dict()
    assert out["target"]["provider"] == "openai-codex-2"
    assert out["target"]["model"] == "gpt-5"
    assert out["target"]["via"] == "pool"
    assert [c["provider"] for c in out["candidates"]] == ["openai-codex-2", "google-gemini-cli"]
    assert out["candidates"][1]["model"] == "gemini-2.5-pro"
    assert cooldown_until(engine, "openai-codex") == T0 + timedelta(minutes=5)
    # the decision started a turn that the next failure continues
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("google-gemini-cli", "gemini-2.5-pro", "chain")


def test_fail_needs_a_provider_or_a_known_turn() -> None:
    engine = make()
    with pytest.raises(RouteError):
        engine.fail(status=429)
    with pytest.raises(RouteError, match="unknown or expired"):
        engine.fail("no-such-turn", status=429)


def test_succeed_ends_the_turn() -> None:
    engine = make()
    d = engine.select(pool="claude", model="m")
    engine.succeed(d.turn)
    with pytest.raises(RouteError):
        engine.fail(d.turn, status=429, message=RATE_LIMIT)
    # naming the provider still works: it starts from that provider as a dry run would
    d = engine.fail(d.turn, provider="anthropic", status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-2", None, "pool")


def test_succeed_keeps_cooldowns_and_cursors() -> None:
    engine = make()
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    engine.succeed(d.turn)
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=5)
    assert cursors(engine)["claude"] == "anthropic-2"


def test_a_turn_expires_after_its_lifetime() -> None:
    clock = FakeClock()
    engine = make(policy(settings={"timezone": "UTC", "turnTtl": "10m"}), clock=clock)
    d = engine.select(pool="claude", model="m")
    clock.advance(minutes=11)
    with pytest.raises(RouteError):
        engine.fail(d.turn, status=429, message=RATE_LIMIT)


# --- non-rotating errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message", "kind"),
    [
        (400, "400 prompt is too long: 210000 tokens > 200000 maximum", "context_overflow"),
        (400, "Context limit reached for this conversation", "context_overflow"),
        (401, "401 authentication_error: OAuth token expired", "auth"),
        (500, "500 Internal Server Error", "other"),
        (400, "request_id req_4290abc failed with 400", "other"),
    ],
)
def test_a_non_rotating_error_keeps_the_target_and_changes_nothing(status: int, message: str, kind: str) -> None:
    engine = make()
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    before = engine.store.dump()
    kept = engine.fail(d.turn, status=status, message=message)
    out = kept.to_dict()
    assert out["target"]["provider"] == "anthropic-2"
    assert out["target"]["model"] == "m"
    assert out["target"]["via"] == "current"
    assert out["target"]["pool"] == "claude"
    assert out["error"]["kind"] == kind
    assert out["error"]["rotate"] is False
    assert out["error"]["cooldownUntil"] is None
    assert kept.turn == d.turn
    after = engine.store.dump()
    traced = after.pop("log")[len(before.pop("log")):]  # only the trace records it
    assert after == before
    assert [(e["op"], e["error"]["kind"], e["error"]["rotate"], e["target"]["provider"]) for e in traced] == [
        ("fail", kind, False, "anthropic-2")]
    assert cooldown_until(engine, "anthropic-2") is None
    # the turn did not move: the next rate limit continues after anthropic-2
    assert target(engine.fail(d.turn, status=429, message=RATE_LIMIT)) == ("anthropic-3", "m", "pool")


def test_a_non_rotating_error_on_another_provider_keeps_the_turns_current_target() -> None:
    engine = make(policy(chains=[]))
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-2", "m", "pool")
    kept = engine.fail(d.turn, provider="anthropic", status=400, message="400 prompt is too long")
    assert kept.error is not None and kept.error.rotate is False
    assert target(kept) == ("anthropic-2", "m", "current")


def test_a_non_rotating_error_without_a_turn_keeps_the_named_provider() -> None:
    engine = make()
    out = engine.fail(provider="openai-codex", model="gpt-5", status=401, message="unauthorized").to_dict()
    assert out["target"]["provider"] == "openai-codex"
    assert out["target"]["via"] == "current"
    assert out["target"]["pool"] == "codex"
    assert out["error"]["rotate"] is False
    assert engine.store.snapshot().cooldowns == {}


def test_a_non_rotating_error_without_a_turn_starts_one_that_a_later_fail_continues() -> None:
    engine = make()
    first = engine.fail("t1", provider="openai-codex", model="gpt-5", status=401, message="unauthorized")
    assert first.turn == "t1" and target(first) == ("openai-codex", "gpt-5", "current")
    assert engine.store.snapshot().cooldowns == {}
    assert cursors(engine)["codex"] == "openai-codex"
    # No provider named: the turn started at openai-codex continues in its pool, then its chain.
    d = engine.fail("t1", status=429, message=RATE_LIMIT)
    assert target(d) == ("openai-codex-2", "gpt-5", "pool")


def test_a_non_rotating_error_without_a_turn_in_a_dry_run_writes_nothing() -> None:
    engine = make()
    before = engine.store.dump()
    engine.fail("t1", provider="openai-codex", status=401, message="unauthorized", dry_run=True)
    assert engine.store.dump() == before


# --- late failures (DESIGN §4, "The turn remembers its place") ----------------------------------


def test_a_rotating_late_failure_keeps_the_current_target_first_and_lists_the_rest() -> None:
    engine = make(policy(chains=[]))
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-2", "m", "pool")
    late = engine.fail(d.turn, provider="anthropic", status=429, message=RATE_LIMIT).to_dict()
    assert late["target"]["provider"] == "anthropic-2" and late["target"]["via"] == "pool"
    assert [c["provider"] for c in late["candidates"]] == ["anthropic-2", "anthropic-3"]
    assert [(s["provider"], s["reason"]) for s in late["skipped"]] == [("anthropic", "attempted")]
    # The current target failing next continues after it.
    assert target(engine.fail(d.turn, status=429, message=RATE_LIMIT)) == ("anthropic-3", "m", "pool")


def test_the_turn_stores_the_route_left_after_each_failure() -> None:
    """The turn's stored route after a failure: the failing pool continues after it, the later entries of
    the chain as they were (a late failure puts the current target first)."""
    engine = make()
    d = engine.select(chain="main")
    tail = [{"kind": "pool", "model": "gpt-5-mini", "via": "chain", "pool": "codex", "chain": "main", "entry": 1},
            {"kind": "pool", "model": "gemini-2.5-pro", "via": "chain", "pool": "gem", "chain": "main", "entry": 2}]

    def claude_after(provider: str) -> dict[str, Any]:
        return {"kind": "pool", "model": "claude-sonnet-4", "via": "chain", "pool": "claude", "chain": "main",
                "entry": 0, "after": provider}

    def stored(turn: str) -> dict[str, Any]:
        record = engine.store.get_turn(turn, T0)
        assert record is not None
        return dict(record.data)

    start = stored(d.turn)["route"]
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-2", "claude-sonnet-4", "chain")
    assert stored(d.turn)["route"] == [claude_after("anthropic"), *tail]
    assert stored(d.turn)["origin"] == start
    late = engine.fail(d.turn, provider="anthropic", status=429, message=RATE_LIMIT)
    assert target(late) == ("anthropic-2", "claude-sonnet-4", "chain")
    pinned = {"kind": "provider", "model": "claude-sonnet-4", "via": "chain", "provider": "anthropic-2",
              "pool": "claude", "chain": "main", "entry": 0}
    assert stored(d.turn)["route"] == [pinned, claude_after("anthropic-2"), *tail]
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(d) == ("anthropic-3", "claude-sonnet-4", "chain")
    assert stored(d.turn)["route"] == [claude_after("anthropic-2"), *tail]
    assert stored(d.turn)["origin"] == start


def test_a_late_failure_on_a_turn_that_ran_out_stays_without_a_target() -> None:
    clock = FakeClock()
    engine = make(policy(chains=[]), clock=clock)
    engine.store.apply(StateChanges(cooldowns=[Cooldown(p, T0 + timedelta(minutes=2), "t", T0) for p in CLAUDE]))
    d = engine.select(pool="claude", model="m")
    assert d.target is None and d.retry_after == T0 + timedelta(minutes=2)
    clock.advance(minutes=3)  # every cooldown is over: a new turn could start now
    late = engine.fail(d.turn, provider="anthropic", status=429, message=RATE_LIMIT)
    assert late.target is None and late.retry_after == clock.at
    assert cooldown_until(engine, "anthropic") == clock.at + timedelta(minutes=5)
    kept = engine.fail(d.turn, provider="anthropic-2", status=500, message="500 Internal Server Error")
    assert kept.target is None and kept.candidates == [] and kept.retry_after == clock.at
    assert kept.error is not None and kept.error.rotate is False


def test_a_late_failure_leaves_a_current_target_that_lost_eligibility() -> None:
    engine = make(policy(chains=[]))
    d = engine.select(pool="claude", model="m")
    assert target(d) == ("anthropic", "m", "pool")
    engine.store.apply(StateChanges(cooldowns=[Cooldown("anthropic", T0 + timedelta(minutes=9), "t", T0)]))
    late = engine.fail(d.turn, provider="anthropic-2", status=429, message=RATE_LIMIT).to_dict()
    assert late["target"]["provider"] == "anthropic-3"
    assert [(s["provider"], s["reason"]) for s in late["skipped"]] == [("anthropic", "cooldown"),
                                                                       ("anthropic-2", "attempted")]


def test_retry_after_ignores_a_cooldown_that_ends_into_a_missing_model() -> None:
    engine = Engine.from_documents(
        {"presets": [{"name": "p", "entries": [{"provider": "anthropic", "model": "not-offered"}]}]},
        env={}, auth={"anthropic"}, clock=FakeClock(), models={"anthropic": ["claude-sonnet-4"]})
    engine.store.apply(StateChanges(cooldowns=[Cooldown("anthropic", T0 + timedelta(minutes=9), "t", T0)]))
    d = engine.select(preset="p")
    assert d.target is None and d.retry_after is None
    assert [s.reason for s in d.skipped] == ["cooldown"]


# --- cooldown length -----------------------------------------------------------------------------


def test_default_cooldown_is_five_minutes() -> None:
    engine = make()
    d = engine.fail(provider="anthropic", status=429, message=RATE_LIMIT)
    assert d.to_dict()["error"]["cooldownUntil"] == "2026-04-06T10:05:00+00:00"
    assert d.to_dict()["error"]["retryAfter"] is None


def test_settings_cooldown_changes_the_length() -> None:
    engine = make(policy(settings={"timezone": "UTC", "cooldown": "90s"}))
    engine.fail(provider="anthropic", status=429, message=RATE_LIMIT)
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(seconds=90)


def test_pool_cooldown_overrides_settings_cooldown() -> None:
    doc = policy(settings={"timezone": "UTC", "cooldown": "2m"})
    doc["pools"][0] = {**doc["pools"][0], "cooldown": "10m"}
    engine = make(doc)
    engine.fail(provider="anthropic", status=429, message=RATE_LIMIT)
    engine.fail(provider="openai-codex", status=429, message=RATE_LIMIT)
    engine.fail(provider="google-antigravity", status=429, message=RATE_LIMIT)  # in no pool
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=10)
    assert cooldown_until(engine, "openai-codex") == T0 + timedelta(minutes=2)
    assert cooldown_until(engine, "google-antigravity") == T0 + timedelta(minutes=2)


def test_a_longer_retry_after_extends_the_cooldown() -> None:
    engine = make()
    d = engine.fail(provider="anthropic", status=429, message=RATE_LIMIT, headers={"Retry-After": "900"})
    out = d.to_dict()
    assert out["error"]["retryAfter"] == "2026-04-06T10:15:00+00:00"
    assert out["error"]["cooldownUntil"] == "2026-04-06T10:15:00+00:00"
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=15)


def test_a_shorter_retry_after_does_not_shorten_the_pool_cooldown() -> None:
    engine = make()
    d = engine.fail(provider="anthropic", status=429, message=RATE_LIMIT, headers={"retry-after": "30"})
    out = d.to_dict()
    assert out["error"]["retryAfter"] == "2026-04-06T10:00:30+00:00"
    assert out["error"]["cooldownUntil"] == "2026-04-06T10:05:00+00:00"
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=5)


def test_a_new_cooldown_never_shortens_one_already_running() -> None:
    clock = FakeClock()
    engine = make(clock=clock)
    engine.fail(provider="anthropic", status=429, message=RATE_LIMIT, headers={"retry-after": "3600"})
    clock.advance(minutes=1)
    d = engine.fail(provider="anthropic", status=429, message=RATE_LIMIT)
    assert d.to_dict()["error"]["cooldownUntil"] == "2026-04-06T11:00:00+00:00"
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(hours=1)
    skip = engine.select("anthropic", model="m").to_dict()["skipped"][0]
    assert (skip["reason"], skip["until"]) == ("cooldown", "2026-04-06T11:00:00+00:00")


def test_the_latest_retry_moment_the_error_carries_wins() -> None:
    engine = make()
    d = engine.fail(provider="anthropic", status=429, message=RATE_LIMIT, headers={
        "retry-after": "60",
        "anthropic-ratelimit-tokens-remaining": "0",
        "anthropic-ratelimit-tokens-reset": "2026-04-06T10:12:00Z",
    })
    assert d.to_dict()["error"]["cooldownUntil"] == "2026-04-06T10:12:00+00:00"


def test_retry_time_from_the_message_text_sets_the_cooldown() -> None:
    engine = make()
    d = engine.fail(provider="openai-codex", status=429,
                    message="You have hit your ChatGPT usage limit (plus plan). Try again in ~42 min.")
    out = d.to_dict()
    assert out["error"]["kind"] == "quota_exhausted"
    assert out["error"]["cooldownUntil"] == "2026-04-06T10:42:00+00:00"


# --- rotateOn and errorRules ---------------------------------------------------------------------


def test_rotate_on_limits_which_kinds_rotate() -> None:
    engine = make(policy(settings={"timezone": "UTC", "rotateOn": ["rate_limit"]}))
    d = engine.select(pool="claude", model="m")
    out = engine.fail(d.turn, status=529, message='529 {"type":"error","error":{"type":"overloaded_error"}}')
    assert (out.error.kind, out.error.rotate) == ("overloaded", False)  # type: ignore[union-attr]
    assert target(out) == ("anthropic", "m", "current")
    assert engine.store.snapshot().cooldowns == {}
    assert target(engine.fail(d.turn, status=429, message=RATE_LIMIT)) == ("anthropic-2", "m", "pool")


def test_rotate_on_can_add_kinds() -> None:
    engine = make(policy(settings={"timezone": "UTC", "rotateOn": ["rate_limit", "auth"]}))
    d = engine.select(pool="claude", model="m")
    out = engine.fail(d.turn, status=401, message="401 authentication_error: OAuth token expired")
    assert (out.error.kind, out.error.rotate) == ("auth", True)  # type: ignore[union-attr]
    assert target(out) == ("anthropic-2", "m", "pool")


def test_a_project_can_change_rotate_on() -> None:
    engine = make(project={"settings": {"rotateOn": ["overloaded"]}})
    d = engine.select(pool="claude", model="m")
    out = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert out.error is not None and out.error.rotate is False


def test_error_rules_override_the_built_in_classification() -> None:
    plain = make().fail(provider="anthropic", status=400, message="400 please slow down, too busy")
    assert (plain.error.kind, plain.error.rotate) == ("other", False)  # type: ignore[union-attr]
    engine = make(policy(errorRules=[{"status": 400, "match": "slow down", "kind": "rate_limit"}]))
    d = engine.select(pool="claude", model="m")
    out = engine.fail(d.turn, status=400, message="400 please slow down, too busy")
    assert (out.error.kind, out.error.rotate) == ("rate_limit", True)  # type: ignore[union-attr]
    assert target(out) == ("anthropic-2", "m", "pool")
    assert cooldown_until(engine, "anthropic") == T0 + timedelta(minutes=5)


def test_error_rule_can_stop_rotation_of_a_rotating_kind() -> None:
    engine = make(policy(errorRules=[{"provider": "anthropic", "status": 429, "kind": "rate_limit",
                                      "rotate": False}]))
    d = engine.select(pool="claude", model="m")
    out = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    assert target(out) == ("anthropic", "m", "current")
    assert out.error is not None and out.error.rotate is False


def test_error_rule_retry_after_sets_the_cooldown() -> None:
    engine = make(policy(errorRules=[{"match": "come back later", "kind": "overloaded", "retryAfter": "20m"}]))
    out = engine.fail(provider="anthropic", status=400, message="come back later").to_dict()
    assert out["error"]["kind"] == "overloaded"
    assert out["error"]["cooldownUntil"] == "2026-04-06T10:20:00+00:00"


def test_error_rules_only_match_their_provider() -> None:
    engine = make(policy(errorRules=[{"provider": "openai-codex", "status": 400, "kind": "rate_limit"}]))
    assert engine.fail(provider="anthropic", status=400, message="x").error.rotate is False  # type: ignore[union-attr]
    assert engine.fail(provider="openai-codex-2", status=400, message="x").error.rotate is True  # type: ignore[union-attr]


# --- retryAfter after a failure --------------------------------------------------------------------


def test_retry_after_after_a_failure_is_the_earliest_cooldown_on_the_route() -> None:
    clock = FakeClock()
    engine = make(policy(chains=[]), clock=clock, auth={"anthropic", "anthropic-2"})
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT, headers={"retry-after": "1200"})  # until 10:20
    clock.advance(minutes=1)
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)  # until 10:06
    out = d.to_dict()
    assert out["target"] is None
    assert out["retryAfter"] == "2026-04-06T10:06:00+00:00"


def test_retry_after_considers_the_route_the_turn_started_with() -> None:
    # The turn started from the chain; its remaining route after gem is empty, but a new turn on
    # the chain could start at anthropic again when its cooldown ends.
    clock = FakeClock()
    engine = make(clock=clock, auth={"anthropic", "google-gemini-cli"})
    d = engine.select(chain="main")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT, headers={"retry-after": "120"})
    assert target(d) == ("google-gemini-cli", "gemini-2.5-pro", "chain")
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT, headers={"retry-after": "3600"})
    assert d.to_dict()["retryAfter"] == "2026-04-06T10:05:00+00:00"


# --- state stores ------------------------------------------------------------------------------


def _script(engine: Engine, clock: FakeClock) -> list[dict[str, Any]]:
    out = []
    d = engine.select(pool="claude", model="m")
    out.append(d.to_dict())
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT, headers={"retry-after": "400"})
    out.append(d.to_dict())
    clock.advance(minutes=2)
    d = engine.fail(d.turn, status=400, message="prompt is too long")
    out.append(d.to_dict())
    d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
    out.append(d.to_dict())
    engine.succeed(d.turn)
    out.append(engine.select(chain="main").to_dict())
    out.append(engine.select(preset="mix").to_dict())
    for item in out:
        item.pop("turn")
        item.pop("elapsedUs")
    return out


def test_sqlite_store_gives_the_same_decisions_as_memory(tmp_path: Path) -> None:
    memory_clock, sqlite_clock = FakeClock(), FakeClock()
    memory = make(clock=memory_clock)
    sqlite = make(clock=sqlite_clock, state="sqlite:///" + str(tmp_path / "s.db"))
    try:
        assert _script(memory, memory_clock) == _script(sqlite, sqlite_clock)
    finally:
        sqlite.close()


def test_sqlite_store_shares_turns_cooldowns_and_cursors_between_engines(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "s.db")
    clock = FakeClock()
    a = make(clock=clock, state=url)
    b = make(clock=clock, state=url)
    try:
        d = a.select(pool="claude", model="m")
        d = a.fail(d.turn, status=429, message=RATE_LIMIT)
        assert target(d) == ("anthropic-2", "m", "pool")
        # engine B continues engine A's turn from its place
        d = b.fail(d.turn, status=429, message=RATE_LIMIT)
        assert target(d) == ("anthropic-3", "m", "pool")
        assert [(s.provider, s.reason) for s in d.skipped] == [("anthropic", "attempted")]
        # and engine A sees B's cooldown and cursor
        assert cooldown_until(a, "anthropic-2") == T0 + timedelta(minutes=5)
        assert cursors(a)["claude"] == "anthropic-3"
        fresh = a.select(pool="claude", model="m")
        assert target(fresh) == ("anthropic-3", "m", "pool")
        assert [(s.provider, s.reason) for s in fresh.skipped] == [
            ("anthropic", "cooldown"), ("anthropic-2", "cooldown"),
        ]
    finally:
        a.close()
        b.close()


_OTHER_PROCESS = """
import json, sys
from datetime import datetime
from policy_engine.engine import Engine
doc, url, turn, now = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], datetime.fromisoformat(sys.argv[4])
auth = ["anthropic", "anthropic-2", "anthropic-3", "openai-codex", "openai-codex-2", "google-gemini-cli"]
with Engine.from_documents(doc, state=url, env={}, auth=auth, clock=lambda: now) as engine:
    print(json.dumps(engine.fail(turn, status=429, message="rate_limit_error").to_dict()))
"""


def test_a_turn_started_in_one_process_fails_over_in_another(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    url = "sqlite:///" + str(tmp_path / "s.db")
    clock = FakeClock()
    doc = policy()
    with make(doc, clock=clock, state=url) as engine:
        d = engine.select(pool="claude", model="m")
        d = engine.fail(d.turn, status=429, message=RATE_LIMIT)
        assert target(d) == ("anthropic-2", "m", "pool")
        done = subprocess.run([sys.executable, "-c", _OTHER_PROCESS, json.dumps(doc), url, d.turn,
                               (T0 + timedelta(seconds=30)).isoformat()],
                              capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["target"]["provider"] == "anthropic-3"
        assert out["turn"] == d.turn
        assert cooldown_until(engine, "anthropic-2") == T0 + timedelta(minutes=5, seconds=30)
        assert cursors(engine)["claude"] == "anthropic-3"


def test_sqlite_state_survives_a_new_engine_on_the_same_file(tmp_path: Path) -> None:
    url = "sqlite:///" + str(tmp_path / "s.db")
    clock = FakeClock()
    with make(clock=clock, state=url) as first:
        d = first.select(pool="claude", model="m")
        d = first.fail(d.turn, status=429, message=RATE_LIMIT)
        turn = d.turn
    with make(clock=clock, state=url) as second:
        assert cursors(second) == {"claude": "anthropic-2"}
        assert target(second.fail(turn, status=429, message=RATE_LIMIT)) == ("anthropic-3", "m", "pool")


def test_a_read_only_sqlite_engine_never_creates_the_file(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(
        "settings: {timezone: UTC}\n"
        "subscriptions: [{provider: anthropic, index: 2}]\n"
        "pools: [{name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2]}]\n",
        encoding="utf-8",
    )
    db = tmp_path / "state" / "s.db"
    engine = Engine.load(agent_dir=agent, project=tmp_path / "none", state="sqlite:///" + str(db), env={},
                         auth={"anthropic", "anthropic-2"}, clock=FakeClock(), readonly=True)
    try:
        d = engine.select(pool="claude", model="m", dry_run=True)
        assert target(d) == ("anthropic", "m", "pool")
        d = engine.fail(provider="anthropic", model="m", status=429, message=RATE_LIMIT, dry_run=True)
        assert target(d) == ("anthropic-2", "m", "pool")
        with pytest.raises(StateReadOnlyError):
            engine.select(pool="claude", model="m")
        assert not db.exists()
        assert not db.parent.exists() or not any(db.parent.iterdir())
    finally:
        engine.close()
    assert not db.exists()


def test_the_default_store_is_a_sqlite_file_in_the_agent_directory(tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text("pools: [{name: p, baseProvider: anthropic, members: [anthropic]}]\n",
                                           encoding="utf-8")
    with Engine.load(agent_dir=agent, project=tmp_path / "none", env={}, auth={"anthropic"},
                     clock=FakeClock()) as engine:
        engine.fail(provider="anthropic", status=429, message=RATE_LIMIT)
    files = [p.name for p in agent.iterdir()]
    assert any(name.endswith(".db") for name in files)


# --- asyncio -------------------------------------------------------------------------------------


def test_async_engine_runs_select_fail_and_succeed_under_asyncio() -> None:
    async def main() -> list[tuple[str, str | None, str | None] | None]:
        engine = AsyncEngine(make())
        d = await engine.select(pool="claude", model="m")
        first = target(d)
        d = await engine.fail(d.turn, status=429, message=RATE_LIMIT)
        second = target(d)
        await engine.succeed(d.turn)
        results = await asyncio.gather(*(engine.select(pool="claude", model="m", dry_run=True) for _ in range(5)))
        return [first, second, *{target(r) for r in results}]

    assert asyncio.run(main()) == [("anthropic", "m", "pool"), ("anthropic-2", "m", "pool"),
                                   ("anthropic-2", "m", "pool")]


def test_a_turn_started_without_a_model_fails_over_twice() -> None:
    """select(pool=...) without a model, then two failures: the stored route must reload."""
    engine = Engine.from_documents(
        {"subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
         "pools": [{"name": "p", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-3"]}]},
        auth={"anthropic", "anthropic-2", "anthropic-3"},
    )
    d = engine.select(pool="p")
    assert d.target is not None and d.target.provider == "anthropic" and d.target.model is None
    d = engine.fail(d.turn, status=429)
    assert d.target is not None and d.target.provider == "anthropic-2"
    d = engine.fail(d.turn, status=429)
    assert d.target is not None and d.target.provider == "anthropic-3"


# -- found in review: DST arithmetic, never going back, allow-list edges ------------------------

VIENNA_POOL = {
    "settings": {"timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "anthropic", "index": 2}],
    "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
               "cooldown": "5m"}],
}


def test_a_cooldown_lasts_real_minutes_across_the_autumn_clock_change() -> None:
    """02:50+01:00 on 2026-10-25 is the second 02:50 in Vienna; 5 minutes later is 02:55+01:00."""
    from datetime import timezone as tz

    moment = datetime(2026, 10, 25, 2, 50, tzinfo=tz(timedelta(hours=1)))
    engine = Engine.from_documents(VIENNA_POOL, auth={"anthropic", "anthropic-2"}, clock=lambda: moment)
    d = engine.select(pool="claude", model="m")
    d = engine.fail(d.turn, status=429, headers={"retry-after": "60"})
    assert d.error is not None and d.error.cooldown_until is not None
    assert d.error.cooldown_until.timestamp() - moment.timestamp() == 300
    assert d.error.retry_after is not None and d.error.retry_after.timestamp() - moment.timestamp() == 60
    out = d.to_dict()
    assert out["error"]["cooldownUntil"] == "2026-10-25T02:55:00+01:00"
    later = Engine.from_documents(VIENNA_POOL, auth={"anthropic", "anthropic-2"},
                                  clock=lambda: moment + timedelta(minutes=1), state=engine.store)
    assert later.select("anthropic", model="m").to_dict()["skipped"][0]["reason"] == "cooldown"


def test_a_spring_cooldown_is_not_shortened_by_the_missing_hour() -> None:
    moment = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)  # 01:30 CET, the clocks jump at 02:00
    doc = {**VIENNA_POOL, "pools": [{**VIENNA_POOL["pools"][0], "cooldown": "2h"}]}
    engine = Engine.from_documents(doc, auth={"anthropic", "anthropic-2"}, clock=lambda: moment)
    d = engine.fail(provider="anthropic", status=429)
    assert d.error is not None and d.error.cooldown_until is not None
    assert d.error.cooldown_until.timestamp() - moment.timestamp() == 7200


def test_a_late_failure_after_the_turn_ran_out_does_not_restart_it() -> None:
    clock = FakeClock(datetime(2026, 4, 6, 10, 0, tzinfo=UTC))
    doc = {
        "subscriptions": [{"provider": "anthropic", "index": 2}],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
                   "cooldown": "1m"},
                  {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"], "cooldown": "1m"}],
        "chains": [{"name": "main", "entries": [{"pool": "claude", "model": "cs"},
                                                {"pool": "codex", "model": "gpt-5"}]}],
    }
    engine = Engine.from_documents(doc, auth={"anthropic", "anthropic-2", "openai-codex"}, clock=clock)
    engine.store.apply(StateChanges(cooldowns=[Cooldown("anthropic-2", clock.at + timedelta(seconds=90),
                                                        "given", clock.at)]))
    d = engine.select(chain="main")
    d = engine.fail(d.turn, status=429)
    assert d.target is not None and d.target.provider == "openai-codex"
    d = engine.fail(d.turn, status=429)
    assert d.target is None
    clock.advance(minutes=2)
    d = engine.fail(d.turn, provider="anthropic", status=429)
    assert d.target is None  # anthropic-2 is free again, but entry 0 lies behind the turn


def test_a_window_that_never_opens_again_has_until_null() -> None:
    doc = {
        "subscriptions": [{"provider": "anthropic", "index": 2}],
        "pools": [{"name": "p", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
                   "strategy": "scheduled", "memberSchedule": {
                       "anthropic": {"role": "preferred",
                                     "windows": [{"hours": [9, 17], "dateRange": {"to": "2025-12-31"}}]}}}],
    }
    engine = Engine.from_documents(doc, auth={"anthropic", "anthropic-2"},
                                   clock=lambda: datetime(2026, 4, 6, 10, 0, tzinfo=UTC))
    skipped = engine.select(pool="p", model="m").to_dict()["skipped"]
    assert skipped == [{"provider": "anthropic", "pool": "p", "chain": None, "preset": None, "entry": None,
                        "reason": "outside-window", "detail": "a preferred member outside its windows",
                        "until": None}]


def test_a_preset_entry_the_project_does_not_allow_is_served_by_its_allowed_siblings() -> None:
    doc = {
        "subscriptions": [{"provider": "anthropic", "index": 2}],
        "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"]}],
        "presets": [{"name": "p", "entries": [{"provider": "anthropic", "model": "cs"},
                                              {"provider": "openai-codex", "model": "gpt-5"}]}],
    }
    engine = Engine.from_documents(doc, {"allowedSubs": ["anthropic-2", "openai-codex"]},
                                   auth={"anthropic", "anthropic-2", "openai-codex"})
    d = engine.select(preset="p").to_dict()
    # DESIGN §4 "Project allow-list": the entry's provider is skipped, its allowed sibling serves the entry.
    assert d["target"] == {"provider": "anthropic-2", "model": "cs", "pool": "claude", "chain": None,
                           "preset": "p", "entry": 0, "via": "pool"}
    assert {"provider": "anthropic", "entry": 0, "reason": "not-allowed"}.items() <= d["skipped"][0].items()
    assert [(c["provider"], c["entry"]) for c in d["candidates"]] == [("anthropic-2", 0), ("openai-codex", 1)]


def test_a_pool_the_allow_list_emptied_is_reported_not_allowed() -> None:
    doc = {"pools": [{"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"]}]}
    engine = Engine.from_documents(doc, {"allowedSubs": ["anthropic"]}, auth={"openai-codex", "anthropic"})
    d = engine.select(pool="codex").to_dict()
    assert d["target"] is None and d["retryAfter"] is None
    assert d["skipped"][0]["pool"] == "codex" and d["skipped"][0]["reason"] == "not-allowed"


def test_a_float_clock_is_a_clear_type_error() -> None:
    import time

    with pytest.raises(TypeError, match=r"^clock must be a callable returning an aware datetime, got float 12\.5"):
        Engine.from_documents({}, clock=12.5)  # type: ignore[arg-type]
    engine = Engine.from_documents({}, clock=time.time)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^the engine's clock returned float .*; it must return a datetime, "
                                        r"preferably an aware one \(epoch seconds\? use datetime\.fromtimestamp"):
        engine.select(provider="anthropic")

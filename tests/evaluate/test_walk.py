"""Walking a route against a state snapshot (DESIGN §4): eligibility, strategies, candidates, retryAfter.

Every test builds an engine with ``Engine.from_documents`` and a fake clock and checks the
Decision JSON (``to_dict()``) of a ``select``: the eligibility reasons in their normative order,
``via`` / model / ``entry`` of targets and candidates, the strategy entries, the ``scheduled`` and
``quota-first`` orders, and ``retryAfter`` when there is no target.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.engine import Engine
from policy_engine.providers.auth import StaticAuth
from policy_engine.state import Cooldown, QuotaSnapshot, StateChanges

T0 = datetime(2026, 4, 6, 10, 30, tzinfo=UTC)  # a Monday


class FakeClock:
    """A settable clock returning an aware datetime."""

    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        """Move the clock forward."""
        self.at += timedelta(**delta)


SUBS: list[dict[str, Any]] = (
    [{"provider": "anthropic", "index": i} for i in (2, 3, 4)]
    + [{"provider": "openai-codex", "index": i} for i in (2, 3, 4, 5, 6)]
)
CLAUDE = ["anthropic", "anthropic-2", "anthropic-3", "anthropic-4"]
CODEX = ["openai-codex", "openai-codex-2", "openai-codex-3", "openai-codex-4", "openai-codex-5", "openai-codex-6"]
EVERYONE = frozenset([*CLAUDE, *CODEX, "google-gemini-cli", "google-antigravity", "github-copilot"])


def policy(**extra: Any) -> dict[str, Any]:
    """A base policy (UTC) with two pools and a chain; keyword arguments replace sections."""
    doc: dict[str, Any] = {
        "settings": {"timezone": "UTC"},
        "subscriptions": SUBS,
        "pools": [
            {"name": "claude", "baseProvider": "anthropic", "members": CLAUDE[:3]},
            {"name": "codex", "baseProvider": "openai-codex", "members": CODEX[:2]},
            {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]},
        ],
        "chains": [{"name": "main", "entries": [
            {"pool": "claude", "model": "sonnet"},
            {"pool": "codex", "model": "gpt-5"},
            {"pool": "gem", "model": "gemini-2.5-pro"},
        ]}],
        "presets": [{"name": "mixed", "entries": [
            {"provider": "anthropic-2", "model": "opus"},
            {"provider": "google-antigravity", "model": "gemini-3"},
            {"provider": "openai-codex", "model": "gpt-5"},
        ]}],
    }
    doc.update(extra)
    return doc


def make(
    doc: Mapping[str, Any] | None = None,
    *,
    project: Mapping[str, Any] | None = None,
    auth: Iterable[str] = EVERYONE,
    clock: FakeClock | None = None,
    models: Mapping[str, list[str]] | None = None,
    env: Mapping[str, str] | None = None,
) -> Engine:
    """An in-memory engine with a fake clock."""
    return Engine.from_documents(doc or policy(), project, state="memory://", env=env or {}, auth=auth,
                                 clock=clock or FakeClock(), models=models)


def cool(engine: Engine, provider: str, until: datetime, since: datetime = T0) -> None:
    """Put ``provider`` in cooldown in the engine's store."""
    engine.store.apply(StateChanges(cooldowns=[Cooldown(provider, until, "test", since, "test")]))


def quota(engine: Engine, **remaining: float) -> None:
    """Store quota snapshots (keyword names use ``_`` for ``-``)."""
    snaps = [QuotaSnapshot(name.replace("_", "-"), value, T0, "test") for name, value in remaining.items()]
    engine.store.apply(StateChanges(quota=snaps))


def skips(decision: Mapping[str, Any]) -> list[tuple[str | None, str]]:
    """(provider, reason) of each skip, in order."""
    return [(s["provider"], s["reason"]) for s in decision["skipped"]]


def providers(decision: Mapping[str, Any]) -> list[str]:
    """Providers of the candidates, in order."""
    return [c["provider"] for c in decision["candidates"]]


# --- eligibility reasons ----------------------------------------------------------------------


def test_every_eligible_provider_is_a_candidate_and_the_first_is_the_target() -> None:
    d = make().select(pool="claude", model="sonnet").to_dict()
    assert d["target"] == {"provider": "anthropic", "model": "sonnet", "pool": "claude", "chain": None,
                           "preset": None, "entry": None, "via": "pool"}
    assert providers(d) == ["anthropic", "anthropic-2", "anthropic-3", "openai-codex", "openai-codex-2",
                            "google-gemini-cli"]
    assert d["skipped"] == []
    assert d["retryAfter"] is None


def test_unknown_member_is_skipped_as_unknown() -> None:
    doc = policy(pools=[{"name": "p", "baseProvider": "anthropic", "members": ["anthropic-9", "anthropic"]}],
                 chains=[], presets=[])
    d = make(doc, auth=EVERYONE | {"anthropic-9"}).select(pool="p", model="m").to_dict()
    assert skips(d) == [("anthropic-9", "unknown")]
    assert d["target"]["provider"] == "anthropic"


def test_unknown_named_provider_is_skipped_as_unknown() -> None:
    d = make().select("openai-codex-7", model="m").to_dict()
    assert d["target"] is None
    assert skips(d) == [("openai-codex-7", "unknown")]
    assert "not a known account" in d["skipped"][0]["detail"]


def test_not_allowed_member_is_skipped_as_not_allowed() -> None:
    d = make(project={"allowedSubs": ["anthropic-2", "anthropic-3"]}).select("anthropic", model="s").to_dict()
    assert skips(d)[0] == ("anthropic", "not-allowed")
    assert d["target"]["provider"] == "anthropic-2"
    assert d["target"]["via"] == "pool"


def test_member_without_credentials_is_skipped_as_no_auth() -> None:
    d = make(auth=EVERYONE - {"anthropic"}).select(pool="claude", model="s").to_dict()
    assert skips(d) == [("anthropic", "no-auth")]
    assert "until" not in d["skipped"][0]
    assert d["target"]["provider"] == "anthropic-2"


def test_member_cooling_down_is_skipped_with_until() -> None:
    clock = FakeClock()
    engine = make(clock=clock, doc=policy(settings={"timezone": "Europe/Vienna"}))
    cool(engine, "anthropic", T0 + timedelta(minutes=3))
    d = engine.select(pool="claude", model="s").to_dict()
    (skip,) = d["skipped"]
    assert (skip["provider"], skip["reason"], skip["pool"]) == ("anthropic", "cooldown", "claude")
    assert skip["until"] == "2026-04-06T12:33:00+02:00"
    assert d["target"]["provider"] == "anthropic-2"


def test_expired_cooldown_no_longer_skips() -> None:
    clock = FakeClock()
    engine = make(clock=clock)
    cool(engine, "anthropic", T0 + timedelta(minutes=3))
    clock.advance(minutes=3)
    assert engine.select(pool="claude", model="s").to_dict()["target"]["provider"] == "anthropic"


def test_model_missing_from_the_catalogue_is_skipped_as_no_model() -> None:
    engine = make(models={"anthropic": ["sonnet"], "openai-codex": ["gpt-5"]})
    d = engine.select("anthropic", model="gpt-5").to_dict()
    assert skips(d)[:3] == [("anthropic", "no-model"), ("anthropic-2", "no-model"), ("anthropic-3", "no-model")]
    assert d["target"]["provider"] == "openai-codex"
    assert d["target"]["model"] == "gpt-5"


def test_no_catalogue_means_no_no_model_skips() -> None:
    d = make(models={"openai-codex": ["gpt-5"]}).select("anthropic", model="anything").to_dict()
    assert d["target"]["provider"] == "anthropic"
    assert d["skipped"] == []


def test_disabled_chain_entry_and_pool_are_skipped_as_disabled() -> None:
    doc = policy(
        pools=[
            {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"]},
            {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"], "enabled": False},
            {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]},
        ],
        chains=[{"name": "main", "entries": [
            {"pool": "claude", "model": "s", "enabled": False},
            {"pool": "codex", "model": "g"},
            {"pool": "gem", "model": "p"},
        ]}],
    )
    d = make(doc).select(chain="main").to_dict()
    assert [(s["reason"], s["entry"], s["pool"]) for s in d["skipped"]] == [
        ("disabled", 0, "claude"), ("disabled", 1, "codex"),
    ]
    assert d["target"]["entry"] == 2


@pytest.mark.parametrize(
    ("request_", "doc_patch"),
    [
        ({"pool": "claude", "model": "s"},
         {"pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"], "enabled": False}],
          "chains": []}),
        ({"chain": "main"}, {"chains": [{"name": "main", "enabled": False,
                                         "entries": [{"pool": "claude", "model": "s"}]}]}),
        ({"preset": "mixed"}, {"presets": [{"name": "mixed", "enabled": False,
                                            "entries": [{"provider": "anthropic", "model": "s"}]}]}),
    ],
    ids=["pool", "chain", "preset"],
)
def test_a_disabled_pool_chain_or_preset_named_by_a_request_gives_no_target(
    request_: dict[str, str], doc_patch: dict[str, Any]
) -> None:
    d = make(policy(**doc_patch)).select(**request_).to_dict()
    assert d["target"] is None
    assert d["candidates"] == []
    assert [s["reason"] for s in d["skipped"]] == ["disabled"]
    assert d["retryAfter"] is None


def test_skips_of_one_route_come_in_route_order_with_their_reasons() -> None:
    clock = FakeClock()
    engine = make(
        clock=clock, auth=EVERYONE - {"anthropic-2"}, project={"allowedSubs": CLAUDE[1:] + CODEX[:2]},
        models={"google-gemini-cli": ["gemini-2.5-pro"], "openai-codex": ["gpt-5"]},
    )
    cool(engine, "anthropic-3", T0 + timedelta(minutes=1))
    cool(engine, "openai-codex", T0 + timedelta(minutes=2))
    cool(engine, "openai-codex-2", T0 + timedelta(minutes=2))
    d = engine.select(chain="main").to_dict()
    # the allow-list removed anthropic from the pool (no skip for it) and dropped gem's chain entry
    assert skips(d) == [
        ("anthropic-2", "no-auth"), ("anthropic-3", "cooldown"),
        ("openai-codex", "cooldown"), ("openai-codex-2", "cooldown"),
    ]
    assert d["target"] is None
    assert d["retryAfter"] == "2026-04-06T10:31:00+00:00"


# --- eligibility order: the first failing check names the reason --------------------------------


def test_unknown_wins_over_not_allowed() -> None:
    d = make(project={"allowedSubs": ["anthropic"]}).select("anthropic-9", model="m").to_dict()
    assert skips(d) == [("anthropic-9", "unknown")]


def test_allow_list_removes_members_from_pools_instead_of_skipping_them() -> None:
    d = make(project={"allowedSubs": ["anthropic-2", "anthropic"]}).select(pool="claude", model="m").to_dict()
    assert providers(d) == ["anthropic", "anthropic-2"]
    assert d["skipped"] == []


def test_not_allowed_wins_over_no_auth_and_cooldown() -> None:
    engine = make(auth=EVERYONE - {"anthropic"}, project={"allowedSubs": ["anthropic-2"]})
    cool(engine, "anthropic", T0 + timedelta(hours=1))
    d = engine.select("anthropic", model="s").to_dict()
    assert skips(d)[0] == ("anthropic", "not-allowed")


def test_attempted_wins_over_no_auth_and_cooldown() -> None:
    doc = policy(pools=[{"name": "p", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"]}],
                 chains=[])
    engine = make(doc, auth={"anthropic", "anthropic-2"})
    d = engine.select(pool="p", model="m")
    d = engine.fail(d.turn, status=429, message="rate_limit_error")
    assert d.target is not None and d.target.provider == "anthropic-2"
    engine.auth = StaticAuth(frozenset({"anthropic-2"}))  # anthropic: attempted, cooling down, logged out
    out = engine.fail(d.turn, status=429, message="rate_limit_error").to_dict()
    assert skips(out) == [("anthropic", "attempted")]


def test_no_auth_wins_over_cooldown() -> None:
    engine = make(auth=EVERYONE - {"anthropic"})
    cool(engine, "anthropic", T0 + timedelta(hours=1))
    d = engine.select("anthropic", model="s").to_dict()
    assert d["skipped"][0]["reason"] == "no-auth"
    assert "until" not in d["skipped"][0]


def test_cooldown_wins_over_no_model() -> None:
    engine = make(models={"anthropic": ["sonnet"]})
    cool(engine, "anthropic", T0 + timedelta(hours=1))
    d = engine.select("anthropic", model="gpt-5").to_dict()
    assert skips(d)[:2] == [("anthropic", "cooldown"), ("anthropic-2", "no-model")]


def test_no_model_wins_over_outside_window() -> None:
    doc = policy(pools=[{
        "name": "p", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"], "strategy": "scheduled",
        "memberSchedule": {"anthropic": {"role": "preferred", "windows": [{"hours": [20, 22]}]}},
    }], chains=[])
    d = make(doc, models={"anthropic": ["sonnet"]}).select(pool="p", model="opus").to_dict()
    assert skips(d) == [("anthropic", "no-model"), ("anthropic-2", "no-model")]


# --- via, model and entry ------------------------------------------------------------------------


def test_provider_request_targets_carry_via_current_pool_and_chain() -> None:
    d = make().select("anthropic-2", model="sonnet-x").to_dict()
    got = [(c["provider"], c["model"], c["pool"], c["via"], c["chain"], c["entry"]) for c in d["candidates"]]
    assert got == [
        ("anthropic-2", "sonnet-x", "claude", "current", None, None),
        ("anthropic-3", "sonnet-x", "claude", "pool", None, None),
        ("anthropic", "sonnet-x", "claude", "pool", None, None),
        ("openai-codex", "gpt-5", "codex", "chain", "main", 1),
        ("openai-codex-2", "gpt-5", "codex", "chain", "main", 1),
        ("google-gemini-cli", "gemini-2.5-pro", "gem", "chain", "main", 2),
    ]


def test_pool_request_members_are_via_pool_with_the_request_model() -> None:
    d = make().select(pool="codex", model="gpt-5-mini").to_dict()
    got = [(c["provider"], c["model"], c["via"], c["entry"]) for c in d["candidates"]]
    assert got == [
        ("openai-codex", "gpt-5-mini", "pool", None),
        ("openai-codex-2", "gpt-5-mini", "pool", None),
        ("google-gemini-cli", "gemini-2.5-pro", "chain", 2),
    ]


def test_chain_request_targets_take_each_entry_model() -> None:
    d = make().select(chain="main", model="ignored").to_dict()
    assert d["target"] == {"provider": "anthropic", "model": "sonnet", "pool": "claude", "chain": "main",
                           "preset": None, "entry": 0, "via": "chain"}
    assert {c["model"] for c in d["candidates"]} == {"sonnet", "gpt-5", "gemini-2.5-pro"}
    assert all(c["via"] == "chain" for c in d["candidates"])


def test_preset_request_entry_provider_is_via_preset_and_its_siblings_via_pool() -> None:
    d = make().select(preset="mixed").to_dict()
    got = [(c["provider"], c["model"], c["pool"], c["via"], c["preset"], c["entry"]) for c in d["candidates"]]
    assert got == [
        ("anthropic-2", "opus", "claude", "preset", "mixed", 0),
        ("anthropic-3", "opus", "claude", "pool", "mixed", 0),
        ("anthropic", "opus", "claude", "pool", "mixed", 0),
        ("google-antigravity", "gemini-3", None, "preset", "mixed", 1),
        ("openai-codex", "gpt-5", "codex", "preset", "mixed", 2),
        ("openai-codex-2", "gpt-5", "codex", "pool", "mixed", 2),
    ]


def test_preset_entry_whose_provider_is_not_allowed_is_skipped_with_its_entry_index() -> None:
    d = make(project={"allowedSubs": ["openai-codex", "google-antigravity"]}).select(preset="mixed").to_dict()
    assert {"provider": "anthropic-2", "entry": 0, "reason": "not-allowed"}.items() <= d["skipped"][0].items()
    assert d["target"]["provider"] == "google-antigravity"
    assert d["target"]["entry"] == 1


def test_chain_entries_keep_their_written_index_when_the_allow_list_drops_earlier_ones() -> None:
    d = make(project={"allowedSubs": ["anthropic", "google-gemini-cli"]}).select("anthropic", model="s").to_dict()
    assert [(c["provider"], c["entry"]) for c in d["candidates"]] == [("anthropic", None), ("google-gemini-cli", 2)]


# --- candidates ----------------------------------------------------------------------------------


def test_candidates_never_repeat_a_target() -> None:
    doc = policy(presets=[{"name": "twice", "entries": [
        {"provider": "anthropic", "model": "m"},
        {"provider": "anthropic-2", "model": "m"},
        {"provider": "anthropic", "model": "m"},
    ]}])
    d = make(doc).select(preset="twice").to_dict()
    assert providers(d) == ["anthropic", "anthropic-2", "anthropic-3"]
    assert [c["entry"] for c in d["candidates"]] == [0, 0, 0]


def test_candidates_exclude_ineligible_targets_and_keep_route_order() -> None:
    engine = make(auth=EVERYONE - {"anthropic-3", "openai-codex"})
    cool(engine, "anthropic", T0 + timedelta(minutes=1))
    d = engine.select(chain="main").to_dict()
    assert providers(d) == ["anthropic-2", "openai-codex-2", "google-gemini-cli"]
    assert d["target"]["provider"] == d["candidates"][0]["provider"]


# --- strategy entries ----------------------------------------------------------------------------


def test_one_strategy_entry_per_pool_ordered_on_the_route() -> None:
    d = make().select(chain="main").to_dict()
    assert [(s["pool"], s["name"], s["fallback"]) for s in d["strategy"]] == [
        ("claude", "round-robin", False), ("codex", "round-robin", False), ("gem", "round-robin", False),
    ]


def test_a_pool_without_eligible_members_has_no_strategy_entry() -> None:
    d = make(auth=EVERYONE - set(CLAUDE)).select(chain="main").to_dict()
    assert [s["pool"] for s in d["strategy"]] == ["codex", "gem"]


# --- round-robin at select ----------------------------------------------------------------------


def test_pool_request_starts_at_the_cursor() -> None:
    engine = make()
    engine.store.apply(StateChanges(cursors={"claude": "anthropic-3"}))
    d = engine.select(pool="claude", model="s").to_dict()
    assert providers(d)[:3] == ["anthropic-3", "anthropic", "anthropic-2"]


def test_chain_entry_pool_starts_at_its_cursor() -> None:
    engine = make(auth=EVERYONE - set(CLAUDE))
    engine.store.apply(StateChanges(cursors={"codex": "openai-codex-2"}))
    d = engine.select(chain="main").to_dict()
    assert d["target"]["provider"] == "openai-codex-2"
    assert providers(d)[:2] == ["openai-codex-2", "openai-codex"]


def test_named_provider_siblings_follow_it_in_rotation_order_ignoring_the_cursor() -> None:
    engine = make()
    engine.store.apply(StateChanges(cursors={"claude": "anthropic-3"}))
    d = engine.select("anthropic-2", model="s").to_dict()
    assert providers(d)[:3] == ["anthropic-2", "anthropic-3", "anthropic"]


def test_cursor_on_a_member_the_allow_list_removed_continues_after_it() -> None:
    engine = make(project={"allowedSubs": ["anthropic", "anthropic-3"]})
    engine.store.apply(StateChanges(cursors={"claude": "anthropic-2"}))
    d = engine.select(pool="claude", model="s").to_dict()
    assert providers(d)[:2] == ["anthropic-3", "anthropic"]


# --- quota-first ---------------------------------------------------------------------------------

QUOTA_POOL = {"name": "q", "baseProvider": "openai-codex", "members": CODEX, "strategy": "quota-first"}


def test_quota_first_orders_by_remaining_then_unknown_then_blocked() -> None:
    engine = make(policy(pools=[QUOTA_POOL], chains=[]))
    quota(engine, openai_codex=40, openai_codex_3=80, openai_codex_4=3, openai_codex_5=5, openai_codex_6=40)
    d = engine.select(pool="q", model="gpt-5").to_dict()
    assert providers(d) == ["openai-codex-3", "openai-codex", "openai-codex-6", "openai-codex-2",
                            "openai-codex-5", "openai-codex-4"]
    (entry,) = d["strategy"]
    assert (entry["pool"], entry["name"], entry["fallback"]) == ("q", "quota-first", False)
    assert entry["note"]


def test_quota_first_ties_keep_rotation_order_from_the_cursor() -> None:
    engine = make(policy(pools=[QUOTA_POOL], chains=[]))
    engine.store.apply(StateChanges(cursors={"q": "openai-codex-4"}))
    quota(engine, openai_codex=50, openai_codex_2=50, openai_codex_5=50)
    d = engine.select(pool="q", model="gpt-5").to_dict()
    assert providers(d)[:3] == ["openai-codex-5", "openai-codex", "openai-codex-2"]


def test_quota_first_without_any_snapshot_falls_back_to_rotation_order() -> None:
    engine = make(policy(pools=[QUOTA_POOL], chains=[]))
    d = engine.select(pool="q", model="gpt-5").to_dict()
    assert providers(d) == CODEX
    assert d["strategy"][0]["fallback"] is True


def test_quota_first_fallback_only_looks_at_eligible_members() -> None:
    engine = make(policy(pools=[QUOTA_POOL], chains=[]), auth=EVERYONE - {"openai-codex-3"})
    quota(engine, openai_codex_3=90)  # the only snapshot belongs to a member that is not eligible
    d = engine.select(pool="q", model="gpt-5").to_dict()
    assert d["strategy"][0]["fallback"] is True
    assert providers(d) == [m for m in CODEX if m != "openai-codex-3"]


def test_quota_first_blocked_member_is_still_a_candidate_after_the_others() -> None:
    engine = make(policy(pools=[{**QUOTA_POOL, "members": CODEX[:2]}], chains=[]))
    quota(engine, openai_codex=1, openai_codex_2=2)
    d = engine.select(pool="q", model="gpt-5").to_dict()
    assert providers(d) == ["openai-codex-2", "openai-codex"]


# --- scheduled -----------------------------------------------------------------------------------


def scheduled_pool(schedule: dict[str, Any], members: list[str] = CODEX) -> dict[str, Any]:
    """A scheduled codex pool."""
    return {"name": "s", "baseProvider": "openai-codex", "members": members, "strategy": "scheduled",
            "memberSchedule": schedule}


def test_scheduled_orders_closing_soonest_then_always_preferred_then_default_then_overflow() -> None:
    schedule = {
        "openai-codex": {"role": "preferred", "windows": [{"hours": [9, 17]}]},     # closes 17:00
        "openai-codex-2": {"role": "overflow"},
        "openai-codex-3": {"role": "preferred"},                                     # always, never closes
        "openai-codex-4": {"role": "preferred", "windows": [{"hours": [8, 12]}]},   # closes 12:00
        "openai-codex-5": {"role": "preferred", "windows": [{"hours": [13, 15]}]},  # closed until 13:00
        # openai-codex-6: no schedule -> default
    }
    d = make(policy(pools=[scheduled_pool(schedule)], chains=[])).select(pool="s", model="gpt-5").to_dict()
    assert providers(d) == ["openai-codex-4", "openai-codex", "openai-codex-3", "openai-codex-6",
                            "openai-codex-2"]
    (skip,) = d["skipped"]
    assert (skip["provider"], skip["reason"], skip["until"]) == (
        "openai-codex-5", "outside-window", "2026-04-06T13:00:00+00:00")
    assert d["strategy"][0]["name"] == "scheduled"
    assert d["strategy"][0]["fallback"] is False


def test_scheduled_uses_the_end_of_the_contiguous_active_time_across_windows() -> None:
    schedule = {
        "openai-codex": {"role": "preferred", "windows": [{"hours": [9, 12]}, {"hours": [12, 18]}]},  # 18:00
        "openai-codex-2": {"role": "preferred", "windows": [{"hours": [10, 17]}]},                   # 17:00
    }
    pool = scheduled_pool(schedule, CODEX[:2])
    d = make(policy(pools=[pool], chains=[])).select(pool="s", model="gpt-5").to_dict()
    assert providers(d) == ["openai-codex-2", "openai-codex"]


def test_scheduled_explicit_default_role_and_empty_windows() -> None:
    schedule = {
        "openai-codex": {"role": "default"},
        "openai-codex-2": {"role": "preferred", "windows": []},
    }
    d = make(policy(pools=[scheduled_pool(schedule, CODEX[:2])], chains=[])).select(pool="s", model="g").to_dict()
    assert providers(d) == ["openai-codex-2", "openai-codex"]


def test_scheduled_groups_keep_rotation_order_from_the_cursor() -> None:
    schedule = {m: {"role": "overflow"} for m in CODEX[:3]}
    engine = make(policy(pools=[scheduled_pool(schedule, CODEX[:3])], chains=[]))
    engine.store.apply(StateChanges(cursors={"s": "openai-codex-2"}))
    d = engine.select(pool="s", model="g").to_dict()
    assert providers(d) == ["openai-codex-2", "openai-codex-3", "openai-codex"]


def test_scheduled_windows_follow_the_policy_time_zone() -> None:
    # 10:30 UTC is 12:30 in Vienna (CEST): a [12, 13] Vienna window is open and closes at 13:00 local.
    schedule = {"openai-codex-2": {"role": "preferred", "windows": [{"hours": [12, 13]}]}}
    doc = policy(settings={"timezone": "Europe/Vienna"}, pools=[scheduled_pool(schedule, CODEX[:2])], chains=[])
    d = make(doc).select(pool="s", model="g").to_dict()
    assert providers(d) == ["openai-codex-2", "openai-codex"]
    assert d["strategy"][0]["note"].startswith("openai-codex-2 preferred until Mon 2026-04-06 13:00")


def test_scheduled_pool_time_zone_overrides_the_policy_time_zone() -> None:
    schedule = {"openai-codex-2": {"role": "preferred", "windows": [{"hours": [12, 13]}]}}
    pool = {**scheduled_pool(schedule, CODEX[:2]), "timezone": "Asia/Tokyo"}  # 19:30 in Tokyo: closed
    d = make(policy(settings={"timezone": "Europe/Vienna"}, pools=[pool], chains=[])).select(
        pool="s", model="g").to_dict()
    assert providers(d) == ["openai-codex"]
    # opens 12:00 Tokyo the next day = 05:00 Vienna, shown in the policy's zone
    assert d["skipped"][0]["until"] == "2026-04-07T05:00:00+02:00"


def test_scheduled_days_name_the_day_a_window_opens() -> None:
    # Monday 10:30; a Friday-only window is closed; the next opening is Friday 09:00
    schedule = {"openai-codex": {"role": "preferred", "windows": [{"hours": [9, 17], "days": ["fri"]}]}}
    d = make(policy(pools=[scheduled_pool(schedule, CODEX[:2])], chains=[])).select(pool="s", model="g").to_dict()
    assert skips(d) == [("openai-codex", "outside-window")]
    assert d["skipped"][0]["until"] == "2026-04-10T09:00:00+00:00"


# --- retryAfter when there is no target (select) ------------------------------------------------


def test_retry_after_is_the_earliest_cooldown_end() -> None:
    engine = make(policy(chains=[]))
    cool(engine, "anthropic", T0 + timedelta(minutes=9))
    cool(engine, "anthropic-2", T0 + timedelta(minutes=4))
    cool(engine, "anthropic-3", T0 + timedelta(minutes=6))
    d = engine.select(pool="claude", model="s").to_dict()
    assert d["target"] is None
    assert d["retryAfter"] == "2026-04-06T10:34:00+00:00"


def test_retry_after_is_the_next_window_opening() -> None:
    schedule = {
        "openai-codex": {"role": "preferred", "windows": [{"hours": [14, 16]}]},
        "openai-codex-2": {"role": "preferred", "windows": [{"hours": [12, 13]}]},
    }
    d = make(policy(pools=[scheduled_pool(schedule, CODEX[:2])], chains=[])).select(pool="s", model="g").to_dict()
    assert d["target"] is None
    assert d["retryAfter"] == "2026-04-06T12:00:00+00:00"


def test_retry_after_accounts_for_a_window_closed_when_the_cooldown_ends() -> None:
    # anthropic-free: codex is cooling until 11:00, but its window is [12, 13): usable at 12:00
    schedule = {"openai-codex": {"role": "preferred", "windows": [{"hours": [12, 13]}, {"hours": [9, 11]}]}}
    engine = make(policy(pools=[scheduled_pool(schedule, CODEX[:1])], chains=[]))
    cool(engine, "openai-codex", T0 + timedelta(minutes=45))  # until 11:15
    d = engine.select(pool="s", model="g").to_dict()
    assert d["target"] is None
    assert d["retryAfter"] == "2026-04-06T12:00:00+00:00"


def test_retry_after_is_null_when_only_credentials_are_missing() -> None:
    d = make(auth=set()).select(chain="main").to_dict()
    assert d["target"] is None
    assert {s["reason"] for s in d["skipped"]} == {"no-auth"}
    assert d["retryAfter"] is None


def test_retry_after_is_null_when_only_unknown_or_not_allowed() -> None:
    engine = make(project={"allowedSubs": ["anthropic-2"]})
    assert engine.select("anthropic-9", model="m").to_dict()["retryAfter"] is None
    d = engine.select("anthropic", model="m", dry_run=True).to_dict()
    assert d["target"] is not None  # anthropic-2 is allowed
    d = make(project={"allowedSubs": ["google-antigravity"]}).select("anthropic", model="m").to_dict()
    assert d["target"] is None
    assert d["retryAfter"] is None


def test_retry_after_ignores_a_cooldown_of_a_provider_without_credentials() -> None:
    engine = make(policy(chains=[]), auth={"anthropic-2"})
    cool(engine, "anthropic", T0 + timedelta(minutes=1))
    cool(engine, "anthropic-2", T0 + timedelta(minutes=7))
    d = engine.select(pool="claude", model="s").to_dict()
    assert d["retryAfter"] == "2026-04-06T10:37:00+00:00"


def test_retry_after_is_null_with_a_target() -> None:
    engine = make()
    cool(engine, "anthropic", T0 + timedelta(minutes=1))
    d = engine.select("anthropic", model="s").to_dict()
    assert d["target"] is not None
    assert d["retryAfter"] is None


# --- time zones ----------------------------------------------------------------------------------


def test_times_use_the_policy_time_zone_offset() -> None:
    engine = make(policy(settings={"timezone": "America/New_York"}))
    cool(engine, "anthropic", T0 + timedelta(minutes=5))
    d = engine.select("anthropic", model="s").to_dict()
    assert d["at"] == "2026-04-06T06:30:00-04:00"
    assert d["skipped"][0]["until"] == "2026-04-06T06:35:00-04:00"


def test_without_a_policy_time_zone_the_default_zone_is_used() -> None:
    doc = policy()
    del doc["settings"]
    engine = Engine.from_documents(doc, auth=EVERYONE, clock=FakeClock(),
                                   timezone_default=ZoneInfo("Asia/Kolkata"))
    assert engine.select("anthropic", model="s").to_dict()["at"] == "2026-04-06T16:00:00+05:30"


# --- known bugs ----------------------------------------------------------------------------------


def test_a_preset_entry_provider_outside_its_window_is_skipped() -> None:
    schedule = {"openai-codex": {"role": "preferred", "windows": [{"hours": [20, 22]}]}}
    doc = policy(pools=[scheduled_pool(schedule, CODEX[:2])], chains=[],
                 presets=[{"name": "night", "entries": [{"provider": "openai-codex", "model": "gpt-5"}]}])
    d = make(doc).select(preset="night").to_dict()
    assert skips(d) == [("openai-codex", "outside-window")]
    assert d["skipped"][0]["until"] == "2026-04-06T20:00:00+00:00"
    assert d["target"]["provider"] == "openai-codex-2"

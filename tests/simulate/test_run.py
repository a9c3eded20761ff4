"""Tests of :mod:`policy_engine.simulate.run`: semantics of the simulation, and fast path = naive path."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from child_process import run_child

from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file, load_text
from policy_engine.simulate.event_reader import parse_events
from policy_engine.simulate.events import EventScript
from policy_engine.simulate.routes import RouteSpec, default_routes
from policy_engine.simulate.run import MAX_STEPS, SimulationResult, simulate
from policy_engine.state import Cooldown, StateChanges

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)
DEMO_ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"}


def demo_engine(**kwargs: Any) -> Engine:
    """The demo policy on a memory store, everyone logged in."""
    return Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), auth=DEMO_ACCOUNTS, **kwargs)


def script(text: str) -> EventScript:
    """An event script from YAML text."""
    return parse_events(load_text(text, "events.yaml"))


def timeline(result: SimulationResult, route: str) -> list[tuple[str, str, str | None, str | None]]:
    """``(start, end, provider, model)`` per run, local times as ``Mon 09:00``."""
    return [(f"{result.time_of(r.first):%a %H:%M}", f"{result.time_of(r.stop):%a %H:%M}", r.outcome.provider,
             r.outcome.model) for r in result.runs[route]]


def assert_same_as_naive(engine: Engine, routes: list[RouteSpec], **kwargs: Any) -> SimulationResult:
    """Run both paths; every run (steps, outcome, reasons) and every change must be identical."""
    fast = simulate(engine, routes, mode="fast", **kwargs)
    naive = simulate(engine, routes, mode="naive", **kwargs)
    for info in fast.routes:
        got = [(r.first, r.stop, r.outcome, r.reasons) for r in fast.runs[info.label]]
        want = [(r.first, r.stop, r.outcome, r.reasons) for r in naive.runs[info.label]]
        assert got == want, info.label
    assert [(c.at, c.kind, c.text) for c in fast.changes] == [(c.at, c.kind, c.text) for c in naive.changes]
    assert naive.evaluations == naive.steps * len(routes)
    return fast


# -- the fast path gives exactly the naive timeline ----------------------------------------------------------


def test_fast_equals_naive_on_the_demo_with_the_example_events() -> None:
    engine = demo_engine()
    events = parse_events(load_file(DEMO / "events.example.yaml"))
    fast = assert_same_as_naive(engine, default_routes(engine.graph), start=MONDAY, period=timedelta(days=3),
                                step=timedelta(minutes=5), script=events)
    assert fast.evaluations < fast.steps * len(fast.routes) / 10  # the point of the fast path
    assert sum(len(runs) for runs in fast.runs.values()) > 20


QUOTA_POLICY = {
    "settings": {"timezone": "Europe/Vienna", "cooldown": "10m"},
    "subscriptions": [{"provider": "github-copilot", "index": i} for i in range(2, 6)],
    "pools": [{"name": "copilot", "baseProvider": "github-copilot", "strategy": "quota-first",
               "members": ["github-copilot", "github-copilot-2", "github-copilot-3", "github-copilot-4",
                           "github-copilot-5"]},
              {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]}],
    "chains": [{"name": "c", "entries": [{"pool": "copilot", "model": "gpt-4.1"},
                                         {"pool": "gem", "model": "gemini-2.5-pro"}]}],
    "presets": [{"name": "p", "entries": [{"provider": "github-copilot-3", "model": "gpt-4.1"}]}],
}
QUOTA_ACCOUNTS = {"github-copilot", "github-copilot-2", "github-copilot-3", "github-copilot-4", "github-copilot-5",
                  "google-gemini-cli"}
QUOTA_EVENTS = """\
quota: {github-copilot-2: 40, github-copilot-5: 55}
events:
  # copilot burns from 50 at 10 %/h: it ties with copilot-2 (40) exactly on the grid at 10:00
  - {at: mon 09:00, burn: {provider: github-copilot, perHour: 10, remaining: 50}}
  # copilot-3 burns fast from 90 and crosses the others between steps
  - {at: mon 09:07, burn: {provider: github-copilot-3, perHour: 13.7, remaining: 90, for: 6h}}
  - {at: mon 12:00, burn: {provider: github-copilot-4, perHour: 25, remaining: 70, resetAfter: 2h}}
  - {at: mon 13:30, quota: {provider: github-copilot-3, remaining: 100}}
  - {at: mon 15:00, burn: {provider: github-copilot-5, perHour: 30, exhaust: false}}
  - {at: mon 16:00, fail: {provider: github-copilot-2, status: 429, message: rate_limit_error, retryAfter: 45m}}
  - {at: mon 18:00, logout: github-copilot-4}
"""


def test_fast_equals_naive_with_quota_burns_crossings_and_resets() -> None:
    engine = Engine.from_documents(QUOTA_POLICY, auth=QUOTA_ACCOUNTS)
    routes = default_routes(engine.graph)
    fast = assert_same_as_naive(engine, routes, start=MONDAY + timedelta(hours=8), period=timedelta(hours=16),
                                step=timedelta(minutes=1), script=script(QUOTA_EVENTS))
    kinds = {c.kind for c in fast.changes}
    assert {"burn", "quota-order", "quota-mark", "quota-empty", "quota-reset", "quota", "fail", "logout"} <= kinds


SCHEDULE_POLICY = {
    "settings": {"timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "openai-codex", "index": i} for i in range(2, 5)],
    "pools": [
        {"name": "codex", "baseProvider": "openai-codex", "strategy": "scheduled",
         "members": ["openai-codex", "openai-codex-2", "openai-codex-3", "openai-codex-4"],
         "memberSchedule": {
             "openai-codex": {"role": "preferred",
                              "windows": [{"hours": [1, 3]}, {"hours": [9, 17], "days": ["mon-fri"]}]},
             "openai-codex-2": {"role": "preferred", "windows": [{"cron": "30 */5 * * *", "duration": "2h"}]},
             "openai-codex-3": {"role": "preferred", "windows": [{"hours": [22, 4], "days": ["sat", "sun"]}]},
             "openai-codex-4": {"role": "overflow"}}},
        {"name": "tokyo", "baseProvider": "anthropic", "strategy": "scheduled", "timezone": "Asia/Tokyo",
         "members": ["anthropic"], "memberSchedule": {"anthropic": {"role": "preferred",
                                                                    "windows": [{"hours": [9, 18]}]}}},
    ],
    "chains": [{"name": "main", "entries": [{"pool": "tokyo", "model": "claude-sonnet-4-5"},
                                            {"pool": "codex", "model": "gpt-5"}]}],
    "presets": [{"name": "p", "entries": [{"provider": "openai-codex-3", "model": "o3"},
                                          {"provider": "anthropic", "model": "claude-sonnet-4-5"}]}],
}


def test_fast_equals_naive_with_schedules_across_a_dst_change() -> None:
    engine = Engine.from_documents(SCHEDULE_POLICY, auth={"openai-codex", "openai-codex-2", "openai-codex-3",
                                                          "openai-codex-4", "anthropic"})
    start = datetime(2026, 3, 27, 12, 0, tzinfo=VIENNA)  # Friday; clocks go forward on Sunday the 29th
    events = script("events:\n  - {at: sat 23:10, fail: {provider: openai-codex-3, status: 503}}\n")
    fast = assert_same_as_naive(engine, default_routes(engine.graph), start=start, period=timedelta(days=3),
                                step=timedelta(minutes=10), script=events)
    opened = [c for c in fast.changes if c.kind == "window-open" and "openai-codex's" in c.text]
    # [1, 3] on the DST night opens at 01:00 (+01:00) and still opens on each other day
    assert [datetime.fromtimestamp(c.at, VIENNA).strftime("%a %H:%M") for c in opened][:3] == \
        ["Sat 01:00", "Sun 01:00", "Mon 01:00"]


def test_fast_equals_naive_for_a_custom_selector_route_evaluated_every_step(tmp_path: Path) -> None:
    selector = tmp_path / "by_hour.py"
    selector.write_text("def select(ctx):\n    return ['anthropic-2'] if ctx['hour'] % 2 else None\n",
                        encoding="utf-8")
    policy = {"settings": {"timezone": "Europe/Vienna"}, "subscriptions": [{"provider": "anthropic", "index": 2}],
              "pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"],
                         "strategy": "custom", "selectorScript": str(selector)},
                        {"name": "gem", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]}]}
    engine = Engine.from_documents(policy, auth={"anthropic", "anthropic-2", "google-gemini-cli"})
    routes = default_routes(engine.graph)
    fast = assert_same_as_naive(engine, routes, start=MONDAY + timedelta(hours=9), period=timedelta(hours=4),
                                step=timedelta(minutes=30))
    claude, gem = fast.routes
    assert claude.per_step and not gem.per_step
    assert [p for _, _, p, _ in timeline(fast, "pool:claude")] == ["anthropic-2", "anthropic"] * 2
    assert fast.runs["pool:claude"][1].reasons == ("the pool's strategy chose differently",)


# -- semantics ------------------------------------------------------------------------------------------------


def test_a_failure_uses_the_real_fail_cooldown_and_cursor() -> None:
    engine = demo_engine()
    events = script("""\
events:
  - {at: tue 10:30, fail: {provider: anthropic, status: 429, message: rate_limit_error, retryAfter: 1h}}
  - {at: tue 10:40, fail: {provider: anthropic-2, status: 429, message: rate_limit_error}}
  - {at: tue 11:00, fail: {provider: anthropic-2, status: 400, message: bad request}}
""")
    result = simulate(engine, [RouteSpec("chain", "main")], start=MONDAY, period=timedelta(days=2), script=events)
    assert timeline(result, "chain:main") == [
        ("Mon 00:00", "Tue 10:30", "anthropic", "claude-sonnet-4-5"),
        # the cursor moved to anthropic-2 with the failover, as for an agent
        ("Tue 10:30", "Tue 10:40", "anthropic-2", "claude-sonnet-4-5"),
        # both Claude accounts cool down: the chain's next entry (a window of the scheduled pool)
        ("Tue 10:40", "Tue 10:45", "openai-codex", "gpt-5"),
        # the 5-minute pool cooldown of anthropic-2 ends first; the cursor still points at it
        ("Tue 10:45", "Wed 00:00", "anthropic-2", "claude-sonnet-4-5"),
    ]
    runs = result.runs["chain:main"]
    assert runs[1].reasons == ("anthropic: 429 rate_limit, cooling down until Tue 11:30",)
    assert runs[3].reasons == ("anthropic-2's cooldown ends",)
    assert any("400 other (does not rotate" in c.text for c in result.changes)
    assert engine.store.snapshot().cooldowns == {}  # the real store is never written


def test_nothing_usable_gives_none_with_retry_after() -> None:
    engine = demo_engine()
    events = script("events:\n  - {at: mon 12:00, fail: {provider: google-gemini-cli, status: 529, retryAfter: 2h}}\n")
    result = simulate(engine, [RouteSpec("pool", "gemini")], start=MONDAY, period=timedelta(days=1), script=events)
    none = result.runs["pool:gemini"][1]
    assert none.outcome.provider is None
    assert datetime.fromtimestamp(none.outcome.retry_after or 0, VIENNA) == MONDAY.replace(hour=14)
    assert timeline(result, "pool:gemini")[1][:2] == ("Mon 12:00", "Mon 14:00")
    assert result.share("pool:gemini") == [("google-gemini-cli", 1320), (None, 120)]


def test_quota_first_follows_the_burn_and_exhaustion_fails_for_real() -> None:
    engine = Engine.from_documents(QUOTA_POLICY, auth=QUOTA_ACCOUNTS)
    events = script("""\
quota: {github-copilot: 60, github-copilot-2: 50, github-copilot-3: 1, github-copilot-4: 1, github-copilot-5: 1}
events:
  - {at: mon 09:00, burn: {provider: github-copilot, perHour: 20, resetAfter: 1h}}
""")
    result = simulate(engine, [RouteSpec("pool", "copilot")], start=MONDAY.replace(hour=9), period=timedelta(hours=6),
                      script=events)
    assert timeline(result, "pool:copilot") == [
        ("Mon 09:00", "Mon 09:31", "github-copilot", None),  # 60 % falling; ties with 50 % at 09:30 exactly
        ("Mon 09:31", "Mon 13:00", "github-copilot-2", None),  # below copilot-2 from 09:31
        # at 0 % (12:00) it gets a real quota_exhausted failure with retry-after 1h; at 13:00 its cooldown
        # ends and its quota resets to 100 %, burning on
        ("Mon 13:00", "Mon 15:00", "github-copilot", None),
    ]
    empty = next(c for c in result.changes if c.kind == "quota-empty")
    assert f"{datetime.fromtimestamp(empty.at, VIENNA):%H:%M}" == "12:00"
    assert "github-copilot: 429 quota_exhausted, cooling down until Mon 13:00" in empty.text
    reset = next(c for c in result.changes if c.kind == "quota-reset")
    assert reset.at - empty.at == 3600
    assert set(result.runs["pool:copilot"][2].reasons) == {"github-copilot's quota resets to 100%",
                                                           "github-copilot's cooldown ends"}
    order = next(c for c in result.changes if c.kind == "quota-order")
    assert order.text == "github-copilot's quota falls below github-copilot-2's (pool copilot)"
    assert datetime.fromtimestamp(order.at, VIENNA) == MONDAY.replace(hour=9, minute=30)  # the tie itself


def test_login_logout_and_script_auth() -> None:
    engine = demo_engine()
    events = script("""\
auth: [anthropic-2, google-gemini-cli]
events:
  - {at: mon 06:00, login: anthropic}
  - {at: mon 07:00, logout: [anthropic, anthropic-2]}
""")
    result = simulate(engine, [RouteSpec("preset", "coding-premium")], start=MONDAY, period=timedelta(hours=8),
                      script=events)
    assert [p for _, _, p, _ in timeline(result, "preset:coding-premium")] == \
        ["anthropic-2", "anthropic", "google-gemini-cli"]


def test_the_starting_state_is_the_stores_unless_fresh() -> None:
    engine = demo_engine()
    engine.store.apply(StateChanges(
        cooldowns=[Cooldown("anthropic", MONDAY + timedelta(hours=2), "rate_limit: test", MONDAY)],
        cursors={"claude": "anthropic-2"}))
    route = [RouteSpec("chain", "main")]
    seeded = simulate(engine, route, start=MONDAY, period=timedelta(hours=4))
    assert timeline(seeded, "chain:main") == [("Mon 00:00", "Mon 04:00", "anthropic-2", "claude-sonnet-4-5")]
    fresh = simulate(engine, route, start=MONDAY, period=timedelta(hours=4), fresh=True)
    assert timeline(fresh, "chain:main") == [("Mon 00:00", "Mon 04:00", "anthropic", "claude-sonnet-4-5")]
    engine.store.apply(StateChanges(cursors={"claude": "anthropic"}))
    waiting = simulate(engine, route, start=MONDAY, period=timedelta(hours=4))
    assert timeline(waiting, "chain:main") == [("Mon 00:00", "Mon 02:00", "anthropic-2", "claude-sonnet-4-5"),
                                               ("Mon 02:00", "Mon 04:00", "anthropic", "claude-sonnet-4-5")]
    assert waiting.runs["chain:main"][1].reasons == ("anthropic's cooldown ends",)


def test_the_last_step_may_be_cut_short_and_times_are_local() -> None:
    engine = demo_engine()
    result = simulate(engine, [RouteSpec("pool", "gemini")], start=MONDAY, period=timedelta(minutes=50),
                      step=timedelta(minutes=15))
    assert result.steps == 4
    assert result.time_of(3) == MONDAY + timedelta(minutes=45)
    assert result.time_of(4) == MONDAY + timedelta(minutes=50) == result.end
    assert result.end.utcoffset() == timedelta(hours=1)


def test_bad_arguments() -> None:
    engine = demo_engine()
    route = [RouteSpec("pool", "gemini")]
    with pytest.raises(ValueError, match="at least 1s"):
        simulate(engine, route, start=MONDAY, period=timedelta(hours=1), step=timedelta(milliseconds=500))
    with pytest.raises(ValueError, match="at least one step"):
        simulate(engine, route, start=MONDAY, period=timedelta(seconds=30), step=timedelta(minutes=1))
    with pytest.raises(ValueError, match="too many"):
        simulate(engine, route, start=MONDAY, period=timedelta(seconds=MAX_STEPS + 1), step=timedelta(seconds=1))
    with pytest.raises(ValueError, match="timezone-aware"):
        simulate(engine, route, start=datetime(2026, 11, 23), period=timedelta(hours=1))
    with pytest.raises(ValueError, match="mode"):
        simulate(engine, route, start=MONDAY, period=timedelta(hours=1), mode="slow")


def test_events_outside_the_period_are_warned_about() -> None:
    engine = demo_engine()
    events = script("events:\n  - {at: 2026-12-24T10:00, logout: anthropic}\n")
    result = simulate(engine, [RouteSpec("pool", "claude")], start=MONDAY, period=timedelta(days=1), script=events)
    assert result.events == []
    (warning,) = result.warnings
    assert warning.startswith("events.yaml:2:") and "outside-period" in warning


def test_the_clock_is_never_the_real_one() -> None:
    engine = demo_engine(clock=lambda: datetime(2030, 1, 1, tzinfo=UTC))
    result = simulate(engine, [RouteSpec("pool", "codex")], start=MONDAY, period=timedelta(days=1))
    # scheduled windows follow the simulated time, not the engine's clock
    assert [p for _, _, p, _ in timeline(result, "pool:codex")] == ["openai-codex-2", "openai-codex",
                                                                    "openai-codex-2"]


# -- randomised: many scripts, both paths -----------------------------------------------------------------------


def _random_script(rng: random.Random, accounts: list[str], hours: int) -> str:
    """Fails (rotating or not, with or without retry-after), burns, quota sets, logins and logouts."""
    initial = {a: rng.randint(0, 100) for a in accounts if rng.random() < 0.5}
    lines = ["quota: {" + ", ".join(f"{a}: {v}" for a, v in initial.items()) + "}", "events:"]
    for _ in range(rng.randint(3, 14)):
        account = rng.choice(accounts)
        at = f"+{rng.randint(0, hours * 60)}m"
        kind = rng.choice(["fail", "fail", "burn", "burn", "quota", "login", "logout"])
        if kind == "fail":
            retry = rng.choice(["", f", retryAfter: {rng.randint(1, 120)}m"])
            status = rng.choice([429, 529, 503, 500, 400])
            lines.append(f"  - {{at: '{at}', fail: {{provider: {account}, status: {status}{retry}}}}}")
        elif kind == "burn":
            extra = f", remaining: {rng.randint(0, 100)}" if rng.random() < 0.5 else ""
            extra += f", for: {rng.randint(10, 300)}m" if rng.random() < 0.5 else ""
            extra += ", exhaust: false" if rng.random() < 0.3 else ""
            extra += f", resetAfter: {rng.randint(10, 200)}m" if rng.random() < 0.5 else ""
            rate = round(rng.uniform(0, 60), 2)
            lines.append(f"  - {{at: '{at}', burn: {{provider: {account}, perHour: {rate}{extra}}}}}")
        elif kind == "quota":
            lines.append(f"  - {{at: '{at}', quota: {{provider: {account}, remaining: {rng.randint(0, 100)}}}}}")
        else:
            lines.append(f"  - {{at: '{at}', {kind}: {account}}}")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(6))
def test_fast_equals_naive_on_random_scripts(seed: int) -> None:
    rng = random.Random(seed)
    for policy, accounts, start in (
        (QUOTA_POLICY, QUOTA_ACCOUNTS, MONDAY + timedelta(hours=rng.randint(0, 30))),
        (SCHEDULE_POLICY, {"openai-codex", "openai-codex-2", "openai-codex-3", "openai-codex-4", "anthropic"},
         datetime(2026, 3, 28, rng.randint(0, 23), tzinfo=VIENNA)),
    ):
        engine = Engine.from_documents(policy, auth=accounts)
        hours = rng.randint(4, 14)
        events = script(_random_script(rng, sorted(accounts), hours))
        assert_same_as_naive(engine, default_routes(engine.graph), start=start, period=timedelta(hours=hours),
                             step=timedelta(minutes=rng.choice([1, 2, 5, 7])), script=events)


# -- caps on the work of one simulation (issue 14, class 8) ----------------------------------------------


def test_routes_evaluated_at_every_step_are_capped_before_the_first_step() -> None:
    """Naive mode (and custom or plugin strategies) evaluate every route at every step: 12 days at 1 s
    steps for ten routes would be ten million decisions. Refused at once, naming the total and the cap."""
    found = run_child("""
        import json, time
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo
        from policy_engine.engine import Engine
        from policy_engine.policy.loader import load_file
        from policy_engine.simulate.routes import default_routes
        from policy_engine.simulate.run import simulate
        engine = Engine.from_documents(load_file("policies/demo/multi-pass.yaml"), auth={"anthropic"})
        started = time.perf_counter()
        try:
            simulate(engine, default_routes(engine.graph) * 2, start=datetime(2026, 11, 23, tzinfo=ZoneInfo("UTC")),
                     period=timedelta(days=12), step=timedelta(seconds=1), mode="naive")
        except ValueError as exc:
            print(json.dumps([str(exc), time.perf_counter() - started]))
        """)
    message, seconds = found
    assert message == ("1,036,800 steps x 12 routes = 12,441,600 evaluations (at most 600,000); use a longer step, "
                       "a shorter period or fewer routes")
    assert seconds < 10


def test_a_per_step_listing_is_capped_before_the_simulation_runs() -> None:
    engine = demo_engine()
    routes = default_routes(engine.graph)
    with pytest.raises(ValueError) as info:
        simulate(engine, routes, start=MONDAY, period=timedelta(days=12), step=timedelta(seconds=1),
                 per_step_rows=True)
    assert str(info.value) == (
        f"listing every step would be 1,036,800 steps x {len(routes)} route(s) = {1_036_800 * len(routes):,} rows "
        "(at most 2,000,000); use a longer step, a shorter period or fewer routes, or list runs instead of steps")
    small = simulate(engine, routes, start=MONDAY, period=timedelta(days=1), per_step_rows=True)
    assert small.steps == 1440


def test_schedules_that_change_every_minute_are_refused_from_their_first_hour() -> None:
    """Ten preferred members whose cron window opens every minute for 30 s: 201,600 openings and closings
    in a week, each a cron computation. The first hour, extrapolated, says so before the rest is computed."""
    found = run_child("""
        import json, time
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo
        from policy_engine.engine import Engine
        from policy_engine.simulate.routes import RouteSpec
        from policy_engine.simulate.run import simulate
        window = {"role": "preferred", "windows": [{"cron": "* * * * *", "duration": "30s"}]}
        pools = [{"name": f"p{i}", "baseProvider": "anthropic", "members": [f"anthropic-{i + 2}"],
                  "strategy": "scheduled", "memberSchedule": {f"anthropic-{i + 2}": window}} for i in range(10)]
        subs = [{"provider": "anthropic", "index": i + 2} for i in range(10)]
        engine = Engine.from_documents({"subscriptions": subs, "pools": pools}, auth={"anthropic"})
        started = time.perf_counter()
        try:
            simulate(engine, [RouteSpec("pool", "p0")], start=datetime(2026, 11, 23, tzinfo=ZoneInfo("UTC")),
                     period=timedelta(days=7))
        except ValueError as exc:
            print(json.dumps([str(exc), time.perf_counter() - started]))
        """)
    message, seconds = found
    assert message.startswith("the schedules' windows would open and close about ")
    assert message.endswith("times or more in the simulated period (at most 200,000); simulate a shorter period, "
                            "or use longer windows")
    assert seconds < 10
    # under the cap, schedules are followed to the end (the window open at the start is its initial state)
    window = {"role": "preferred", "windows": [{"cron": "*/5 * * * *", "duration": "2m"}]}
    pools = [{"name": f"p{i}", "baseProvider": "anthropic", "members": [f"anthropic-{i + 2}", "anthropic"],
              "strategy": "scheduled", "memberSchedule": {f"anthropic-{i + 2}": window}} for i in range(2)]
    subs = [{"provider": "anthropic", "index": i + 2} for i in range(2)]
    engine = Engine.from_documents({"subscriptions": subs, "pools": pools},
                                   auth={"anthropic", "anthropic-2", "anthropic-3"})
    result = simulate(engine, [RouteSpec("pool", "p0")], start=MONDAY, period=timedelta(hours=6))
    assert sum(1 for c in result.changes if c.kind.startswith("window-")) == 2 * (2 * 12 * 6 - 1)
    assert [r.outcome.provider for r in result.runs["pool:p0"][:3]] == ["anthropic-2", "anthropic", "anthropic-2"]

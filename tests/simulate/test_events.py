"""Tests of :mod:`policy_engine.simulate.events`: the event script format, its errors and its times."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from child_process import run_child

from policy_engine.common.diagnostics import PolicyError
from policy_engine.common.durations import parse_duration
from policy_engine.engine import Engine
from policy_engine.policy.loader import load_file
from policy_engine.simulate.event_reader import load_events
from policy_engine.simulate.events import (
    AuthAction,
    BurnAction,
    FailAction,
    QuotaAction,
    parse_time_spec,
    resolve_start,
)

REPO = Path(__file__).resolve().parents[2]
VIENNA = ZoneInfo("Europe/Vienna")
MONDAY = datetime(2026, 11, 23, 0, 0, tzinfo=VIENNA)


def write(tmp_path: Path, text: str, name: str = "events.yaml") -> Path:
    """An event script file."""
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    """The formatted diagnostics of an invalid script (fails the test if it loads)."""
    with pytest.raises(PolicyError) as info:
        load_events(write(tmp_path, text))
    return [d.format() for d in info.value.diagnostics]


def test_a_full_script_is_read(tmp_path: Path) -> None:
    script = load_events(write(tmp_path, """\
start: 2026-11-23T00:00
period: 2d
step: 5m
auth: [anthropic, openai-codex]
quota: {openai-codex: 80, openai-codex-2: 35.5}
routes: [chain:main, pool:codex@gpt-5]
events:
  - at: tue 10:30
    fail: {provider: anthropic, status: 529, message: overloaded, type: overloaded_error,
           headers: {x-request-id: 7}, body: {error: {type: overloaded_error}}, retryAfter: 90s}
  - {at: +1h, every: 1d, count: 3, burn: {provider: openai-codex, perHour: 12.5, remaining: 90, for: 8h,
                                         exhaust: false, resetAfter: 5h}}
  - {at: 2026-11-24T12:00+01:00, quota: {provider: openai-codex, remaining: 100}}
  - {at: "17:00", logout: anthropic}
  - {at: wed 09:00, login: [anthropic, anthropic-2]}
"""))
    assert script.start is not None and script.start.text == "2026-11-23T00:00"
    assert (script.period, script.step) == (timedelta(days=2), timedelta(minutes=5))
    assert script.auth == frozenset({"anthropic", "openai-codex"})
    assert script.quota == {"openai-codex": 80.0, "openai-codex-2": 35.5}
    assert script.routes == ("chain:main", "pool:codex@gpt-5")
    fail, burn, quota, logout, login = (e.action for e in script.events)
    assert fail == FailAction("anthropic", 529, "overloaded", "overloaded_error", None,
                              {"x-request-id": "7", "retry-after": "90"}, {"error": {"type": "overloaded_error"}},
                              timedelta(seconds=90))
    assert burn == BurnAction("openai-codex", 12.5, 90.0, timedelta(hours=8), False, timedelta(hours=5))
    assert quota == QuotaAction("openai-codex", 100.0)
    assert logout == AuthAction(("anthropic",), False)
    assert login == AuthAction(("anthropic", "anthropic-2"), True)
    assert script.events[1].every == timedelta(days=1) and script.events[1].count == 3
    assert script.events[0].origin.endswith("events.yaml:8")


def test_the_example_script_loads() -> None:
    script = load_events(REPO / "policies" / "demo" / "events.example.yaml")
    assert len(script.events) >= 5
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"))
    assert script.check(engine.graph) == []


def test_errors_name_file_line_column_path_and_hint(tmp_path: Path) -> None:
    found = problems(tmp_path, """\
evnts: []
events:
  - at: tue 10:30
    fial: {provider: anthropic}
  - at: tue 25:00
    fail: {provider: anthropic, status: 700}
  - {logout: anthropic}
  - {at: +1h, burn: {provider: openai-codex}}
  - {at: +1h, quota: {provider: openai-codex, remaining: 120}}
  - {at: +1h, count: 2, login: anthropic}
  - {at: +1h, fail: {provider: anthropic}, logout: anthropic}
  - {at: +1h, every: 5 minutes, fail: {provider: anthropic, retryAfter: soon}}
""")
    text = "\n".join(found)
    path = str(tmp_path / "events.yaml")
    assert f"{path}:1:1: unknown-key: unknown key 'evnts' in the event script (at $.evnts)\n    hint: did you mean " \
           "'events'?" in text
    assert f"{path}:4:5: unknown-key: unknown key 'fial' in event 0 (at $.events[0].fial)\n    hint: did you mean " \
           "'fail'?" in text
    assert f"{path}:3:5: action: event 0 has no action" in text
    assert f"{path}:5:9: time: 'tue 25:00': the time of day must be 00:00 to 23:59 (at $.events[1].at)" in text
    assert f"{path}:6:41: status: status must be an HTTP status code (100-599), got the number 700" in text
    assert f"{path}:7:5: required: event 2 has no 'at'" in text
    assert "burn needs perHour" in text and "(at $.events[3].burn)" in text
    assert "remaining must be from 0 to 100, got 120 (at $.events[4].quota.remaining)" in text
    assert "count only goes with every (at $.events[5].count)" in text
    assert "event 6 has several actions (fail, logout)" in text
    assert "(at $.events[7].every)" in text and "(at $.events[7].fail.retryAfter)" in text
    assert len(found) == 12


def test_type_errors_are_explained(tmp_path: Path) -> None:
    found = "\n".join(problems(tmp_path, """\
period: soon
quota: [1, 2]
auth: off
events: {at: +1h}
"""))
    assert "expected a duration such as 90s, 5m, 1h30m or 2d, got 'soon' (at $.period)" in found
    assert "quota must be a mapping of accounts to remaining percent, got a list (at $.quota)" in found
    assert "auth must be an account name or a non-empty list of them, got the boolean false (at $.auth)" in found
    assert "events must be a list, got a mapping (at $.events)" in found


def test_a_key_hint_ignores_case_and_underscores(tmp_path: Path) -> None:
    missing, unknown = problems(tmp_path, "events:\n  - {at: +1h, burn: {provider: openai-codex, PER_HOUR: 5}}\n")
    assert unknown.endswith("unknown key 'PER_HOUR' in burn (at $.events[0].burn.PER_HOUR)\n"
                            "    hint: did you mean 'perHour'?")
    assert "burn needs perHour" in missing
    found = problems(tmp_path, "events:\n  - {at: +1h, fail: {provider: anthropic, retry_after: 1h}}\n")
    assert any("unknown key 'retry_after' in fail" in f and "hint: did you mean 'retryAfter'?" in f for f in found)


def test_an_unparsable_file_is_a_parse_error(tmp_path: Path) -> None:
    (problem,) = problems(tmp_path, "events:\n  - {at: +1h, login: [anthropic\n")
    assert f"{tmp_path / 'events.yaml'}:3:1: parse-error:" in problem


def test_time_forms() -> None:
    assert parse_time_spec("+1d2h").offset == timedelta(days=1, hours=2)
    assert parse_time_spec("tue 10:30").weekday == 1
    assert parse_time_spec("Tue 10:30").weekday == 1
    assert parse_time_spec("7:05").clock is not None and parse_time_spec("7:05").weekday is None
    assert parse_time_spec("2026-11-24T10:30").kind == "instant"
    for bad in ("", "tomorrow", "xyz 10:30", "10:75", "+5 parsecs", 42):
        with pytest.raises(ValueError):
            parse_time_spec(bad)


def test_times_resolve_against_the_start_in_the_policy_zone() -> None:
    start = MONDAY.replace(hour=12)
    assert parse_time_spec("tue 10:30").resolve(start, VIENNA) == MONDAY.replace(day=24, hour=10, minute=30)
    assert parse_time_spec("mon 10:30").resolve(start, VIENNA) == MONDAY.replace(day=30, hour=10, minute=30)
    assert parse_time_spec("mon 12:00").resolve(start, VIENNA) == start  # at or after the start
    assert parse_time_spec("09:00").resolve(start, VIENNA) == MONDAY.replace(day=24, hour=9)
    assert parse_time_spec("+90m").resolve(start, VIENNA) == start + timedelta(minutes=90)
    instant = parse_time_spec("2026-11-24T10:30").resolve(start, VIENNA)
    assert instant.utcoffset() == timedelta(hours=1) and instant.hour == 10
    assert parse_time_spec("2026-11-24T10:30Z").resolve(start, VIENNA) == datetime(2026, 11, 24, 10, 30, tzinfo=UTC)


def test_offsets_are_elapsed_time_across_a_dst_change() -> None:
    start = datetime(2026, 3, 29, 0, 0, tzinfo=VIENNA)  # 02:00 → 03:00 that night
    moment = parse_time_spec("+4h").resolve(start, VIENNA)
    assert moment.timestamp() - start.timestamp() == 4 * 3600
    assert moment.hour == 5


def test_every_whole_day_keeps_the_wall_clock_and_count_stops(tmp_path: Path) -> None:
    script = load_events(write(tmp_path, """\
events:
  - {at: fri 09:00, every: 1d, logout: anthropic}
  - {at: fri 09:00, every: 25h, count: 2, login: anthropic}
"""))
    start = datetime(2026, 3, 27, 0, 0, tzinfo=VIENNA)
    events, warnings = script.occurrences(start, start + timedelta(days=4), VIENNA)
    assert warnings == []
    walls = [f"{e.at.astimezone(VIENNA):%a %H:%M}" for e in events if isinstance(e.action, AuthAction)
             and not e.action.login]
    assert walls == ["Fri 09:00", "Sat 09:00", "Sun 09:00", "Mon 09:00"]  # also after the DST change
    logins = [e.at.astimezone(VIENNA) for e in events if isinstance(e.action, AuthAction) and e.action.login]
    assert len(logins) == 2 and (logins[1] - logins[0]) == timedelta(hours=25)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_events_outside_the_period_are_warnings(tmp_path: Path) -> None:
    script = load_events(write(tmp_path, "events:\n  - {at: 2027-01-01T00:00, logout: anthropic}\n"))
    events, warnings = script.occurrences(MONDAY, MONDAY + timedelta(days=7), VIENNA)
    assert events == []
    (warning,) = warnings
    assert warning.severity == "warning" and warning.line == 2
    assert "outside the simulated period" in warning.message


def test_check_against_the_policy(tmp_path: Path) -> None:
    engine = Engine.from_documents(load_file(REPO / "policies" / "demo" / "multi-pass.yaml"))
    script = load_events(write(tmp_path, """\
auth: [antropic]
routes: [chain:mian, pool:codex]
events:
  - {at: +1h, fail: {provider: openai-codex-9}}
  - {at: +1h, logout: [anthropic, gemini]}
"""))
    found = [d.format() for d in script.check(engine.graph)]
    assert any(":1:7: unknown-account: 'antropic' is not an account of this policy (at $.auth)\n    hint: did "
               "you mean 'anthropic'?" in f for f in found)
    assert any("'openai-codex-9' is not an account" in f and "$.events[0].fail.provider" in f for f in found)
    assert any("'gemini' is not an account" in f and "$.events[1].logout" in f for f in found)
    assert any("unknown-route: there is no chain named 'mian'; did you mean 'main'?" in f for f in found)
    assert len(found) == 4


def test_resolve_start() -> None:
    now = datetime(2026, 11, 25, 14, 37, 21, 500, tzinfo=UTC)  # a Wednesday, 15:37 in Vienna
    assert resolve_start("now", now, VIENNA) == datetime(2026, 11, 25, 15, 37, tzinfo=VIENNA)
    assert resolve_start("today", now, VIENNA) == datetime(2026, 11, 25, 0, 0, tzinfo=VIENNA)
    assert resolve_start("week", now, VIENNA) == MONDAY
    assert resolve_start("2026-11-01T08:00", now, VIENNA) == datetime(2026, 11, 1, 8, 0, tzinfo=VIENNA)
    assert resolve_start("+2h", now, VIENNA) == datetime(2026, 11, 25, 17, 37, tzinfo=VIENNA)
    assert resolve_start("mon 09:00", now, VIENNA) == datetime(2026, 11, 30, 9, 0, tzinfo=VIENNA)
    with pytest.raises(ValueError, match="or now, today"):
        resolve_start("yesterday", now, VIENNA)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+00:00", "0001-01-01T00:00:00+14:00",
                                  "9999-12-31T23:00:00+00:00", "9999-12-31T23:59:00-12:00"])
def test_instants_outside_the_supported_years_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="the year must be between 1970 and 9000"):
        parse_time_spec(text)


def test_a_start_or_an_event_in_year_1_or_9999_is_located(tmp_path: Path) -> None:
    found = problems(tmp_path, 'start: "9999-12-31T23:00:00+00:00"\nevents:\n'
                               '  - {at: "0001-01-01T00:00:00+14:00", logout: anthropic}\n')
    assert found[0].startswith(f"{tmp_path / 'events.yaml'}:1:8: time:") and "(at $.start)" in found[0]
    assert found[1].startswith(f"{tmp_path / 'events.yaml'}:3:10: time:") and "(at $.events[0].at)" in found[1]


def test_an_event_script_that_is_a_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "events.yaml")
    found = run_child("""
        import json, sys
        from policy_engine.common.diagnostics import PolicyError
        from policy_engine.simulate.event_reader import load_events
        try:
            load_events(sys.argv[1])
        except PolicyError as exc:
            print(json.dumps([d.format() for d in exc.diagnostics]))
        """, str(tmp_path / "events.yaml"))
    assert len(found) == 1 and "file-unreadable" in found[0] and "FIFO" in found[0]


# -- runaway scripts (issue 14, class 8) --------------------------------------------------------------


def test_a_script_that_repeats_into_millions_is_refused_before_anything_is_expanded(tmp_path: Path) -> None:
    """60 events every second for a week would be 36 million occurrences (gigabytes): the total is computed
    from at/every/count first and refused, located at the event that repeats most, in a child that has
    512 MiB of address space and 20 s."""
    lines = ["events:"] + [f"  - {{at: +{i}s, every: 1s, fail: {{provider: anthropic}}}}" for i in range(59)]
    lines.append("  - {at: +0s, every: 500ms, logout: anthropic}")
    path = write(tmp_path, "\n".join(lines) + "\n")
    found = run_child("""
        import json, sys
        from datetime import datetime, timedelta
        from zoneinfo import ZoneInfo
        from policy_engine.common.diagnostics import PolicyError
        from policy_engine.simulate.event_reader import load_events
        start = datetime(2026, 11, 23, tzinfo=ZoneInfo("Europe/Vienna"))
        try:
            load_events(sys.argv[1]).occurrences(start, start + timedelta(days=7), start.tzinfo)
        except PolicyError as exc:
            print(json.dumps([d.to_dict() for d in exc.diagnostics]))
        """, str(path))
    (error,) = found
    assert (error["code"], error["line"], error["path"]) == ("too-many-events", 61, "$.events[59].every")
    assert error["message"] == (
        "the event script would apply 36,891,089 events in the simulated period (Mon 2026-11-23 00:00 to "
        "Mon 2026-11-30 00:00); event 59 alone (logout anthropic, every 500ms) happens 1,209,600 times; "
        "a simulation applies at most 50,000")
    assert "count: N" in error["hint"] and "--period" in error["hint"]


def test_the_cap_counts_exactly_for_elapsed_repeats(tmp_path: Path) -> None:
    from policy_engine.simulate.events import MAX_OCCURRENCES

    half = MAX_OCCURRENCES // 2
    fits = load_events(write(tmp_path, f"events:\n  - {{at: +0m, every: 1m, count: {half}, logout: anthropic}}\n"
                                       f"  - {{at: +30s, every: 1m, count: {half}, login: anthropic}}\n"))
    end = MONDAY + timedelta(days=40)
    events, _ = fits.occurrences(MONDAY, end, VIENNA)
    assert len(events) == MAX_OCCURRENCES
    over = load_events(write(tmp_path, f"events:\n  - {{at: +0m, every: 1m, count: {half + 1}, logout: anthropic}}\n"
                                       f"  - {{at: +30s, every: 1m, count: {half}, login: anthropic}}\n"))
    with pytest.raises(PolicyError) as info:
        over.occurrences(MONDAY, end, VIENNA)
    assert f"would apply {MAX_OCCURRENCES + 1:,} events" in info.value.diagnostics[0].message


def test_a_repeat_that_began_long_before_the_period_still_reaches_it(tmp_path: Path) -> None:
    """Occurrences start at the first one inside the period, not after a walk from a start years ago (which
    used to stop after 1.1 million steps, before the period, and leave the event out)."""
    for every, first in [("1m", "2000-01-01T00:00"), ("20s", "2025-01-01T00:00"), ("1d", "2000-01-03T09:15"),
                         ("7d", "1999-12-06T17:00"), ("90m", "2001-05-05T05:05")]:
        _check_repeat_from_the_past(tmp_path, every, first)


def _check_repeat_from_the_past(tmp_path: Path, every: str, first: str) -> None:
    script = load_events(write(tmp_path, f"events:\n  - {{at: {first}, every: {every}, logout: anthropic}}\n"))
    start = datetime(2026, 3, 27, 0, 0, tzinfo=VIENNA)  # the DST change is on Sunday the 29th
    end = start + timedelta(days=10)
    events, warnings = script.occurrences(start, end, VIENNA)
    assert warnings == []
    step = parse_duration(every)
    origin = datetime.fromisoformat(first).replace(tzinfo=VIENNA)
    if step.total_seconds() % 86400 == 0:  # whole days: the same wall-clock time
        days = step.days
        expected = [datetime.combine(day, origin.time(), tzinfo=VIENNA) for day in
                    (origin.date() + timedelta(days=days * n) for n in range(0, 20000))
                    if start <= datetime.combine(day, origin.time(), tzinfo=VIENNA) < end]
    else:
        n0 = int((start - origin) / step)
        expected = [m for m in (origin.astimezone(UTC) + step * n for n in range(n0 - 1, n0 + 100_000))
                    if start <= m < end]
    assert [e.at for e in events] == [m.astimezone(UTC) for m in expected]
    assert events and len(events) == len(expected)


def test_the_computed_count_is_exact() -> None:
    """The cap relies on ``_count``: random events around both DST changes, against a walk from the first."""
    import random

    from policy_engine.simulate.events import _count, _repeat

    rng = random.Random(14)
    for _ in range(400):
        start = datetime(2026, rng.choice([3, 10]), rng.randint(20, 28), rng.randint(0, 23), tzinfo=VIENNA)
        end = start + timedelta(hours=rng.randint(1, 24 * 12))
        first = start + timedelta(minutes=rng.randint(-60 * 24 * 30, 60 * 24 * 10))
        every = rng.choice([None, timedelta(minutes=rng.randint(1, 600)), timedelta(days=rng.randint(1, 3)),
                            timedelta(seconds=rng.randint(1, 90))])
        count = rng.choice([None, rng.randint(1, 50)])
        actual = len(list(_repeat(first, every, count, start, end, VIENNA)))
        computed = _count(first, every, count, start, end, VIENNA)
        assert computed == actual, (first, every, count, start, end)
        if every is not None and (end - first) / every < 200_000:
            walk = [m for m in _walk(first, every, count, end, VIENNA) if start <= m]
            assert list(_repeat(first, every, count, start, end, VIENNA)) == walk, (first, every, count, start, end)


def _walk(first: datetime, every: timedelta, count: int | None, end: datetime, tz: ZoneInfo) -> list[datetime]:
    """Every occurrence from the first, one by one (whole days at the same local time), before ``end``."""
    local, out, n = first.astimezone(tz), [], 0
    while count is None or n < count:
        if every.total_seconds() % 86400 == 0:
            moment = datetime.combine(local.date() + timedelta(days=every.days * n), local.time(), tzinfo=tz)
        else:
            moment = first.astimezone(UTC) + every * n  # elapsed time (aware + timedelta is wall time)
        if moment >= end:
            break
        out.append(moment)
        n += 1
    return out

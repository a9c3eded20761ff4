"""The checks a JSON Schema cannot express: zero durations, empty or impossible schedule windows, project
subscriptions, paths that cannot be used."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.durations import parse_duration
from policy_engine.policy.days import check_days
from policy_engine.policy.document import JsonPath, LoadedDocument, pi_tolerant
from policy_engine.policy.schema_messages import CRON_EXAMPLE
from policy_engine.policy.schema_validator import (
    DATE_PATTERN,
)

if TYPE_CHECKING:
    pass

__all__ = ["domain_checks", "path_checks"]


def domain_checks(doc: LoadedDocument, kind: str) -> list[Diagnostic]:
    """The problems of ``doc`` (a ``kind`` document) that the JSON Schema cannot express."""
    data = doc.data
    if not isinstance(data, Mapping):
        return []
    if kind in ("policy", "project"):
        return [*_policy_checks(doc, data, ()), *_zero_durations(doc, data, ())]
    found: list[Diagnostic] = []
    for key in ("policy", "project"):
        if isinstance(data.get(key), Mapping):
            found.extend(_policy_checks(doc, data[key], (key,)))
            found.extend(_zero_durations(doc, data[key], (key,)))
    return found

#: Settings whose zero value makes the engine misbehave, with why (a zero cooldown, quotaBudget or
#: errorRules retryAfter is a choice: rest not at all, never wait for quota checks, add no wait).
_NO_ZERO = {
    "turnTtl": ("a turn would expire as soon as it starts, so every fail would begin again at the first account "
                "and a turn could never rotate past it", "the default is 1h; a turn lasts as long as one prompt "
                "and its retries"),
    "selectorTimeout": ("every custom selector call would time out, so custom pools would always fall back to "
                        "rotation order", "the default is 250ms; a selector answers in well under a millisecond"),
    "quotaTtl": ("every quota snapshot would be stale as soon as it is read, so every decision would query the "
                 "providers' usage endpoints again", "the default is 60s"),
}

def _is_zero_duration(value: Any) -> bool:
    """Whether ``value`` is a duration that parses to zero (``0``, ``0s``, ``0ms``, ``0.0``)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return False
    try:
        return parse_duration(value).total_seconds() == 0
    except ValueError:
        return False  # the schema reports it

def _zero_durations(doc: LoadedDocument, data: Mapping[str, Any], base: JsonPath) -> Iterator[Diagnostic]:
    """``turnTtl``, ``selectorTimeout`` and ``quotaTtl`` of 0, which no one can mean (see :data:`_NO_ZERO`)."""
    settings = data.get("settings")
    if not isinstance(settings, Mapping):
        return
    for key, (why, hint) in _NO_ZERO.items():
        if key in settings and _is_zero_duration(settings[key]):
            yield doc.diagnostic("zero-duration", f"settings.{key} is 0: {why}", (*base, "settings", key),
                                 hint=f"write a duration of more than 0, or leave {key} out; {hint}")

def _policy_checks(doc: LoadedDocument, data: Mapping[str, Any], base: JsonPath) -> Iterator[Diagnostic]:
    pools = data.get("pools")
    if not isinstance(pools, list):
        return
    for index, pool in enumerate(pools):
        schedule = pool.get("memberSchedule") if isinstance(pool, Mapping) else None
        if not isinstance(schedule, Mapping):
            continue
        for member, entry in schedule.items():
            windows = entry.get("windows") if isinstance(entry, Mapping) else None
            if not isinstance(windows, list):
                continue
            for number, window in enumerate(windows):
                if isinstance(window, Mapping):
                    path = (*base, "pools", index, "memberSchedule", member, "windows", number)
                    yield from _window_checks(doc, window, path)

def _window_checks(doc: LoadedDocument, window: Mapping[str, Any], path: JsonPath) -> Iterator[Diagnostic]:
    if not window:
        yield _empty_window(doc, path)
    if "cron" in window and _is_zero_duration(window.get("duration")):
        yield doc.diagnostic("zero-duration", "a cron window lasting 0 never opens", (*path, "duration"),
                             hint=CRON_EXAMPLE)
    hours = window.get("hours")
    if _is_hour_pair(hours) and hours[0] == hours[1]:
        yield doc.diagnostic(
            "hours",
            f"empty window: [{hours[0]}, {hours[1]}] never opens; write [0, 24] for the whole day",
            (*path, "hours"),
            hint="hours are [start, end): [9, 17] is 09:00 to 17:00, [22, 6] wraps past midnight",
        )
    days = window.get("days")
    if isinstance(days, list):
        if not days:
            yield _says_nothing(doc, "days", "an empty days list [] names no day", (*path, "days"),
                                "leave days out for a window of every day, or name the days it opens on ([mon-fri])")
        for problem in check_days(days):
            yield doc.diagnostic("days", problem.message, (*path, "days", problem.index), hint=problem.hint)
    date_range = window.get("dateRange")
    if isinstance(date_range, Mapping):
        if not date_range:
            yield _says_nothing(doc, "date-range", "an empty dateRange {} names no date", (*path, "dateRange"),
                                "give from and/or to (YYYY-MM-DD), or leave dateRange out for a window of every date")
        start, end = _as_date(date_range.get("from")), _as_date(date_range.get("to"))
        if start and end and start > end:
            yield doc.diagnostic(
                "date-range",
                f"dateRange ends before it starts: from {start.isoformat()} is after to {end.isoformat()}",
                (*path, "dateRange"),
                hint="swap from and to",
            )

def _says_nothing(doc: LoadedDocument, code: str, message: str, path: JsonPath, hint: str) -> Diagnostic:
    """An empty ``days`` or ``dateRange``: like an empty window, an error in YAML (it reads as "every day", the
    opposite of what it seems to say); in a pi ``multi-pass.json``, a warning that says how it is read."""
    if pi_tolerant(doc):
        return doc.diagnostic(code, f"{message}; it is read as no limit at all", path, severity="warning", hint=hint)
    return doc.diagnostic(code, f"{message}: it says nothing about when the window is open", path, hint=hint)


def _empty_window(doc: LoadedDocument, path: JsonPath) -> Diagnostic:
    """``{}`` as a window: an error in YAML; in a pi ``multi-pass.json``, a warning (pi reads it as always open)."""
    if pi_tolerant(doc):
        return doc.diagnostic(
            "empty-window", "an empty window {} is open all the time (pi-multi-pass reads it so, and so does "
            "mp-policy for a multi-pass.json)", path, severity="warning",
            hint="leave windows out for a member that is always preferred, or give hours, days or dateRange; "
            "`mp-policy import` converts this file to YAML, where an empty window is an error")
    return doc.diagnostic(
        "empty-window", "an empty window {} says nothing about when it is open", path,
        hint="give hours, days, dateRange or cron ({hours: [9, 17], days: [mon-fri]}); for a member that is "
        "always preferred, leave out windows")

def _is_hour_pair(value: Any) -> bool:
    return (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in value)
    )

def _as_date(value: Any) -> date | None:
    if not isinstance(value, str) or not DATE_PATTERN.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None

def path_checks(doc: LoadedDocument, kind: str) -> Iterator[Diagnostic]:
    """Path-like fields (``settings.state``, ``pools[].selectorScript``, a test's ``policy``/``project``)
    holding text no file name can hold: a NUL byte, a lone surrogate (JSON can carry ``"\\udc80"``),
    or characters the file system's encoding cannot write. Each is an error at the field."""
    data = doc.data
    if not isinstance(data, Mapping):
        return
    parts: list[tuple[Mapping[str, Any], JsonPath]] = []
    if kind == "test":
        for key in ("policy", "project"):
            value = data.get(key)
            if isinstance(value, str):
                yield from _path_field(doc, value, (key,), f"{key} (a file path)")
            elif isinstance(value, Mapping):
                parts.append((value, (key,)))
    else:
        parts.append((data, ()))
    for part, base in parts:
        settings = part.get("settings")
        if isinstance(settings, Mapping) and isinstance(settings.get("state"), str):
            yield from _path_field(doc, settings["state"], (*base, "settings", "state"), "settings.state")
        pools = part.get("pools")
        for index, pool in enumerate(pools if isinstance(pools, list) else ()):
            if isinstance(pool, Mapping) and isinstance(pool.get("selectorScript"), str):
                yield from _path_field(doc, pool["selectorScript"], (*base, "pools", index, "selectorScript"),
                                       "selectorScript")

def _path_field(doc: LoadedDocument, value: str, path: JsonPath, what: str) -> Iterator[Diagnostic]:
    problem = _unusable_in_path(value)
    if problem is not None:
        yield doc.diagnostic("path", f"{what} {problem}, so it cannot name a file", path,
                             hint="write the path as plain text (no \\0 or \\uD800-\\uDFFF escapes)")

def _unusable_in_path(value: str) -> str | None:
    """Why ``value`` cannot be a file name or URL path on this system, or None when it can."""
    if "\0" in value:
        return f"contains a NUL byte (at character {value.index(chr(0)) + 1})"
    for position, char in enumerate(value, start=1):
        if 0xD800 <= ord(char) <= 0xDFFF:
            return f"contains a lone surrogate {char!a} (at character {position}), which is not text"
    try:
        os.fsencode(value)
    except UnicodeEncodeError as exc:
        return (f"contains {value[exc.start]!a} (at character {exc.start + 1}), which the file system's "
                f"encoding ({sys.getfilesystemencoding()}) cannot write")
    return None

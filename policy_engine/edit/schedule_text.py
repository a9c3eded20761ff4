"""Human schedule input (``9-17 mon-fri``) read into the policy's window format, and back.

:func:`parse_window` accepts what pi-multi-pass's schedule prompt accepts, plus the forms people
type anyway, and turns one text into one window mapping (DESIGN §3 "Schedules"):

- ``9-17``, ``09:00-18:00``, ``9am-5pm``: ``hours: [9, 17]`` (``[start, end)``, whole hours);
  ``22-6`` wraps past midnight; ``0-24`` is the whole day (24 only ends a window);
- ``mon-fri``, ``sat,sun``, ``mon``, ``Monday``: ``days``; ``weekdays`` / ``weekends`` are
  ``mon-fri`` / ``sat-sun`` and ``daily`` is every day;
- ``2026-06-01..2026-06-30``: ``dateRange`` (inclusive; either end may be left open);
- ``cron 0 17 * * * for 16h``: a cron window that opens at each fire and lasts the duration.

Tokens are separated by spaces or commas, in any order. Day ranges are written out as day names
(``mon-fri`` becomes ``[mon, tue, wed, thu, fri]``), in week order, because pi-multi-pass itself
only matches single day names at run time, so a policy written here stays readable by it.
``mon-sun`` is the whole week (pi-multi-pass read it as Sunday only), written as all seven days.

Anything unreadable is an error that names the token and shows the accepted forms, never a
silently "always open" window (pi-multi-pass saved ``09:00-18:00`` as always-preferred).
Minutes other than ``:00`` are refused (windows are whole hours), and so is ``9-9`` (a window
that never opens).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from policy_engine.common.durations import parse_duration
from policy_engine.policy.days import DAY_NAMES, expand_days

__all__ = ["FORMS_HINT", "ScheduleTextError", "format_window", "parse_window"]

#: The accepted forms, shown with every error.
FORMS_HINT = ("write hours as 9-17, 09:00-18:00, 9am-5pm or 22-6 (past midnight); days as mon-fri, sat,sun, "
              "weekdays or weekends; dates as 2026-06-01..2026-06-30; or cron 0 17 * * * for 16h")

_DAY_WORDS: dict[str, str] = {}
for _short, _aliases in {
    "mon": ("monday",), "tue": ("tues", "tuesday"), "wed": ("weds", "wednesday"),
    "thu": ("thur", "thurs", "thursday"), "fri": ("friday",), "sat": ("saturday",), "sun": ("sunday",),
}.items():
    _DAY_WORDS[_short] = _short
    for _alias in _aliases:
        _DAY_WORDS[_alias] = _short
_KEYWORDS = {"weekdays": "mon-fri", "weekday": "mon-fri", "weekends": "sat-sun", "weekend": "sat-sun"}
_ANY_DAY = {"daily", "everyday"}
_TIME = r"\d{1,2}(?::\d{2})?\s*(?:am|pm)?"
_HOURS = re.compile(rf"^(?P<start>{_TIME})\s*(?:-|–|to)\s*(?P<end>{_TIME})$", re.IGNORECASE)
_ONE_TIME = re.compile(rf"^{_TIME}$", re.IGNORECASE)
_DATE = r"\d{4}-\d{2}-\d{2}"
_DATES = re.compile(rf"^(?P<from>{_DATE})?\.\.(?P<to>{_DATE})?$")
_SINGLE_DATE = re.compile(rf"^{_DATE}$")


class ScheduleTextError(ValueError):
    """Schedule text that cannot be read; ``hint`` says what can be written instead."""

    def __init__(self, message: str, hint: str = FORMS_HINT) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def parse_window(text: str) -> dict[str, Any]:
    """Read one window from human text (see the module docstring); raise :class:`ScheduleTextError`."""
    if not isinstance(text, str) or not text.strip():
        raise ScheduleTextError("an empty window; leave out --window for a member that is always active")
    stripped = " ".join(text.split())
    if stripped.lower().startswith("cron ") or stripped.lower().startswith("cron:"):
        window = _parse_cron(stripped)
    else:
        window = _parse_plain(stripped)
    _check_window(window, text)
    return window


def _tokens(text: str) -> list[str]:
    # "9 - 17" and "9am - 5pm" are one token; commas separate like spaces.
    joined = re.sub(r"\s*(-|–|\.\.)\s*", r"\1", text.replace(",", " "))
    joined = re.sub(r"(?i)(\d)\s+(am|pm)\b", r"\1\2", joined)
    joined = re.sub(r"(?i)\b(\d{1,2}(?::\d{2})?(?:am|pm)?)\s+to\s+(\d{1,2}(?::\d{2})?(?:am|pm)?)\b", r"\1-\2", joined)
    return joined.split()


def _parse_plain(text: str) -> dict[str, Any]:
    hours: tuple[int, int] | None = None
    days: list[str] = []
    date_range: dict[str, str] | None = None
    for token in _tokens(text):
        lower = token.lower()
        if lower in _ANY_DAY:
            days.extend(d for d in DAY_NAMES if d not in days)
            continue
        match = _HOURS.match(token)
        if match:
            if hours is not None:
                raise ScheduleTextError(f"two hour ranges in {text!r}: {_hours_text(hours)} and {token}",
                                        "one window has one hour range; repeat --window for a second window")
            hours = _read_hours(match.group("start"), match.group("end"), token)
            continue
        found_days = _read_days(lower)
        if found_days is not None:
            days.extend(d for d in found_days if d not in days)
            continue
        dates = _DATES.match(token) or (_SINGLE_DATE.match(token) and _DATES.match(f"{token}..{token}"))
        if dates:
            if date_range is not None:
                raise ScheduleTextError(f"two date ranges in {text!r}",
                                        "one window has one date range; repeat --window for a second window")
            date_range = _read_dates(dates.group("from"), dates.group("to"), token)
            continue
        raise ScheduleTextError(_unreadable(token, text))
    window: dict[str, Any] = {}
    if hours is not None:
        window["hours"] = list(hours)
    if days:
        window["days"] = [d for d in DAY_NAMES if d in days]
    if date_range is not None:
        window["dateRange"] = date_range
    return window


def _unreadable(token: str, text: str) -> str:
    if _ONE_TIME.match(token):
        return f"cannot read {token!r} in {text!r}: an hour range needs a start and an end, such as 9-17"
    if re.fullmatch(r"\d{4}-\d{1,2}-\d{1,2}(\.\.\S*)?|\S*\.\.\S*", token):
        return f"cannot read the dates {token!r} in {text!r}: write YYYY-MM-DD..YYYY-MM-DD"
    return f"cannot read {token!r} in the window {text!r}"


def _read_time(raw: str, token: str, *, end: bool) -> int:
    raw = raw.strip().lower().replace(" ", "")
    suffix = raw[-2:] if raw.endswith(("am", "pm")) else ""
    body = raw[:-2] if suffix else raw
    hour_text, _, minute_text = body.partition(":")
    hour = int(hour_text)
    if minute_text and int(minute_text) != 0:
        raise ScheduleTextError(f"{token!r}: windows run in whole hours, so {raw!r} cannot be used",
                                "write the hour the window starts or ends, e.g. 9-17 or 09:00-17:00")
    if suffix:
        if not 1 <= hour <= 12:
            raise ScheduleTextError(f"{token!r}: {raw!r} is not a time (am/pm hours are 1 to 12)")
        hour = hour % 12 + (12 if suffix == "pm" else 0)
        if end and hour == 0:
            hour = 24  # "9pm-12am" ends at midnight
    if end and not 0 <= hour <= 24:
        raise ScheduleTextError(f"{token!r}: a window ends at an hour from 0 to 24, not {hour}")
    if not end and not 0 <= hour <= 23:
        raise ScheduleTextError(f"{token!r}: a window starts at an hour from 0 to 23, not {hour}",
                                "24 can only end a window: 0-24 is the whole day")
    return hour


def _read_hours(start_text: str, end_text: str, token: str) -> tuple[int, int]:
    start = _read_time(start_text, token, end=False)
    end = _read_time(end_text, token, end=True)
    if start == end:
        raise ScheduleTextError(f"{token!r} never opens: a window from {start} to {end} is empty",
                                "write 0-24 for the whole day; hours are [start, end): 9-17 is 09:00 to 17:00")
    return start, end


def _read_days(lower: str) -> list[str] | None:
    """The days a token names, in week order; None when the token is not about days.

    Ranges are inclusive: ``fri-mon`` wraps, ``tue-mon`` (back onto its start) is the whole week.
    """
    if lower in _KEYWORDS:
        return list(expand_days([_KEYWORDS[lower]]))
    single = _DAY_WORDS.get(lower)
    if single is not None:
        return [single]
    first, sep, last = lower.partition("-")
    if not sep:
        return None
    start, end = _DAY_WORDS.get(first), _DAY_WORDS.get(last)
    if start is not None and end is not None:
        return list(expand_days([f"{start}-{end}"]))
    if start is not None or end is not None:
        bad = last if start is not None else first
        raise ScheduleTextError(f"{lower!r}: {bad!r} is not a day", "days are mon, tue, wed, thu, fri, sat, sun")
    return None


def _read_dates(first: str | None, last: str | None, token: str) -> dict[str, str]:
    if first is None and last is None:
        raise ScheduleTextError(f"{token!r}: a date range needs at least one date, such as 2026-06-01..2026-06-30")
    parsed: dict[str, date] = {}
    for key, value in (("from", first), ("to", last)):
        if value is None:
            continue
        try:
            parsed[key] = date.fromisoformat(value)
        except ValueError:
            raise ScheduleTextError(f"{token!r}: {value} is not a date", "write dates as YYYY-MM-DD") from None
    if "from" in parsed and "to" in parsed and parsed["from"] > parsed["to"]:
        raise ScheduleTextError(f"{token!r}: the range ends before it starts",
                                "write the earlier date first: 2026-06-01..2026-06-30")
    return {key: value.isoformat() for key, value in parsed.items()}


def _parse_cron(text: str) -> dict[str, Any]:
    body = text[5:].strip().lstrip(":").strip()
    expr, sep, rest = body.rpartition(" for ")
    if not sep:
        raise ScheduleTextError(f"{text!r}: a cron window needs a duration",
                                "write cron EXPR for DURATION, e.g. cron 0 17 * * * for 16h")
    expr = expr.strip().strip("'\"")
    fields = expr.split()
    if len(fields) != 5:
        raise ScheduleTextError(f"{text!r}: {expr!r} is not a cron expression of five fields",
                                "minute hour day month weekday, e.g. cron 0 22 * * fri for 10h")
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise ScheduleTextError(f"{text!r}: {expr!r} is not a valid cron expression",
                                "minute hour day month weekday, e.g. cron 0 22 * * fri for 10h")
    duration_text, *tail = rest.split()
    try:
        seconds = parse_duration(duration_text).total_seconds()
    except ValueError:
        raise ScheduleTextError(f"{text!r}: {duration_text!r} is not a duration",
                                "write a duration such as 90m, 16h or 1h30m") from None
    if seconds <= 0:
        raise ScheduleTextError(f"{text!r}: a cron window must last longer than 0")
    window: dict[str, Any] = {"cron": expr, "duration": duration_text}
    for token in tail:
        dates = _DATES.match(token)
        if not dates or "dateRange" in window:
            raise ScheduleTextError(f"cannot read {token!r} after the duration in {text!r}",
                                    "only a date range may follow: cron 0 17 * * * for 16h 2026-06-01..2026-06-30")
        window["dateRange"] = _read_dates(dates.group("from"), dates.group("to"), token)
    return window


def _check_window(window: Mapping[str, Any], text: str) -> None:
    """The engine's own window parser must accept what was read (a safety net, never expected to fail)."""
    from policy_engine.policy.schedule import Window

    try:
        Window.from_dict(window)
    except ValueError as exc:
        raise ScheduleTextError(f"{text!r}: {exc}") from None


def _hours_text(hours: tuple[int, int] | list[int]) -> str:
    return f"{hours[0]}-{hours[1]}"


def format_window(window: Mapping[str, Any]) -> str:
    """A window mapping as the text :func:`parse_window` reads (``9-17 mon-fri``); for status views."""
    parts: list[str] = []
    if "cron" in window:
        parts.append(f"cron {window['cron']} for {window.get('duration')}")
    hours = window.get("hours")
    if isinstance(hours, list | tuple) and len(hours) == 2:
        parts.append(_hours_text(hours))
    days = window.get("days")
    if isinstance(days, list | tuple) and days:
        parts.append(_compact_days([str(d) for d in days]))
    date_range = window.get("dateRange")
    if isinstance(date_range, Mapping):
        parts.append(f"{date_range.get('from') or ''}..{date_range.get('to') or ''}")
    return " ".join(parts) or "always"


def _compact_days(days: list[str]) -> str:
    """``[mon, tue, wed, thu, fri]`` as ``mon-fri``; anything else joined by commas."""
    if all(d in DAY_NAMES for d in days):
        indexes = [DAY_NAMES.index(d) for d in days]
        if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[0] + len(indexes))):
            return f"{days[0]}-{days[-1]}"
    return ",".join(days)

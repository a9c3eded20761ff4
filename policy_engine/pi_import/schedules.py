"""Converting pi-multi-pass schedules (``memberSchedule``) into windows mp-policy accepts.

pi-multi-pass matched a window when the local hour ``h`` (an integer) satisfied ``start <= h < end``
(or ``h >= start || h < end`` past midnight), when today's lowercase three-letter name was *exactly*
one of ``days``, and when today's date, as text, lay inside ``dateRange``. Windows mp-policy
accepts are kept as written; the others are rewritten to the hours pi found active, to the day
names it would have needed, or left out when they never opened, and a preferred member left with
no window at all (never active in pi, used only as a last resort) becomes ``overflow``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from policy_engine.pi_import.collect import Collector, JsonPath
from policy_engine.policy.days import check_days
from policy_engine.policy.schedule import DAY_NAMES

__all__ = ["convert_member_schedule"]

_ROLES = ("preferred", "default", "overflow")
_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_DATE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_WINDOW_KEYS = ("hours", "days", "dateRange", "cron", "duration")


def convert_member_schedule(value: Any, path: JsonPath, report: Collector, what: str) -> dict[str, Any] | None:
    """A pool's ``memberSchedule`` as mp-policy reads it (None when it is not an object at all)."""
    if not isinstance(value, Mapping):
        report.add("wrong-type", "dropped", path, f"{what}: memberSchedule is not an object; left out")
        return None
    out: dict[str, Any] = {}
    for member, entry in value.items():
        where = (*path, member)
        who = f"{what}, member {member!r}"
        if not isinstance(entry, Mapping):
            report.add("wrong-type", "dropped", where, f"{who}: the schedule is not an object; left out "
                       "(the member is a default member, as in pi-multi-pass)")
            continue
        report.drop_unknown(entry, ("role", "windows"), where, who)
        result: dict[str, Any] = {}
        role = entry.get("role")
        if "role" in entry:
            if role in _ROLES:
                result["role"] = role
            else:
                role = "overflow"
                result["role"] = role
                report.add("unknown-role", "rewritten", (*where, "role"),
                           f"{who}: pi-multi-pass left members with the role {entry['role']!r} out of its order "
                           "and used them only when nothing else was left; written as overflow (used last)")
        if "windows" in entry:
            windows = entry["windows"]
            if not isinstance(windows, list):
                report.add("wrong-type", "dropped", (*where, "windows"), f"{who}: windows is not a list; left out")
            else:
                converted = [_window(w, (*where, "windows", j), report, who) for j, w in enumerate(windows)]
                kept = [w for w in converted if w is not None]
                if windows and not kept and role == "preferred":
                    result["role"] = "overflow"
                    report.add("never-active", "rewritten", (*where, "windows"),
                               f"{who}: none of its windows ever opened, so pi-multi-pass used this preferred "
                               "member only as a last resort; written as overflow (used last) without windows")
                elif kept or not windows:
                    result["windows"] = kept
        out[member] = result
    return out


def _window(window: Any, path: JsonPath, report: Collector, who: str) -> dict[str, Any] | None:
    """A window as mp-policy reads it, or None when it never opened in pi-multi-pass (or cannot be read)."""
    if not isinstance(window, Mapping):
        report.add("wrong-type", "dropped", path, f"{who}: a window is not an object; left out")
        return None
    report.drop_unknown(window, _WINDOW_KEYS, path, who)
    out: dict[str, Any] = {}
    if "cron" in window or "duration" in window:  # mp-policy's own cron windows: carried over as written
        return {k: window[k] for k in _WINDOW_KEYS if k in window}
    if "hours" in window:
        hours = _hours(window["hours"], (*path, "hours"), report, who)
        if hours is None:
            return None
        if hours:
            out["hours"] = hours
    if "days" in window:
        days = _days(window["days"], (*path, "days"), report, who)
        if days is None:
            return None
        out["days"] = days
    if "dateRange" in window:
        date_range = _date_range(window["dateRange"], (*path, "dateRange"), report, who)
        if date_range is None:
            return None
        out["dateRange"] = date_range
    if not out:  # {} (or only unknown keys): every condition holds, so pi-multi-pass found it always open
        report.add("empty-window", "rewritten", path, f"{who}: an empty window was open all the time in "
                   "pi-multi-pass; written as hours [0, 24] (an empty window is an error in YAML)")
        return {"hours": [0, 24]}
    return out


def _hours(value: Any, path: JsonPath, report: Collector, who: str) -> list[int] | None:
    """``[start, end]`` as written when mp-policy accepts it; else the hours pi-multi-pass found active."""
    if (isinstance(value, list) and len(value) == 2
            and all(isinstance(h, int) and not isinstance(h, bool) for h in value)
            and 0 <= value[0] <= 23 and 0 <= value[1] <= 24 and value[0] != value[1]):
        return list(value)
    if not (isinstance(value, list) and len(value) == 2
            and all(isinstance(h, int | float) and not isinstance(h, bool) and math.isfinite(h) for h in value)):
        report.add("hours", "dropped", path, f"{who}: hours {value!r} is not [start, end]; pi-multi-pass never "
                   "matched this window, so it is left out")
        return None
    start, end = value
    active = [h for h in range(24) if (start <= h < end if start <= end else (h >= start or h < end))]
    if not active:
        report.add("hours", "dropped", path,
                   f"{who}: hours {value!r} never matched an hour in pi-multi-pass (an empty window), so the "
                   "window is left out; mp-policy rejects it (write [0, 24] for the whole day)")
        return None
    if len(active) == 24:
        report.add("hours", "rewritten", path, f"{who}: hours {value!r} covered the whole day in pi-multi-pass; "
                   "written as [0, 24]")
        return [0, 24]
    first = next(h for h in active if (h - 1) % 24 not in active)
    last = next(h for h in active if (h + 1) % 24 not in active)
    fixed = [first, last + 1 if last < 23 else 24]
    if fixed[1] == 24 and first == 0:
        fixed = [0, 24]
    report.add("hours", "rewritten", path,
               f"{who}: hours {value!r} are whole hours 0-24 in mp-policy; pi-multi-pass matched "
               f"{first:02d}:00-{(last + 1) % 24:02d}:00, written as {fixed}")
    return fixed


def _fix_day(text: str) -> str | None:
    lower = text.strip().lower().rstrip(".")
    if lower in DAY_NAMES:
        return lower
    for short, full in zip(DAY_NAMES, _FULL_DAYS, strict=True):
        if len(lower) >= 3 and full.startswith(lower):
            return short
    return None


def _days(value: Any, path: JsonPath, report: Collector, who: str) -> list[str] | None:
    """Day items mp-policy accepts as written; capitalised or long names made short; others left out."""
    if not isinstance(value, list):
        report.add("wrong-type", "dropped", path, f"{who}: days is not a list; pi-multi-pass never matched this "
                   "window, so it is left out")
        return None
    problems = {p.index for p in check_days(value)}
    out: list[str] = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            report.add("days", "dropped", (*path, i), f"{who}: {item!r} is not a day; left out")
            continue
        if i not in problems:
            out.append(item)
            continue
        parts = [_fix_day(part) for part in item.split("-")] if item.count("-") <= 1 else [None]
        if all(parts) and len(parts) == 2 and parts[0] == parts[1]:
            parts = parts[:1]
        if all(parts):
            fixed = "-".join(p for p in parts if p)
            out.append(fixed)
            report.add("days", "rewritten", (*path, i),
                       f"{who}: pi-multi-pass compared day names exactly, so {item!r} never matched and this "
                       f"window never opened on it; written as {fixed!r}, which opens it there")
        else:
            report.add("days", "dropped", (*path, i),
                       f"{who}: {item!r} is not a day, and pi-multi-pass never matched it; left out")
    if value and not out:
        report.add("never-active", "dropped", path,
                   f"{who}: no day in {value!r} ever matched in pi-multi-pass, so the window never opened; left out")
        return None
    return out


def _date_range(value: Any, path: JsonPath, report: Collector, who: str) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        report.add("wrong-type", "dropped", path, f"{who}: dateRange is not an object; the window is left out")
        return None
    report.drop_unknown(value, ("from", "to"), path, who)
    out: dict[str, str] = {}
    for key in ("from", "to"):
        if key not in value:
            continue
        text = value[key]
        match = _DATE.match(text) if isinstance(text, str) else None
        parsed = None
        if match:
            try:
                parsed = date(int(match[1]), int(match[2]), int(match[3]))
            except ValueError:
                parsed = None
        if parsed is None:
            report.add("date", "dropped", (*path, key), f"{who}: dateRange.{key} {text!r} is not a date; left out "
                       "(the window is not limited on that side)")
            continue
        out[key] = parsed.isoformat()
        if out[key] != text:
            report.add("date", "rewritten", (*path, key),
                       f"{who}: pi-multi-pass compared dates as text, so {text!r} did not mean {out[key]}; "
                       f"written as {out[key]!r}")
    if "from" in out and "to" in out and out["from"] > out["to"]:
        report.add("never-active", "dropped", path,
                   f"{who}: dateRange ends before it starts, so the window never opened in pi-multi-pass; left out")
        return None
    return out

"""Week days as policies write them (``mon``, ``mon-fri``, full names): checking and expanding day lists."""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    pass

__all__ = ["DAY_NAMES", "DayProblem", "check_days", "expand_days"]


DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_FULL_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")

_DAYS_HINT = "days are mon, tue, wed, thu, fri, sat, sun, or ranges such as mon-fri"

class DayProblem(NamedTuple):
    """A bad item of a window's ``days``: its index, what is wrong and how to fix it."""

    index: int
    message: str
    hint: str | None

def check_days(items: Sequence[Any]) -> list[DayProblem]:
    """Check the items of a window's ``days`` (``mon``, ``mon-fri``, ``fri-mon``); strings only."""
    problems = []
    for index, item in enumerate(items):
        if isinstance(item, str):
            problem = _day_problem(item)
            if problem:
                problems.append(DayProblem(index, *problem))
    return problems

def expand_days(items: Sequence[str]) -> tuple[str, ...]:
    """The days named by ``items``, in week order: ``[fri-mon]`` gives mon, fri, sat, sun.

    ``mon-sun`` is the whole week. Raises :class:`ValueError` on an item :func:`check_days` rejects.
    """
    chosen: set[int] = set()
    for item in items:
        problem = _day_problem(item)
        if problem:
            raise ValueError(problem[0])
        start, _, end = item.partition("-")
        first = DAY_NAMES.index(start)
        last = DAY_NAMES.index(end or start)
        span = (last - first) % 7
        chosen.update((first + step) % 7 for step in range(span + 1))
    return tuple(DAY_NAMES[i] for i in sorted(chosen))

def _day_problem(item: str) -> tuple[str, str | None] | None:
    parts = item.split("-")
    if len(parts) > 2 or not all(parts):
        return f"'{item}' is not a day or a range of days", _DAYS_HINT
    fixed = [_fix_day(part) for part in parts]
    if any(fix != part for fix, part in zip(fixed, parts, strict=True)):
        suggestion = "-".join(f for f in fixed if f) if all(fixed) else None
        what = "range of days" if len(parts) == 2 else "day"
        hint = f"did you mean '{suggestion}'? {_DAYS_HINT}" if suggestion else _DAYS_HINT
        return f"unknown {what} '{item}'", hint
    if len(parts) == 2 and parts[0] == parts[1]:
        return (
            f"'{item}' is a range from a day to itself",
            f"write '{parts[0]}' for that day, or 'mon-sun' for the whole week",
        )
    return None

def _fix_day(text: str) -> str | None:
    """The day name ``text`` most likely means (itself when it is one), or None."""
    if text in DAY_NAMES:
        return text
    lower = text.lower().strip(".")
    if lower in DAY_NAMES:
        return lower
    for short, full in zip(DAY_NAMES, _FULL_DAYS, strict=True):
        if len(lower) >= 3 and full.startswith(lower):
            return short
    close = difflib.get_close_matches(lower, [*DAY_NAMES, *_FULL_DAYS], n=1, cutoff=0.6)
    if close:
        name = close[0]
        return name if name in DAY_NAMES else DAY_NAMES[_FULL_DAYS.index(name)]
    return None

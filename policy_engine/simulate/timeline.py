"""The compact text timeline of a simulation: runs per route, and an hours-by-day grid.

Per route, each run of steps with the same answer is one line — when it starts and ends (local
time), how long it lasts, the account and model (or "none" and when to retry) and why it began
(the event, cooldown end, window opening or quota milestone that changed the answer). Below the
runs, when the period fits (at most 31 days, steps of at most an hour), a grid shows one
character per local hour per day: the letter of the account used longest in that hour, ``·``
when nothing was usable, blank outside the period; one legend at the end maps letters to
accounts.
"""

from __future__ import annotations

import bisect
import math
import string
from datetime import UTC, date, datetime, timedelta

from policy_engine.common.durations import format_duration
from policy_engine.common.terminal_text import printable
from policy_engine.simulate.run import Outcome, Run, SimulationResult

__all__ = ["GRID_MAX_DAYS", "HourCell", "hour_cells", "hour_grid", "letters", "render_timeline"]

#: The grid is drawn for periods up to this many days.
GRID_MAX_DAYS = 31
_LETTERS = string.ascii_uppercase + string.ascii_lowercase + string.digits
_NONE = "·"
_OTHER = "?"


def letters(result: SimulationResult) -> dict[str, str]:
    """One character per account that is a target somewhere (A-Z, a-z, 0-9, then ``?``)."""
    return {account: _LETTERS[i] if i < len(_LETTERS) else _OTHER for i, account in enumerate(result.accounts())}


def _when(moment: datetime, previous: datetime | None = None) -> str:
    if previous is not None and previous.date() == moment.date():
        return f"{moment:%H:%M}".rjust(15)
    return f"{moment:%a %m-%d %H:%M}"


def _target(outcome: Outcome, result: SimulationResult) -> str:
    if outcome.provider is not None:
        return outcome.label
    if outcome.retry_after is None:
        return "none (nothing predictable helps)"
    retry = datetime.fromtimestamp(outcome.retry_after, UTC).astimezone(result.tz)
    return f"none (retry after {retry:%a %H:%M})"


def _percent(part: int, total: int) -> str:
    value = part * 100 / total
    return "<1%" if 0 < value < 1 else f"{value:.0f}%"


def _run_line(run: Run, result: SimulationResult, width: int) -> str:
    begin = result.time_of(run.first)
    finish = result.time_of(run.stop)
    length = format_duration(timedelta(seconds=finish.timestamp() - begin.timestamp()))
    reason = "; ".join(run.reasons)
    return f"  {_when(begin)} – {_when(finish, begin)}  {length:>9}  {_target(run.outcome, result):<{width}}  {reason}"


#: One local hour of the step grid: the index of its first step and its (local date, hour).
HourCell = tuple[int, tuple[date, int]]


def _hour_key(result: SimulationResult, index: int) -> tuple[date, int]:
    local = result.time_of(index)
    return local.date(), local.hour


def hour_cells(result: SimulationResult) -> list[HourCell]:
    """The step grid cut into local hours: ``(first step index, (local date, hour))``, in step order.

    Each hour's end is computed (the next local hour starts an hour after this one's start, in
    elapsed time) and then checked against the steps on either side, so a zone whose offset changes
    at an odd moment costs a few more lookups, never a wrong cell. About three time conversions per
    hour, whatever the step: a month at 1-second steps is 744 cells, not 2.7 million lookups.
    During the repeated hour of an autumn clock change both runs of steps share one key.
    """
    cells: list[HourCell] = []
    steps = result.steps
    step_s = result.step.total_seconds()
    start_ts = result.start.timestamp()
    index = 0
    while index < steps:
        local = result.time_of(index)
        key = (local.date(), local.hour)
        boundary = local.replace(minute=0, second=0, microsecond=0).timestamp() + 3600
        stop = min(steps, max(index + 1, math.ceil((boundary - start_ts) / step_s)))
        while stop > index + 1 and _hour_key(result, stop - 1) != key:
            stop -= 1
        while stop < steps and _hour_key(result, stop) == key:
            stop += 1
        cells.append((index, key))
        index = stop
    return cells


def hour_grid(result: SimulationResult, route: str, chars: dict[str, str],
              cells: list[HourCell] | None = None) -> list[str] | None:
    """The hours-by-day rows of one route, or ``None`` when the period does not fit a grid.

    Each cell shows the account the route gave for most of that hour's steps (the first one seen
    on a tie). The work is one pass over the route's runs and the hour cells (``cells``, from
    :func:`hour_cells`, shared by all routes when given), not one per step.
    """
    if result.span > timedelta(days=GRID_MAX_DAYS + 1) or result.step > timedelta(hours=1):
        return None
    if cells is None:
        cells = hour_cells(result)
    starts = [first for first, _ in cells]
    counts: dict[tuple[date, int], dict[str | None, int]] = {}
    for run in result.runs[route]:
        index, stop = run.first, min(run.stop, result.steps)
        cell = bisect.bisect_right(starts, index) - 1
        while index < stop:
            end = starts[cell + 1] if cell + 1 < len(starts) else result.steps
            taken = min(stop, end) - index
            tally = counts.setdefault(cells[cell][1], {})
            tally[run.outcome.provider] = tally.get(run.outcome.provider, 0) + taken
            index += taken
            cell += 1
    first = result.start.date()
    last = (result.end - timedelta(microseconds=1)).date()
    rows = ["  " + " " * 9 + " " + "".join(f"{h:<6}" for h in range(0, 24, 6)).rstrip()]
    day = first
    while day <= last:
        line = []
        for hour in range(24):
            tally = counts.get((day, hour))
            if not tally:
                line.append(" ")
                continue
            provider = max(tally, key=tally.__getitem__)  # the first of the most used (insertion order)
            line.append(_NONE if provider is None else chars.get(provider, _OTHER))
        rows.append(f"  {day:%a %m-%d} " + "".join(line).rstrip())
        day += timedelta(days=1)
    return rows


def render_timeline(result: SimulationResult, *, limit: int = 40, grid: bool = True) -> str:
    """The whole text report: a header, then each route's runs (at most ``limit``) and grid, then the legend."""
    lines = [
        f"simulation {result.start:%a %Y-%m-%d %H:%M} → {result.end:%a %Y-%m-%d %H:%M} {result.tz_name} "
        f"({format_duration(result.period)}, step {format_duration(result.step)}) · "
        f"policy {result.revision}",
        f"{len(result.routes)} route(s), {len(result.events)} event(s), {len(result.changes)} change(s); "
        f"{result.evaluations:,} evaluations in {result.elapsed * 1000:.0f} ms",
    ]
    chars = letters(result)
    drew_grid = False
    cells = hour_cells(result) if grid and result.step <= timedelta(hours=1) \
        and result.span <= timedelta(days=GRID_MAX_DAYS + 1) else None
    grids: dict[tuple[tuple[int, int, str | None], ...], list[str] | None] = {}  # routes with the same runs
    for info in result.routes:
        runs = result.runs[info.label]
        total = max(result.steps, 1)
        share = ", ".join(f"{p or 'none'} {_percent(n, total)}" for p, n in result.share(info.label))
        lines += ["", f"{info.label}  ({share})"]
        if info.per_step:
            lines.append("  (a custom or plugin strategy on this route: evaluated at every step)")
        width = min(max((len(_target(r.outcome, result)) for r in runs), default=4), 48)
        for run in runs[:limit]:
            lines.append(_run_line(run, result, width))
        if len(runs) > limit:
            lines.append(f"  … {len(runs) - limit} more run(s) (--limit, or --format json / csv for all)")
        rows = None
        if cells is not None:
            shape = tuple((run.first, run.stop, run.outcome.provider) for run in runs)
            if shape not in grids:
                grids[shape] = hour_grid(result, info.label, chars, cells)
            rows = grids[shape]
        if rows:
            drew_grid = True
            lines += ["", *rows]
    if drew_grid and chars:
        legend = "  ".join(f"{c} {a}" for a, c in chars.items())
        lines += ["", f"grid: one character per hour, the account used longest in it; {_NONE} nothing usable",
                  f"legend: {legend}"]
    return "\n".join(printable(line) for line in lines)  # account names may come from auth.json or MULTI_SUB

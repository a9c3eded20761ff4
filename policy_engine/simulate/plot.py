"""A chart of a simulation (SVG or PNG, by the file's suffix), drawn with matplotlib.

One lane per route, time on the x axis in the policy's time zone (day ticks with weekday names,
hour ticks between them), a coloured bar per run in the colour of its account, hatched grey
where nothing is usable, weekends shaded, dotted red lines at failures, and a legend naming the
accounts. matplotlib is the optional extra ``mp-policy[plot]`` and is imported only here, when
a chart is asked for; without it :class:`PlotError` says how to install it. No global pyplot
state is touched (a bare ``Figure`` renders itself), so this is safe inside other programs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from policy_engine.common.durations import format_duration
from policy_engine.simulate.run import SimulationResult

__all__ = ["FORMATS", "PlotError", "plot_simulation"]

#: The suffixes a chart may be written as.
FORMATS = (".svg", ".png")
_FAIL_KINDS = frozenset({"fail", "quota-empty"})
_NONE_COLOR = "#d9d9d9"
_MAX_MARKERS = 300


class PlotError(Exception):
    """A chart cannot be drawn: matplotlib is missing, or the file name asks for another format."""


def _colors(count: int) -> list[Any]:
    from matplotlib import colormaps

    if count <= 10:
        return [colormaps["tab10"](i) for i in range(count)]
    palette = [colormaps[name](i) for name in ("tab20", "tab20b", "tab20c") for i in range(20)]
    if count <= len(palette):
        return palette[:count]
    return [colormaps["hsv"](i / count) for i in range(count)]


def _ticks(axes: Any, span: timedelta, tz: Any) -> None:
    from matplotlib import dates

    if span <= timedelta(days=2):
        axes.xaxis.set_major_locator(dates.HourLocator(byhour=range(0, 24, 3), tz=tz))
        axes.xaxis.set_major_formatter(dates.DateFormatter("%a %H:%M", tz=tz))
        axes.xaxis.set_minor_locator(dates.HourLocator(tz=tz))
    elif span <= timedelta(days=16):
        axes.xaxis.set_major_locator(dates.DayLocator(tz=tz))
        axes.xaxis.set_major_formatter(dates.DateFormatter("%a %d %b", tz=tz))
        axes.xaxis.set_minor_locator(dates.HourLocator(byhour=(6, 12, 18), tz=tz))
        axes.xaxis.set_minor_formatter(dates.DateFormatter("%H", tz=tz))
    elif span <= timedelta(days=62):
        axes.xaxis.set_major_locator(dates.WeekdayLocator(byweekday=dates.MO, tz=tz))
        axes.xaxis.set_major_formatter(dates.DateFormatter("%a %d %b", tz=tz))
        axes.xaxis.set_minor_locator(dates.DayLocator(tz=tz))
    else:
        axes.xaxis.set_major_locator(dates.MonthLocator(tz=tz))
        axes.xaxis.set_major_formatter(dates.DateFormatter("%b %Y", tz=tz))
        axes.xaxis.set_minor_locator(dates.WeekdayLocator(byweekday=dates.MO, tz=tz))
    axes.tick_params(axis="x", which="minor", labelsize=7, colors="#666666")
    axes.tick_params(axis="x", which="major", labelsize=9, pad=12 if span <= timedelta(days=16) else 4)


def _weekends(axes: Any, result: SimulationResult, num: Any) -> None:
    day = result.start.date()
    while day <= result.end.date():
        local = datetime.combine(day, datetime.min.time(), tzinfo=result.tz)
        axes.axvline(num(local), color="#bbbbbb", linewidth=0.6, zorder=0)
        if day.weekday() >= 5:
            following = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=result.tz)
            axes.axvspan(num(local), num(following), color="#f2f2f2", zorder=0, linewidth=0)
        day += timedelta(days=1)


def plot_simulation(result: SimulationResult, path: str | Path, *, title: str | None = None) -> Path:
    """Draw the chart into ``path`` (``.svg`` or ``.png``); returns the path written."""
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise PlotError(f"cannot write a chart as {target.name!r}: the file name must end in .svg or .png")
    try:
        from matplotlib import dates
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        raise PlotError("drawing a chart needs matplotlib, which is not installed; "
                        "pip install matplotlib (mp-policy's extra [plot], docs/install.md)") from None
    tz = result.tz
    routes = result.routes
    accounts = sorted(result.accounts(), key=_natural)
    colors = dict(zip(accounts, _colors(len(accounts)), strict=True))
    gaps = any(run.outcome.provider is None for runs in result.runs.values() for run in runs)
    legend_columns = max(1, min(8, len(accounts) + 2))
    legend_rows = -(-(len(accounts) + 2) // legend_columns)
    height = 1.6 + 0.5 * max(len(routes), 1) + 0.28 * legend_rows
    figure = Figure(figsize=(15, height), dpi=120, layout="constrained")
    axes = figure.add_subplot()
    epoch = dates.date2num(datetime(1970, 1, 1, tzinfo=UTC))

    def num(moment: datetime) -> float:
        return epoch + moment.timestamp() / 86400.0

    def x_of(index: int) -> float:
        return num(result.time_of(index))

    _weekends(axes, result, num)
    lanes = len(routes)
    for lane, info in enumerate(routes):
        y = lanes - 1 - lane
        spans: dict[str | None, list[tuple[float, float]]] = {}
        for run in result.runs[info.label]:
            x0, x1 = x_of(run.first), x_of(run.stop)
            spans.setdefault(run.outcome.provider, []).append((x0, x1 - x0))
        for provider, bars in spans.items():
            if provider is None:
                axes.broken_barh(bars, (y - 0.3, 0.6), facecolors=_NONE_COLOR, edgecolor="#888888", hatch="////",
                                 linewidth=0.4, zorder=2)
            else:
                axes.broken_barh(bars, (y - 0.3, 0.6), facecolors=colors[provider], linewidth=0, zorder=2)
    failures = [c for c in result.changes if c.kind in _FAIL_KINDS][:_MAX_MARKERS]
    for change in failures:
        x = epoch + change.at / 86400.0
        axes.axvline(x, color="#c0392b", linestyle=":", linewidth=0.9, zorder=3)
        axes.plot([x], [lanes - 0.45], marker="v", color="#c0392b", markersize=5, zorder=4, clip_on=False)
    axes.set_ylim(-0.6, lanes - 0.4)
    axes.set_yticks(range(lanes), [info.label for info in reversed(routes)], fontsize=9, family="monospace")
    axes.set_xlim(num(result.start), num(result.end))
    _ticks(axes, result.span, tz)
    axes.grid(axis="x", which="major", color="#999999", linewidth=0.5, alpha=0.5)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    axes.set_title(title or f"mp-policy simulate · {result.start:%a %Y-%m-%d %H:%M} – "
                   f"{result.end:%a %Y-%m-%d %H:%M} ({result.tz_name}, step {format_duration(result.step)})",
                   fontsize=11, loc="left")
    handles: list[Any] = [Patch(facecolor=colors[a], label=a) for a in accounts]
    if gaps:
        handles.append(Patch(facecolor=_NONE_COLOR, edgecolor="#888888", hatch="////", label="nothing usable"))
    if failures:
        from matplotlib.lines import Line2D

        handles.append(Line2D([], [], color="#c0392b", linestyle=":", marker="v", label="failure (event)"))
        legend_columns = max(1, min(8, len(handles)))
    figure.legend(handles=handles, loc="outside lower center", ncols=legend_columns, fontsize=8, frameon=False)
    target.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(target, format=suffix[1:])
    return target


def _natural(account: str) -> tuple[str, int]:
    """Sort key: family, then account number (``anthropic`` < ``anthropic-2`` < ``anthropic-10``)."""
    base, _, number = account.rpartition("-")
    if base and number.isdigit():
        return base, int(number)
    return account, 1


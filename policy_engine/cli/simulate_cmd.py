"""``mp-policy simulate``: which account and model each route would use over a period (default one week)."""

from __future__ import annotations

import io
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from policy_engine.cli.common import (
    EXIT_FAIL,
    EXIT_USAGE,
    common_options,
    emit_json,
    format_choices,
    load_engine,
    print_diagnostics,
)
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.durations import format_duration, parse_duration
from policy_engine.common.timezones import check_supported

if TYPE_CHECKING:
    from policy_engine.simulate.run import SimulationResult

__all__ = ["simulate_command"]


def _duration(value: str | None, option: str, default: timedelta) -> timedelta:
    """An option's duration (more than 0), else ``default``; a bad one is a usage error naming the option."""
    if value is None:
        return default
    try:
        found = parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint=option) from None
    if found <= timedelta(0):
        raise click.BadParameter(f"{value!r}: must be more than 0", param_hint=option)
    return found


def _invalid(diagnostics: list[Diagnostic], fmt: str, what: str) -> NoReturn:
    """Report an unusable event script (every problem) and exit 1."""
    if fmt == "json":
        emit_json({"valid": False, "diagnostics": [d.to_dict() for d in diagnostics]})
    else:
        print_diagnostics(diagnostics)
        errors = sum(1 for d in diagnostics if d.severity == "error")
        click.echo(f"invalid {what}: {errors} error(s)", err=True)
    sys.exit(EXIT_FAIL)


@click.command("simulate")
@click.option("--start", metavar="TIME",
              help="Where the simulation starts: an ISO-8601 time (no offset: the policy's time zone), now "
                   "(the default, rounded down to the minute), today (00:00), week (this Monday 00:00), "
                   "+DURATION or [DAY] HH:MM from now.")
@click.option("--period", metavar="DURATION", help="How long to simulate (default 7d, or the event script's).")
@click.option("--step", metavar="DURATION", help="The time step, at least 1s (default 1m, or the event script's).")
@click.option("--events", "events_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              metavar="FILE", help="Event script (YAML/JSON): rate limits, quota burn, logins at given times.")
@click.option("--route", "routes", multiple=True, metavar="KIND:NAME[@MODEL]",
              help="A route to follow: pool:NAME, chain:NAME, preset:NAME or provider:NAME, optionally with "
                   "@MODEL for pools and providers (repeatable; default: every enabled chain, preset and pool).")
@click.option("--fresh", is_flag=True,
              help="Start from an empty state instead of the store's cooldowns, cursors and quota snapshots.")
@click.option("--per-step", is_flag=True, help="JSON/CSV: one entry per step and route instead of one per run.")
@click.option("--plot", "plot_file", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.svg|FILE.png",
              help="Also draw a chart of the period (needs matplotlib: extra mp-policy[plot], docs/install.md).")
@click.option("--limit", type=click.IntRange(min=1), default=40, show_default=True,
              help="Text: at most this many runs per route.")
@click.option("--no-grid", is_flag=True, help="Text: leave out the hours-by-day grids.")
@format_choices("text", "json", "csv")
@common_options
def simulate_command(start: str | None, period: str | None, step: str | None, events_file: Path | None,
                     routes: tuple[str, ...], fresh: bool, per_step: bool, plot_file: Path | None, limit: int,
                     no_grid: bool, **options: Any) -> None:
    """Simulate a period: which account and model each route would use, when and why it changes.

    \b
    Time advances from --start over --period in steps of --step. At each step, for each
    route, the answer is what a new turn would get (Engine.select as a dry run): the account
    and model, or none with the time to retry. The engine runs on a private in-memory copy
    of the state (cooldowns, cursors, quota; --fresh: empty) with a simulated clock, and
    nothing is written to the real state. Whole days of --period are calendar days in the
    policy's time zone (a week from Monday 00:00 ends on Monday 00:00, also across a DST
    change); steps are elapsed time.

    \b
    Event script (--events FILE; see policies/demo/events.example.yaml):
      fail     an error on an account, through the engine's real fail: the real
               classification, cooldown and retry-after rules, and the pool's cursor
               moves on as it would for an agent (later turns start on the new account)
      burn     remaining quota falls by perHour % per hour (quota-first pools react);
               at 0 % a quota_exhausted 429 (retry after resetAfter), unless exhaust: false
      quota    set the remaining percent (e.g. a weekly reset)
      login / logout   credentials appear or disappear
    Times: ISO-8601, +DURATION from the start, or [DAY] HH:MM (first at or after the start).

    \b
    A dry-run select never moves a round-robin cursor: the timeline shows which account a
    new turn would start on, not how requests spread. Decisions only change when something
    happens (an event, a cooldown ending, a window opening or closing, a burning quota
    reaching 5 % or 0 % or overtaking another), so routes are evaluated at those moments
    only; routes through a custom or plugin strategy are evaluated at every step.

    \b
    Output: text is a compact timeline per route (runs with their reason, and an
    hours-by-day grid: one letter per hour for the account used longest); --format json
    gives runs, changes and events; --format csv one row per run (--per-step: per step).
    --plot writes an SVG or PNG chart (by the file's suffix).

    \b
    Examples:
      mp-policy simulate --start week
      mp-policy simulate --start 2026-11-23T00:00 --events events.yaml --plot week.png
      mp-policy simulate --route chain:main --route pool:codex@gpt-5 --format csv
      mp-policy simulate --period 1d --step 5m --format json --per-step
    """
    from policy_engine.evaluate.route import RouteError
    from policy_engine.simulate.event_reader import load_events
    from policy_engine.simulate.events import EventScript, resolve_start
    from policy_engine.simulate.plot import FORMATS
    from policy_engine.simulate.routes import default_routes, parse_route
    from policy_engine.simulate.run import simulate

    fmt = options["fmt"]
    if plot_file is not None and plot_file.suffix.lower() not in FORMATS:
        raise click.BadParameter(f"{plot_file.name!r}: the chart's file name must end in .svg or .png",
                                 param_hint="--plot")
    if per_step and fmt == "text":
        raise click.BadParameter("--per-step goes with --format json or csv", param_hint="--per-step")
    script: EventScript | None = None
    if events_file is not None:
        try:
            script = load_events(events_file)
        except PolicyError as exc:
            _invalid(list(exc.diagnostics), fmt, "event script")
    period_value = _duration(period, "--period", script.period if script and script.period else timedelta(days=7))
    step_value = _duration(step, "--step", script.step if script and script.step else timedelta(minutes=1))
    if step_value < timedelta(seconds=1):
        raise click.BadParameter("the step must be at least 1s", param_hint="--step")
    if period_value < step_value:
        raise click.BadParameter(f"the period ({format_duration(period_value)}) is shorter than one step "
                                 f"({format_duration(step_value)})", param_hint="--period")
    engine = load_engine(readonly=True, **options)
    try:
        graph = engine.graph
        if script is not None:
            problems = script.check(graph)
            if any(d.severity == "error" for d in problems):
                _invalid(problems, fmt, "event script")
        if start is None:
            start = script.start.text if script is not None and script.start is not None else "now"
        try:
            begin = resolve_start(start, datetime.now(UTC), graph.tz)
            check_supported(begin)  # year 1 or 9999 would overflow the period's end or the zone's offsets
        except (ValueError, OverflowError) as exc:
            raise click.BadParameter(str(exc) if repr(start) in str(exc) else f"{start!r}: {exc}",
                                     param_hint="--start") from None
        try:
            chosen = routes or (script.routes if script is not None else ())
            specs = [parse_route(text, graph) for text in chosen] or default_routes(graph)
        except RouteError as exc:
            raise click.BadParameter(str(exc), param_hint="--route") from None
        if not specs:
            click.echo("error: nothing to simulate: the policy has no enabled chain, preset or pool", err=True)
            click.echo("hint: name a route with --route provider:NAME, or check --agent-dir / --policy / --project",
                       err=True)
            sys.exit(EXIT_USAGE)
        try:
            result = simulate(engine, specs, start=begin, period=period_value, step=step_value, script=script,
                              fresh=fresh, per_step_rows=per_step)
        except PolicyError as exc:  # the event script repeats more than a simulation applies
            _invalid(list(exc.diagnostics), fmt, "event script")
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--period/--step") from None
    finally:
        engine.close()
    for warning in result.warnings:
        click.echo(warning, err=True)
    if plot_file is not None:
        from policy_engine.simulate.plot import PlotError, plot_simulation

        try:
            written = plot_simulation(result, plot_file)
        except PlotError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_FAIL)
        click.echo(f"chart written to {written}", err=True)
    _output(result, fmt, per_step, limit, not no_grid)


def _output(result: SimulationResult, fmt: str, per_step: bool, limit: int, grid: bool) -> None:
    from policy_engine.simulate.export import to_json, write_csv
    from policy_engine.simulate.timeline import render_timeline

    if fmt == "json":
        emit_json(to_json(result, per_step=per_step))
    elif fmt == "csv":
        buffer = io.StringIO()
        write_csv(result, buffer, per_step=per_step)
        click.echo(buffer.getvalue(), nl=False)
    else:
        click.echo(render_timeline(result, limit=limit, grid=grid))

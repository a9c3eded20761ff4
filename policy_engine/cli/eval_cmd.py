"""``mp-policy eval``: what would the engine do now (a dry run that writes nothing)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from policy_engine.cli.common import (
    EXIT_USAGE,
    check_one_start,
    common_options,
    emit_json,
    exit_on_route_error,
    load_engine,
    reject_unknown_provider,
    route_options,
    warn_unknown_provider,
)
from policy_engine.cli.render import render_decision
from policy_engine.common.terminal_text import printable

__all__ = ["eval_command"]


def _parse_fail(text: str) -> tuple[str | None, int, str]:
    provider, _, rest = text.partition(":")
    status_text, _, message = rest.partition(":")
    status = int(status_text) if status_text.strip().isascii() and status_text.strip().isdigit() else -1
    if not 100 <= status <= 599:
        raise click.BadParameter(f"{text!r}: STATUS must be an HTTP status code (100-599), e.g. anthropic:429 "
                                 "or :429 for the current target", param_hint="--fail")
    return (provider.strip() or None), status, message


@click.command("eval")
@route_options
@click.option("--at", "at", metavar="TIME",
              help="Evaluate at this ISO-8601 time instead of now (without an offset: the policy's time zone).")
@click.option("--fail", "fails", multiple=True, metavar="P:STATUS[:MESSAGE]",
              help="Then report this failure (repeatable; P may be empty for the current target).")
@click.option("--turn", help="Use this turn id (default: a fresh one).")
@click.option("--explain", is_flag=True, help="Show the route, every candidate and skip, and the reasoning.")
@click.option("--refresh", is_flag=True,
              help="First check the quota of quota-first pool members whose cached snapshot is missing or older "
                   "than settings.quotaTtl (network; writes the quota cache, nothing else).")
@common_options
def eval_command(provider: str | None, pool: str | None, chain: str | None, preset: str | None,
                 model: str | None, at: str | None, fails: tuple[str, ...], turn: str | None, explain: bool,
                 refresh: bool, **options: Any) -> None:
    """Show the decision for a new turn (a dry run: reads state, writes nothing).

    Decisions use the quota cache as it is (the strategy note says when data is stale or
    missing); --refresh checks stale quota first and saves it, as `mp-policy limits` does.

    \b
    Examples:
      mp-policy eval --pool codex --model gpt-5 --explain
      mp-policy eval --provider anthropic --fail anthropic:429 --format json
    """
    from policy_engine.common.timezones import check_supported, parse_instant
    from policy_engine.evaluate.route import RouteError

    check_one_start(provider, pool, chain, preset)
    parsed_fails = [_parse_fail(f) for f in fails]
    if at is not None and not at.strip():
        raise click.BadParameter("an empty time; write e.g. 2026-04-06T10:30:00+02:00", param_hint="--at")
    moment: list[datetime] = []
    engine = load_engine(readonly=not refresh, clock=(lambda: moment[0]) if at else None, **options)
    if refresh:
        for snap in engine.refresh_quota():
            if options["fmt"] == "text":
                click.echo(printable(f"quota: {snap.provider} {snap.status} — {snap.summary}"), err=True)
    if at:
        try:
            # A time without an offset is read in the policy's time zone (as schedules are).
            moment.append(parse_instant(at, engine.graph.tz))
        except ValueError as exc:
            raise click.BadParameter(f"{at!r} is not an ISO-8601 time (e.g. 2026-04-06T10:30:00+02:00)",
                                     param_hint="--at") from exc
        try:
            check_supported(moment[0])
        except ValueError as exc:
            raise click.BadParameter(f"{at!r}: {exc}", param_hint="--at") from None
    fmt = options["fmt"]
    reject_unknown_provider(engine, provider)
    for name in (p for p, _, _ in parsed_fails):
        warn_unknown_provider(engine, name)
    stuck: str | None = None
    try:
        dry = engine.dry_run()
        decision = dry.select(provider, pool=pool, chain=chain, preset=preset, model=model, turn=turn,
                              explain=explain)
        steps = [decision]
        for number, (fail_provider, status, message) in enumerate(parsed_fails, start=1):
            if fail_provider is None and decision.target is None:
                stuck = _no_target_to_fail(number, fails[number - 1], len(steps) - 1)
                break
            decision = dry.fail(decision.turn, provider=fail_provider, status=status, message=message,
                                explain=explain)
            steps.append(decision)
    except RouteError as exc:
        exit_on_route_error(exc, engine)
    finally:
        engine.close()
    if fmt == "json":
        out = decision.to_dict()
        if len(steps) > 1:
            out["steps"] = [s.to_dict() for s in steps[:-1]]
        emit_json(out)
    else:
        color = sys.stdout.isatty()
        empty = _why_empty(engine.graph, pool, chain, preset)
        for i, step in enumerate(steps):
            if len(steps) > 1 or stuck:
                label = "select" if i == 0 else f"fail {fails[i - 1]}"
                click.echo(click.style(f"— {label}", bold=True) if color else f"— {label}")
                if i > 0:
                    note = _late_note(parsed_fails[i - 1][0], steps[i - 1], step)
                    if note:
                        click.echo(printable(note))
            click.echo(render_decision(step, explain=explain, color=color, why_empty=empty))
    if stuck is not None:
        click.echo(f"error: {stuck}", err=True)
        sys.exit(EXIT_USAGE)


def _why_empty(graph: Any, pool: str | None, chain: str | None, preset: str | None) -> str | None:
    """Why the route of this request is empty, when the project allow-list empties what it names."""
    from policy_engine.compile.allow_list_checks import emptied_by_allow_list

    named = {"pools": pool, "chains": chain, "presets": preset}
    for found in emptied_by_allow_list(graph.allowed, graph.pools, graph.chains, graph.presets, graph.provider_pool):
        if named.get(found.section) == found.name:
            return found.message
    return None


def _no_target_to_fail(number: int, text: str, shown: int) -> str:
    """Why ``--fail`` number ``number`` (``:STATUS``, without a provider) cannot be applied."""
    after = "the select" if shown == 0 else f"--fail #{shown}"
    return (f"--fail #{number} {text!r} names no provider and there is no current target to fail: the turn "
            f"has no target after {after} (shown above); name the provider (P:STATUS) or drop this --fail")


def _late_note(named: str | None, before: Any, after: Any) -> str | None:
    """What a ``--fail P:...`` did when ``P`` was not the turn's current target (a late failure, DESIGN §4)."""
    current = before.target.provider if before.target is not None else None
    if named is None or named == current:
        return None
    where = f"the current target is {current}" if current else "the turn has no current target"
    if after.error is not None and not after.error.rotate:
        return f"{named} is not the current target ({where}): a late failure that does not rotate changes nothing"
    return (f"{named} is not the current target ({where}): a late failure; {named} is cooled down and left out "
            "of this turn, which goes on from where it was")



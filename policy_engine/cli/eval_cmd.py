"""``mp-policy eval``: what would the engine do now (a dry run that writes nothing)."""

from __future__ import annotations

import sys
from datetime import datetime
from typing import Any

import click

from policy_engine.cli.common import (
    check_one_start,
    common_options,
    emit_json,
    exit_on_route_error,
    load_engine,
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
    for name in (provider, *(p for p, _, _ in parsed_fails)):
        warn_unknown_provider(engine, name)
    try:
        dry = engine.dry_run()
        decision = dry.select(provider, pool=pool, chain=chain, preset=preset, model=model, turn=turn,
                              explain=explain)
        steps = [decision]
        for fail_provider, status, message in parsed_fails:
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
        return
    color = sys.stdout.isatty()
    for i, step in enumerate(steps):
        if len(steps) > 1:
            label = "select" if i == 0 else f"fail {fails[i - 1]}"
            click.echo(click.style(f"— {label}", bold=True) if color else f"— {label}")
        click.echo(render_decision(step, explain=explain, color=color))



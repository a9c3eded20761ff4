"""``mp-policy select | fail | succeed``: the engine's three calls as one-shot commands that write state.

The same calls as ``mp-policy serve`` answers, for shell-driven agents: ``select`` starts a turn
and prints its decision (with the turn id), ``fail`` reports an error on a turn and prints where
to go next, ``succeed`` ends a turn. State goes to the store ``--state`` names (default: the
SQLite file in the agent directory), so a later command continues the same turn. ``eval`` stays
the dry run.

Exit codes: 0 with a decision (also one without a target: the JSON says ``target: null`` and
``retryAfter``); 1 for an invalid policy or a broken state store; 2 for a usage error, including
a request the engine cannot answer: an unknown pool, chain or preset, or a ``fail`` without
``--provider`` on a turn that is unknown, expired or has no current target (the engine's message
says which).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import click

from policy_engine.cli.common import (
    check_one_start,
    common_options,
    emit_json,
    exit_on_route_error,
    exit_on_state_error,
    load_engine,
    reject_unknown_provider,
    route_options,
    warn_unknown_provider,
)
from policy_engine.cli.render import render_decision
from policy_engine.common.terminal_text import printable

__all__ = ["fail_command", "parse_headers", "read_body", "select_command", "succeed_command"]

MAX_BODY = 1 << 20  # bytes of --body read at most


def parse_headers(values: tuple[str, ...]) -> dict[str, str] | None:
    """``K:V`` options as a mapping; a repeated name joins its values with ``, `` (as HTTP does)."""
    headers: dict[str, str] = {}
    for text in values:
        name, sep, value = text.partition(":")
        name = name.strip()
        if not sep or not name:
            raise click.BadParameter(f"{text!r}: write NAME:VALUE, e.g. retry-after:30", param_hint="--header")
        value = value.strip()
        key = next((k for k in headers if k.lower() == name.lower()), name)
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return headers or None


def read_body(stream: IO[bytes] | None) -> Any:
    """The error body from ``--body FILE`` or ``-`` (stdin): parsed JSON, else (also for JSON nested too
    deeply to parse) the text itself."""
    if stream is None:
        return None
    data = stream.read(MAX_BODY + 1)
    if len(data) > MAX_BODY:
        raise click.BadParameter(f"the body is over {MAX_BODY} bytes; pass the error body the provider sent",
                                 param_hint="--body")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise click.BadParameter("the body is not UTF-8 text", param_hint="--body") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested too deeply to parse: the engine gets the text
        return text


@contextmanager
def _answering(engine: Any, route_hint: str | None = None) -> Iterator[None]:
    """Around the engine's one call: a request it cannot answer exits 2 (with ``route_hint``), a broken state
    store exits 1, and the engine is closed either way."""
    from policy_engine.evaluate.route import RouteError
    from policy_engine.state import StateError

    try:
        yield
    except RouteError as exc:
        exit_on_route_error(exc, engine, route_hint)
    except StateError as exc:
        exit_on_state_error(exc)
    finally:
        engine.close()


def _print(decision: Any, fmt: str, explain: bool) -> None:
    if fmt == "json":
        emit_json(decision.to_dict())
        return
    click.echo(render_decision(decision, explain=explain, color=sys.stdout.isatty()))
    click.echo(f"turn: {printable(decision.turn)}")


@click.command("select")
@route_options
@click.option("--prompt", help="The prompt (custom selectors see it).")
@click.option("--turn", help="Use this turn id (default: a fresh one, printed).")
@click.option("--explain", is_flag=True, help="Show the route, every candidate and skip, and the reasoning.")
@click.option("--label", help="Name the caller (e.g. agent/session) in the decision trace (mp-policy trace).")
@common_options
def select_command(provider: str | None, pool: str | None, chain: str | None, preset: str | None,
                   model: str | None, prompt: str | None, turn: str | None, explain: bool, label: str | None,
                   **options: Any) -> None:
    """Start a turn: print the account and model to use, and write the turn to the state.

    The text output ends with `turn: ID`; pass it to `mp-policy fail --turn ID` when the
    request fails, and to `mp-policy succeed --turn ID` when it works.

    \b
    Examples:
      mp-policy select --chain main --format json
      mp-policy select --pool claude --model claude-sonnet-4-5
    """
    check_one_start(provider, pool, chain, preset)
    engine = load_engine(readonly=False, **options)
    reject_unknown_provider(engine, provider)
    with _answering(engine):
        decision = engine.select(provider, pool=pool, chain=chain, preset=preset, model=model, prompt=prompt,
                                 turn=turn, explain=explain, label=label)
    _print(decision, options["fmt"], explain)


@click.command("fail")
@click.option("--turn", help="The turn that failed (from select); without it, --provider starts a turn.")
@click.option("--provider", help="The account that failed (default: the turn's current target).")
@click.option("--model", help="The model that failed (default: the turn's).")
@click.option("--status", type=click.IntRange(100, 599), help="The HTTP status of the failed response.")
@click.option("--message", default="", help="The error message.")
@click.option("--type", "kind", help="The error type (e.g. rate_limit_error).")
@click.option("--code", help="The error code.")
@click.option("--header", "headers", multiple=True, metavar="K:V", help="A response header (repeatable).")
@click.option("--body", type=click.File("rb"), metavar="FILE|-",
              help="The response body (JSON or text; - reads stdin).")
@click.option("--prompt", help="The prompt (custom selectors see it).")
@click.option("--explain", is_flag=True, help="Show the route, every candidate and skip, and the reasoning.")
@click.option("--label", help="Name the caller (e.g. agent/session) in the decision trace (mp-policy trace).")
@common_options
def fail_command(turn: str | None, provider: str | None, model: str | None, status: int | None, message: str,
                 kind: str | None, code: str | None, headers: tuple[str, ...], body: IO[bytes] | None,
                 prompt: str | None, explain: bool, label: str | None, **options: Any) -> None:
    """Report an error on a turn: cool the account down if the error rotates, and print where to go next.

    Exit 2 when the engine has nothing to blame: no --provider and a turn that is unknown,
    expired (settings.turnTtl after its last change) or without a current target.

    \b
    Examples:
      mp-policy fail --turn 3f2a9c0d1e4b5a69 --status 429 --header retry-after:120
      mp-policy fail --turn 3f2a9c0d1e4b5a69 --status 429 --body response.json --format json
    """
    if turn is None and provider is None:
        raise click.UsageError("name the turn that failed (--turn) or the account that failed (--provider)")
    parsed_headers = parse_headers(headers)
    parsed_body = read_body(body)
    engine = load_engine(readonly=False, **options)
    warn_unknown_provider(engine, provider)
    with _answering(engine, "name the account that failed with --provider; a turn is forgotten settings.turnTtl "
                            "(1 h) after its last change"):
        decision = engine.fail(turn, provider=provider, model=model, status=status, message=message, type=kind,
                               code=code, headers=parsed_headers, body=parsed_body, prompt=prompt, explain=explain,
                               label=label)
    _print(decision, options["fmt"], explain)


@click.command("succeed")
@click.option("--turn", required=True, help="The turn that worked (from select).")
@click.option("--provider", help="The account that answered (default: the turn's current target).")
@click.option("--header", "headers", multiple=True, metavar="K:V",
              help="A response header (repeatable); quota headers update the quota cache.")
@click.option("--label", help="Name the caller (e.g. agent/session) in the decision trace (mp-policy trace).")
@common_options
def succeed_command(turn: str, provider: str | None, headers: tuple[str, ...], label: str | None,
                    **options: Any) -> None:
    """End a turn that worked: forget its cascade (cooldowns and cursors stay).

    \b
    Example:
      mp-policy succeed --turn 3f2a9c0d1e4b5a69 --header x-codex-primary-used-percent:42 \
        --header x-codex-primary-window-minutes:300
    """
    parsed_headers = parse_headers(headers)
    engine = load_engine(readonly=False, **options)
    with _answering(engine):
        engine.succeed(turn, headers=parsed_headers, provider=provider, label=label)
    if options["fmt"] == "json":
        emit_json({"turn": turn})
    else:
        click.echo(f"turn {printable(turn)} ended")

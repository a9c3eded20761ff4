"""``mp-policy explain``: the whole compiled policy as text, Graphviz DOT or JSON."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from policy_engine.cli.common import common_options, emit_json, load_engine

__all__ = ["explain_command", "format_choices"]

F = TypeVar("F", bound=Callable[..., Any])


def format_choices(*choices: str) -> Callable[[F], F]:
    """Replace the shared ``--format text|json`` option (of ``common_options``) with one offering ``choices``.

    Put it above ``@common_options``. (A candidate for ``cli/common.py``; it lives here because
    that file is shared.)
    """
    def decorate(func: F) -> F:
        params = func.__click_params__  # type: ignore[attr-defined]
        index = next(i for i, p in enumerate(params) if p.name == "fmt")
        params[index] = click.Option(["--format", "fmt"], type=click.Choice(choices), default="text",
                                     show_default=True, help="Output format (on stdout).")
        return func
    return decorate


@click.command("explain")
@format_choices("text", "dot", "json")
@common_options
def explain_command(**options: Any) -> None:
    """Explain the whole effective policy: pools, chains, presets, reach, and what nothing reaches.

    \b
    Shows every pool (strategy, cooldown, members in rotation order with their schedule role,
    and which are unknown, not logged in or cooling down), every chain and preset entry with
    the accounts it adds, the project's allowedSubs and what it removed, which accounts a new
    turn on each route (pool, chain, preset) can end on, and the unreachable parts: disabled
    pools, chains, presets and entries; entries into emptied or disabled pools; preset entries
    naming unknown or not-allowed accounts; entries that add nothing new (every account/model
    pair was earlier on the route); members that are unknown or removed by allowedSubs;
    preferred members whose windows never open again; pools no chain or preset uses; declared
    or logged-in accounts that no pool or preset names. Compile warnings come last.

    \b
    --format dot prints Graphviz DOT (render it with `dot -Tsvg`): a cluster per pool with its
    members, edges chain → pool and preset → account labelled with the entry and model;
    unreachable parts are dashed and grey. --format json prints the same model as data.

    \b
    Examples:
      mp-policy explain --agent-dir policies/demo
      mp-policy explain --project . --format dot | dot -Tsvg > policy.svg
      mp-policy explain --format json
    """
    from policy_engine.graph_view import build_view, render_dot, render_text

    fmt = options["fmt"]
    engine = load_engine(readonly=True, **options)
    try:
        now = datetime.now(UTC)
        snapshot = engine.store.snapshot()
        cooldowns = {p: c.until for p, c in snapshot.cooldowns.items()}
        logged_in = engine.auth.providers()
        view = build_view(engine.graph, logged_in=logged_in, cooldowns=cooldowns, now=now,
                          diagnostics=engine.diagnostics)
    finally:
        engine.close()
    if fmt == "json":
        emit_json(view.to_dict())
    elif fmt == "dot":
        click.echo(render_dot(view), nl=False)
    else:
        click.echo(render_text(view))

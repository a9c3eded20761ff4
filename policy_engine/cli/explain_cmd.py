"""``mp-policy explain``: the whole compiled policy as text, Graphviz DOT or JSON."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from policy_engine.cli.common import common_options, emit_json, format_choices, load_engine

__all__ = ["explain_command"]


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
    from policy_engine.evaluate.graph_render import render_dot, render_text
    from policy_engine.evaluate.graph_view import build_view

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

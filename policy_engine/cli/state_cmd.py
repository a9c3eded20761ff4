"""``mp-policy state show|clear``: look at or reset cooldowns, cursors, turns and quota snapshots."""

from __future__ import annotations

from typing import Any

import click

from policy_engine.cli.common import common_options, emit_json, exit_on_state_error
from policy_engine.common.terminal_text import printable

__all__ = ["state_group"]

PARTS = ("cooldowns", "cursors", "turns", "quota", "log")


def _open(options: dict[str, Any], readonly: bool) -> Any:
    """The store of this set-up: --state / $MP_POLICY_STATE, else the policy's settings.state, else SQLite."""
    from policy_engine.plugins import plugin_stores
    from policy_engine.policy.locations import agent_dir
    from policy_engine.state import StateError, open_store

    url = options["state"] or _policy_state_url(options)
    try:
        return open_store(url, agent_dir=agent_dir(options["agent_dir"]), readonly=readonly, stores=plugin_stores)
    except StateError as exc:
        exit_on_state_error(exc)


def _policy_state_url(options: dict[str, Any]) -> str | None:
    """``settings.state`` of the effective policy (None when unset, or when the policy cannot be read)."""
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.engine import Engine

    try:
        engine = Engine.load(agent_dir=options["agent_dir"], project=options["project"], policy=options["policy"],
                             state="memory://", quota_refresh=False)
    except PolicyError:
        click.echo("warning: the policy is invalid, so its settings.state is not used; showing the default store",
                   err=True)
        return None
    return engine.graph.settings.state


@click.group("state")
def state_group() -> None:
    """Inspect or reset the routing state (cooldowns, cursors, turns, quota snapshots)."""


@state_group.command("show")
@common_options
def show(**options: Any) -> None:
    """Print the state store's content (never any credential)."""
    store = _open(options, readonly=True)
    try:
        data = store.dump()
    finally:
        store.close()
    if options["fmt"] == "json":
        emit_json({"store": store.url, **data})
        return
    click.echo(printable(f"store: {store.url}"))
    for part in PARTS:  # keys and values are whatever the store holds: escaped like names
        items = data.get(part)
        if not items:
            click.echo(f"{part}: (none)")
            continue
        click.echo(f"{part}:")
        if part == "turns" and isinstance(items, dict):
            for key, value in items.items():
                click.echo(printable(f"  {key}: {_turn_line(value)}"))
        elif isinstance(items, dict):
            for key, value in items.items():
                click.echo(printable(f"  {key}: {_short(value)}"))
        else:
            for value in items:
                click.echo(printable(f"  {_short(value)}"))


def _turn_line(record: Any) -> str:
    """One readable line per turn: its request, current target, attempted accounts, expiry."""
    if not isinstance(record, dict):
        return str(record)
    data = record.get("data") or {}
    request = ", ".join(f"{k}={v}" for k, v in (data.get("request") or {}).items())
    target = data.get("target") or {}
    current = f"{target.get('provider')} · {target.get('model')}" if target else "none"
    attempted = ", ".join(data.get("attempted") or []) or "-"
    expires = record.get("expires_at")
    return f"started from {request or '?'}; current {current}; attempted {attempted}; expires {expires}"


def _short(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items() if v not in (None, "", [], {}))
    return str(value)


@state_group.command("clear")
@click.option("--only", "only", multiple=True, type=click.Choice(PARTS), help="Clear only these parts.")
@common_options
def clear(only: tuple[str, ...], **options: Any) -> None:
    """Remove state (all of it, or --only some parts). Cooldowns end at once; cursors restart."""
    probe = _open(options, readonly=True)
    try:
        exists = probe.dump().get("exists", True)
    finally:
        probe.close()
    if not exists:
        if options["fmt"] == "json":
            emit_json({"store": probe.url, "cleared": []})
        else:
            click.echo(f"nothing to clear: {probe.url} does not exist")
        return
    store = _open(options, readonly=False)
    try:
        store.clear(list(only) if only else None)
    finally:
        store.close()
    cleared = ", ".join(only) if only else "everything"
    if options["fmt"] == "json":
        emit_json({"store": store.url, "cleared": list(only) or list(PARTS)})
    else:
        click.echo(f"cleared {cleared} in {store.url}")

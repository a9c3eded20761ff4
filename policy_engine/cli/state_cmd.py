"""``mp-policy state show|clear``: look at or reset cooldowns, cursors, turns and quota snapshots."""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from typing import Any

import click

from policy_engine.cli.common import common_options, emit_json, exit_on_state_error
from policy_engine.common.terminal_text import printable

__all__ = ["open_configured_store", "state_group"]

PARTS = ("cooldowns", "cursors", "turns", "quota", "log")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}")


def _open(options: dict[str, Any], readonly: bool, policy_url: tuple[str | None] | None = None) -> Any:
    """The store of this set-up: --state / $MP_POLICY_STATE, else the policy's settings.state (``policy_url``
    when the caller has read it already), else SQLite."""
    from policy_engine.plugins import plugin_stores
    from policy_engine.policy.locations import agent_dir
    from policy_engine.state import StateError, open_store

    url = options["state"] or (policy_url or (_policy(options, "store")[0],))[0]
    try:
        return open_store(url, agent_dir=agent_dir(options["agent_dir"]), readonly=readonly, stores=plugin_stores)
    except StateError as exc:
        exit_on_state_error(exc)


def _policy(options: dict[str, Any], use: str) -> tuple[str | None, tzinfo]:
    """``settings.state`` of the effective policy (None when unset) and its time zone (DESIGN §4: times are
    shown in the policy's zone, as ``eval`` shows them); the machine's zone when the policy cannot be read."""
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.common.timezones import local_zone
    from policy_engine.engine import Engine

    try:
        engine = Engine.load(agent_dir=options["agent_dir"], project=options["project"], policy=options["policy"],
                             state="memory://", quota_refresh=False)
    except PolicyError:
        what = "its settings.state is not used; showing the default store" if use == "store" \
            else "its time zone is not used; times are in the machine's zone"
        click.echo(f"warning: the policy is invalid, so {what}", err=True)
        return None, local_zone()
    return engine.graph.settings.state, engine.graph.tz


def _in_zone(value: Any, tz: tzinfo) -> Any:
    """``value`` (a store dump) with every ISO-8601 time that carries an offset shown in ``tz``."""
    if isinstance(value, dict):
        return {k: _in_zone(v, tz) for k, v in value.items()}
    if isinstance(value, list):
        return [_in_zone(v, tz) for v in value]
    if isinstance(value, str) and _ISO_TIME.match(value):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return moment.astimezone(tz).isoformat()
    return value


def open_configured_store(options: dict[str, Any], readonly: bool) -> Any:
    """The store of this set-up (--state / $MP_POLICY_STATE, else settings.state, else SQLite): what
    ``mp-policy trace`` and ``replay`` read."""
    return _open(options, readonly)


@click.group("state")
def state_group() -> None:
    """Inspect or reset the routing state (cooldowns, cursors, turns, quota snapshots)."""


@state_group.command("show")
@common_options
def show(**options: Any) -> None:
    """Print the state store's content (never any credential)."""
    url, tz = _policy(options, "zone")
    store = _open(options, readonly=True, policy_url=(url,))
    try:
        data = _in_zone(store.dump(), tz)
    finally:
        store.close()
    if options["fmt"] == "json":
        emit_json({"store": store.url, **data})
        return
    click.echo(printable(f"store: {store.url}"))
    if data.get("exists") is False:
        click.echo(printable(f"{data.get('path') or store.url} does not exist: nothing has been recorded yet "
                             "(the engine creates it at the first decision that writes state)"))
        return
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

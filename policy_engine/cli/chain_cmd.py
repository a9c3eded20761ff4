"""``mp-policy chain``: fallback chains — create, remove, toggle, list, status."""

from __future__ import annotations

from typing import Any

import click

from policy_engine.cli.common import common_options
from policy_engine.cli.edit_options import (
    at_option,
    edit_options,
    edit_target,
    on_off_state,
    run_edit,
    show_status,
)

__all__ = ["chain_group"]


@click.group("chain")
def chain_group() -> None:
    """Manage fallback chains: pools to fall back through, each with its model (pi's /pool chain).

    Edits go to the global policy, or with --project DIR to that project's overlay (whose chains,
    once it has any, replace the global ones: the first edit copies the global chains into it).

    \b
    Examples:
      mp-policy chain create main --entry claude:claude-sonnet-4-5 --entry codex:gpt-5
      mp-policy chain status main
    """


@chain_group.command("create")
@click.argument("name")
@click.option("--entry", "entries", multiple=True, required=True, metavar="POOL:MODEL",
              help="An entry (repeatable, in order): a pool and the model to use there.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@click.option("--replace", is_flag=True, help="Replace a chain of that name (keeping its place and comments).")
@edit_options
def chain_create(name: str, entries: tuple[str, ...], disabled: bool, replace: bool, **options: Any) -> None:
    """Create the chain NAME at the end of the chains; every entry's pool must exist.

    Entries are written {pool, model, enabled: true}; the split is at the first colon, so a model
    may contain colons.

    \b
    Example:
      mp-policy chain create main --entry claude:claude-sonnet-4-5 --entry codex:gpt-5 --entry gemini:gemini-2.5-pro
    """
    from policy_engine.edit.chain_edits import create_chain

    run_edit(edit_target(options), lambda doc, ctx: create_chain(doc, ctx, name, list(entries), enabled=not disabled,
                                                             replace=replace),
             fmt=options["fmt"], dry_run=options["dry_run"])


@chain_group.command("remove")
@click.argument("name")
@edit_options
def chain_remove(name: str, **options: Any) -> None:
    """Remove the chain NAME (its pools stay).

    \b
    Example:
      mp-policy chain remove backup
    """
    from policy_engine.edit.chain_edits import remove_chain

    run_edit(edit_target(options), lambda doc, ctx: remove_chain(doc, ctx, name), fmt=options["fmt"],
             dry_run=options["dry_run"])


@chain_group.command("toggle")
@click.argument("name")
@click.option("--entry", "entry", type=click.IntRange(min=0), metavar="N",
              help="Toggle entry N (0-based, as decisions number them) instead of the whole chain.")
@click.option("--on", is_flag=True, help="Enable it (whatever it is now).")
@click.option("--off", is_flag=True, help="Disable it (whatever it is now).")
@edit_options
def chain_toggle(name: str, entry: int | None, on: bool, off: bool, **options: Any) -> None:
    """Enable or disable the chain NAME, or one of its entries.

    \b
    Examples:
      mp-policy chain toggle main --off
      mp-policy chain toggle main --entry 1
    """
    from policy_engine.edit.chain_edits import toggle_chain

    state = on_off_state(on, off)
    run_edit(edit_target(options), lambda doc, ctx: toggle_chain(doc, ctx, name, state, entry=entry),
             fmt=options["fmt"], dry_run=options["dry_run"])


@chain_group.command("list")
@at_option
@common_options
def chain_list(at: str | None, **options: Any) -> None:
    """One line per chain of the effective policy: entries, state, invalid entries, usable now.

    \b
    Example:
      mp-policy chain list
    """
    _show(options, (), detail=False, at=at)


@chain_group.command("status")
@click.argument("names", nargs=-1)
@at_option
@common_options
def chain_status_command(names: tuple[str, ...], at: str | None, **options: Any) -> None:
    """Each chain's entries now: usable or not and why, and where a new turn on it would start.

    An entry is usable when it and its chain are enabled, its pool is enabled and allowed in this
    project, and at least one member is available (logged in, not cooling down, in its window).

    \b
    Examples:
      mp-policy chain status main
      mp-policy chain status --at 2026-11-24T19:00:00+01:00 --format json
    """
    _show(options, names, detail=True, at=at)


def _show(options: dict[str, Any], names: tuple[str, ...], *, detail: bool, at: str | None) -> None:
    from policy_engine.edit.status import chain_status, render_chains

    show_status(options, names, at=at, kind="chain", table=lambda graph: graph.chains, rows=chain_status,
                render=lambda rows, now, tz: render_chains(rows, detail=detail))

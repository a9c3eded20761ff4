"""``mp-policy pool``: rotation pools — create, remove, rename, toggle, members, strategy, schedule, list, status."""

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

__all__ = ["pool_group"]


def _names(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


@click.group("pool")
def pool_group() -> None:
    """Manage rotation pools: accounts that stand in for each other (pi-multi-pass's /pool).

    Edits go to the global policy, or with --project DIR to that project's overlay (whose pools,
    once it has any, replace the global ones: the first edit copies the global pools into it).

    \b
    Examples:
      mp-policy pool create codex --provider openai-codex --members openai-codex,openai-codex-2 --strategy scheduled
      mp-policy pool schedule codex openai-codex --role preferred --window '9-17 mon-fri'
      mp-policy pool status codex
    """


@pool_group.command("create")
@click.argument("name")
@click.option("--provider", "provider", required=True, metavar="BASE", help="The provider family (anthropic, ...).")
@click.option("--members", required=True, metavar="A,B,C", help="Account names in rotation order.")
@click.option("--strategy", help="round-robin (default), quota-first, scheduled, custom, or a plugin's.")
@click.option("--selector-script", help="For --strategy custom: a .py or .js file, relative to the policy file.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@edit_options
def pool_create(name: str, provider: str, members: str, strategy: str | None, selector_script: str | None,
                disabled: bool, **options: Any) -> None:
    """Create the pool NAME at the end of the pools.

    Members must be known accounts (base accounts, subscriptions, MULTI_SUB). The pool is written
    with enabled: true (pi-multi-pass reads a missing enabled as disabled); strategy is left out
    for round-robin.

    \b
    Example:
      mp-policy pool create claude --provider anthropic --members anthropic,anthropic-2
    """
    from policy_engine.edit.pool_edits import create_pool

    run_edit(edit_target(options), lambda doc, ctx: create_pool(
        doc, ctx, name, provider=provider, members=_names(members), strategy=strategy, enabled=not disabled,
        selector_script=selector_script), fmt=options["fmt"], dry_run=options["dry_run"])


@pool_group.command("remove")
@click.argument("name")
@edit_options
def pool_remove(name: str, **options: Any) -> None:
    """Remove the pool NAME; its accounts stay. Chain entries into it are pruned (and chains left empty).

    \b
    Example:
      mp-policy pool remove gemini --dry-run
    """
    from policy_engine.edit.pool_edits import remove_pool

    run_edit(edit_target(options), lambda doc, ctx: remove_pool(doc, ctx, name), fmt=options["fmt"],
             dry_run=options["dry_run"])


@pool_group.command("rename")
@click.argument("old")
@click.argument("new")
@edit_options
def pool_rename(old: str, new: str, **options: Any) -> None:
    """Rename the pool OLD to NEW, and every chain entry that uses it.

    \b
    Example:
      mp-policy pool rename claude anthropic-pool
    """
    from policy_engine.edit.pool_edits import rename_pool

    run_edit(edit_target(options), lambda doc, ctx: rename_pool(doc, ctx, old, new), fmt=options["fmt"],
             dry_run=options["dry_run"])


@pool_group.command("toggle")
@click.argument("name")
@click.option("--on", is_flag=True, help="Enable it (whatever it is now).")
@click.option("--off", is_flag=True, help="Disable it (whatever it is now).")
@edit_options
def pool_toggle(name: str, on: bool, off: bool, **options: Any) -> None:
    """Enable a disabled pool or disable an enabled one (or set it with --on / --off).

    A disabled pool is never used; chain entries into it are skipped as disabled.

    \b
    Example:
      mp-policy pool toggle codex --off
    """
    from policy_engine.edit.pool_edits import toggle_pool

    state = on_off_state(on, off)
    run_edit(edit_target(options), lambda doc, ctx: toggle_pool(doc, ctx, name, state), fmt=options["fmt"],
             dry_run=options["dry_run"])


@pool_group.command("members")
@click.argument("name")
@click.option("--set", "set_to", metavar="A,B", help="Replace the members (this is the new rotation order).")
@click.option("--add", metavar="A,B", help="Add members at the end.")
@click.option("--remove", metavar="A,B", help="Remove members (and their schedules).")
@edit_options
def pool_members(name: str, set_to: str | None, add: str | None, remove: str | None, **options: Any) -> None:
    """Change the members of the pool NAME (at least one must stay).

    \b
    Examples:
      mp-policy pool members codex --add openai-codex-3
      mp-policy pool members codex --set openai-codex-2,openai-codex
    """
    from policy_engine.edit.pool_edits import set_pool_members

    if set_to is None and add is None and remove is None:
        raise click.UsageError("give --set, --add or --remove")
    run_edit(edit_target(options), lambda doc, ctx: set_pool_members(
        doc, ctx, name, members=_names(set_to) if set_to is not None else None, add=_names(add),
        remove=_names(remove)), fmt=options["fmt"], dry_run=options["dry_run"])


@pool_group.command("strategy")
@click.argument("name")
@click.argument("strategy")
@click.option("--selector-script", help="For custom: a .py or .js file, relative to the policy file.")
@edit_options
def pool_strategy(name: str, strategy: str, selector_script: str | None, **options: Any) -> None:
    """Set the strategy of the pool NAME (round-robin is written by leaving the key out).

    \b
    Examples:
      mp-policy pool strategy codex quota-first
      mp-policy pool strategy claude custom --selector-script selectors/claude.py
    """
    from policy_engine.edit.pool_edits import set_pool_strategy

    run_edit(edit_target(options), lambda doc, ctx: set_pool_strategy(doc, ctx, name, strategy,
                                                                  selector_script=selector_script),
             fmt=options["fmt"], dry_run=options["dry_run"])


@pool_group.command("schedule")
@click.argument("pool")
@click.argument("member")
@click.option("--role", type=click.Choice(["preferred", "default", "overflow"]),
              help="preferred: first while a window is open (never outside); default: next; overflow: last.")
@click.option("--window", "windows", multiple=True, metavar="TEXT",
              help="A window for a preferred member (repeatable): '9-17 mon-fri', '09:00-18:00', 'mon-sun', "
                   "'22-6', '2026-06-01..2026-06-30', 'cron 0 17 * * * for 16h'.")
@click.option("--clear", is_flag=True, help="Remove the member's schedule (it becomes a default member).")
@edit_options
def pool_schedule(pool: str, member: str, role: str | None, windows: tuple[str, ...], clear: bool,
                  **options: Any) -> None:
    """Set MEMBER's role and windows in the scheduled pool POOL.

    Windows are read from human text; anything unreadable is an error (never a silently
    always-open window). A preferred member without --window is always active. Day ranges are
    written out as day names (pi-multi-pass only matches single days); mon-sun is the whole week.

    \b
    Examples:
      mp-policy pool schedule codex openai-codex --role preferred --window '9-17 mon-fri'
      mp-policy pool schedule codex openai-codex-2 --role preferred --window '17-9'
      mp-policy pool schedule codex openai-codex-3 --role overflow
    """
    from policy_engine.edit.pool_edits import set_member_schedule
    from policy_engine.edit.schedule_text import ScheduleTextError, parse_window

    if clear and (role or windows):
        raise click.UsageError("--clear goes alone (without --role or --window)")
    parsed: list[dict[str, Any]] = []
    for text in windows:
        try:
            parsed.append(parse_window(text))
        except ScheduleTextError as exc:
            raise click.BadParameter(f"{exc.message}\n    hint: {exc.hint}", param_hint="--window") from None
    run_edit(edit_target(options), lambda doc, ctx: set_member_schedule(
        doc, ctx, pool, member, role=role, windows=parsed, clear=clear), fmt=options["fmt"], dry_run=options["dry_run"])


@pool_group.command("list")
@at_option
@common_options
def pool_list(at: str | None, **options: Any) -> None:
    """One line per pool of the effective policy: provider, members, logged in, available, state.

    \b
    Example:
      mp-policy pool list --project ~/work/corp
    """
    _show(options, (), detail=False, at=at)


@pool_group.command("status")
@click.argument("names", nargs=-1)
@at_option
@common_options
def pool_status_command(names: tuple[str, ...], at: str | None, **options: Any) -> None:
    """Each pool's members now: logged in, cooling down until when, in or out of their window, quota.

    Reads the state store (cooldowns, cursors, quota snapshots) without writing to it, and shows
    the member a new turn on the pool would get ("next").

    \b
    Examples:
      mp-policy pool status
      mp-policy pool status codex --at 2026-11-24T19:00:00+01:00 --format json
    """
    _show(options, names, detail=True, at=at)


def _show(options: dict[str, Any], names: tuple[str, ...], *, detail: bool, at: str | None) -> None:
    from policy_engine.edit.status import pool_status, render_pools

    show_status(options, names, at=at, kind="pool", table=lambda graph: graph.pools, rows=pool_status,
                render=lambda rows, now, tz: render_pools(rows, detail=detail, now=now, tz=tz))

"""``mp-policy preset``: named routes across providers — create, remove, toggle, list, activate."""

from __future__ import annotations

import sys
from typing import Any

import click

from policy_engine.cli.common import EXIT_USAGE, common_options, emit_json
from policy_engine.cli.edit_options import (
    at_option,
    edit_options,
    edit_target,
    engine_at,
    on_off_state,
    run_edit,
    show_view,
)

__all__ = ["preset_group"]


@click.group("preset")
def preset_group() -> None:
    """Manage presets: named routes across providers (pi-multi-pass's /mp-preset).

    Each entry is a provider (an account) and a model; on a rate limit a preset rotates within the
    entry provider's pool before trying its next entry.

    \b
    Examples:
      mp-policy preset create coding-premium --entry anthropic:claude-sonnet-4-5 --entry openai-codex:o3
      mp-policy preset activate coding-premium
    """


@preset_group.command("create")
@click.argument("name")
@click.option("--entry", "entries", multiple=True, required=True, metavar="PROVIDER:MODEL",
              help="An entry (repeatable, in order): an account and the model to use with it.")
@click.option("--disabled", is_flag=True, help="Create it disabled.")
@click.option("--replace", is_flag=True, help="Replace a preset of that name (keeping its place and comments).")
@edit_options
def preset_create(name: str, entries: tuple[str, ...], disabled: bool, replace: bool, **options: Any) -> None:
    """Create the preset NAME at the end of the presets; every entry's provider must be a known account.

    \b
    Example:
      mp-policy preset create coding-budget --entry openai-codex:gpt-4.1-mini --entry google-gemini-cli:gemini-2.5-flash
    """
    from policy_engine.edit.chain_edits import create_preset

    run_edit(edit_target(options), lambda doc, ctx: create_preset(doc, ctx, name, list(entries), enabled=not disabled,
                                                              replace=replace),
             fmt=options["fmt"], dry_run=options["dry_run"])


@preset_group.command("remove")
@click.argument("name")
@edit_options
def preset_remove(name: str, **options: Any) -> None:
    """Remove the preset NAME.

    \b
    Example:
      mp-policy preset remove coding-budget
    """
    from policy_engine.edit.chain_edits import remove_preset

    run_edit(edit_target(options), lambda doc, ctx: remove_preset(doc, ctx, name), fmt=options["fmt"],
             dry_run=options["dry_run"])


@preset_group.command("toggle")
@click.argument("name")
@click.option("--entry", "entry", type=click.IntRange(min=0), metavar="N",
              help="Toggle entry N (0-based) instead of the whole preset.")
@click.option("--on", is_flag=True, help="Enable it (whatever it is now).")
@click.option("--off", is_flag=True, help="Disable it (whatever it is now).")
@edit_options
def preset_toggle(name: str, entry: int | None, on: bool, off: bool, **options: Any) -> None:
    """Enable or disable the preset NAME, or one of its entries.

    \b
    Example:
      mp-policy preset toggle coding-premium --entry 1 --off
    """
    from policy_engine.edit.chain_edits import toggle_preset

    state = on_off_state(on, off)
    run_edit(edit_target(options), lambda doc, ctx: toggle_preset(doc, ctx, name, state, entry=entry),
             fmt=options["fmt"], dry_run=options["dry_run"])


@preset_group.command("list")
@common_options
def preset_list(**options: Any) -> None:
    """One line per preset: + enabled / - disabled, then its entries in order.

    \b
    Example:
      mp-policy preset list
    """
    from policy_engine.edit.status import preset_status, render_presets

    show_view(options, preset_status, render_presets, key="presets")


@preset_group.command("activate")
@click.argument("name")
@click.option("--explain", is_flag=True, help="Show the route, every candidate and skip, and the reasoning.")
@at_option
@common_options
def preset_activate(name: str, explain: bool, at: str | None, **options: Any) -> None:
    """Show where the preset NAME starts now: its best available entry, as `mp-policy eval --preset` does.

    The policy format has no "active preset" (nothing in the policy or the state store records
    one): an agent activates a preset by asking the engine with it (select(preset=NAME)). So this
    command evaluates, as a dry run that writes nothing; unlike pi-multi-pass, cooldowns, windows
    and the project's allow-list are taken into account. Exit 0 also when no entry is usable (the
    answer is then "target: none" with a retry time).

    \b
    Example:
      mp-policy preset activate coding-premium --explain
    """
    from policy_engine.cli.render import render_decision
    from policy_engine.evaluate.route import RouteError

    engine = engine_at(at, options)
    try:
        decision = engine.dry_run().select(preset=name, explain=explain)
    except RouteError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        engine.close()
    if options["fmt"] == "json":
        emit_json(decision.to_dict())
        return
    click.echo(render_decision(decision, explain=explain, color=sys.stdout.isatty()))

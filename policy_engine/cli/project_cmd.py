"""``mp-policy project``: a project's overlay — restrict, clear, info."""

from __future__ import annotations

from typing import Any

import click

from policy_engine.cli.common import common_options
from policy_engine.cli.edit_options import at_option, project_edit_options, project_target, run_edit, show_view

__all__ = ["project_group"]


@click.group("project")
def project_group() -> None:
    """A project's overlay <project>/.pi/multi-pass.yaml (pi-multi-pass's /pool project).

    --project DIR names the project (default: the project of the current directory: the nearest
    .pi/multi-pass.yaml, .yml or .json in it or a parent, which is what the engine reads; else a
    new .pi/multi-pass.yaml here). An existing .json overlay stays JSON.

    \b
    Examples:
      cd ~/work/corp && mp-policy project restrict openai-codex-2 anthropic-2
      mp-policy project info
      mp-policy project clear
    """


@project_group.command("restrict")
@click.argument("names", nargs=-1, required=True)
@click.option("--add", is_flag=True, help="Add NAMES to the current allow-list instead of replacing it.")
@project_edit_options
def project_restrict(names: tuple[str, ...], add: bool, **options: Any) -> None:
    """Allow only the accounts NAMES in this project (an exact allow-list: anthropic-2 does not allow anthropic).

    Writes allowedSubs (replacing it, or with --add extending it); the rest of the overlay is kept.
    Names must be known accounts. Pools keep only allowed members, and a pool with none is not
    used here (the command says which).

    \b
    Examples:
      mp-policy project restrict openai-codex-2 anthropic-2
      mp-policy project restrict --add google-gemini-cli --project ~/work/corp
    """
    from policy_engine.edit.project_edits import restrict_project

    run_edit(project_target(**options), lambda doc, ctx: restrict_project(doc, ctx, names, add=add),
             fmt=options["fmt"], dry_run=options["dry_run"])


@project_group.command("clear")
@click.option("--all", "everything", is_flag=True,
              help="Delete the whole overlay (its pools, chains, presets and settings too).")
@project_edit_options
def project_clear(everything: bool, **options: Any) -> None:
    """Remove the project's restriction (allowedSubs); every account may be used again.

    The overlay's other keys (pools, chains, ...) stay; a file left with nothing in it is deleted
    (and the command says so). With --all the whole overlay is deleted and the global policy
    applies unchanged. A file that does not parse is never deleted or changed.

    \b
    Examples:
      mp-policy project clear
      mp-policy project clear --all --dry-run
    """
    from policy_engine.edit.operations import Changes
    from policy_engine.edit.project_edits import clear_project

    target = project_target(**options)

    def operate(doc: Any, ctx: Any) -> Any:
        if everything:
            changes = Changes()
            if not doc.exists:
                changes.say(f"there is no project overlay at {doc.source}")
            return changes
        return clear_project(doc)

    run_edit(target, operate, fmt=options["fmt"], dry_run=options["dry_run"], delete_when_empty=True,
             delete_file=everything)


@project_group.command("info")
@at_option
@common_options
def project_info(at: str | None, **options: Any) -> None:
    """The effective policy here: the overlay, the allow-list, pools, chains and presets (each
    marked [project] or [global]) and the accounts this project may use, with their login state.

    \b
    Examples:
      mp-policy project info
      mp-policy project info --project ~/work/corp --format json
    """
    from policy_engine.edit.status import project_status, render_project

    show_view(options, project_status, render_project, at=at)

"""``mp-policy subs``: extra accounts (subscriptions) — add, remove, list, status."""

from __future__ import annotations

from typing import Any

import click

from policy_engine.cli.common import common_options
from policy_engine.cli.edit_options import at_option, edit_options, global_target, run_edit, show_view

__all__ = ["subs_group"]


@click.group("subs")
def subs_group() -> None:
    """Manage extra accounts: openai-codex-2, anthropic-3, ... (pi-multi-pass's /subs).

    The base account of each provider (anthropic, openai-codex, ...) is implicit; extra accounts
    are named <provider>-<index> and live in the global policy. Log in to them in pi (/login):
    mp-policy reads pi's auth.json and never writes it.

    \b
    Examples:
      mp-policy subs add openai-codex --label work
      mp-policy subs status
      mp-policy subs remove openai-codex-3
    """


@subs_group.command("add")
@click.argument("provider")
@click.option("--label", help="A label such as work or personal.")
@click.option("--index", type=click.IntRange(min=2), help="The account number (default: the smallest free, >= 2).")
@edit_options
def subs_add(provider: str, label: str | None, index: int | None, **options: Any) -> None:
    """Add an extra account of PROVIDER to the global policy.

    The index is the smallest free one >= 2, counting saved accounts and those MULTI_SUB adds (as
    pi-multi-pass does); --index N picks it (an error when a saved account has it). The entry is
    written {provider, index, label} at the end of subscriptions.

    \b
    Examples:
      mp-policy subs add openai-codex --label work      # -> openai-codex-2
      mp-policy subs add anthropic --index 3 --dry-run
    """
    from policy_engine.edit.subscription_edits import add_subscription

    if options["project"] is not None:
        raise click.UsageError("subscriptions are global: a project cannot declare them "
                               "(narrow a project with `mp-policy project restrict NAME...`)")
    run_edit(global_target(**options), lambda doc, ctx: add_subscription(doc, ctx, provider, label=label,
                                                                         index=index)[1],
             fmt=options["fmt"], dry_run=options["dry_run"])


@subs_group.command("remove")
@click.argument("name")
@edit_options
def subs_remove(name: str, **options: Any) -> None:
    """Remove the extra account NAME (or the only account labelled NAME) and every use of it.

    It leaves every pool of the global policy (and its schedule there); a pool left empty is
    removed, with the chain entries into it; preset entries naming it are removed too. Its
    credentials in pi's auth.json are not touched (log out in pi).

    \b
    Example:
      mp-policy subs remove openai-codex-3
    """
    from policy_engine.edit.subscription_edits import remove_subscription

    if options["project"] is not None:
        raise click.UsageError("subscriptions are global: run it without --project")
    run_edit(global_target(**options), lambda doc, ctx: remove_subscription(doc, ctx, name),
             fmt=options["fmt"], dry_run=options["dry_run"])


@subs_group.command("list")
@at_option
@common_options
def subs_list(at: str | None, **options: Any) -> None:
    """List the extra accounts (declared and MULTI_SUB) with their login state.

    \b
    Example:
      mp-policy subs list --format json
    """
    _show(options, detail=False, at=at)


@subs_group.command("status")
@at_option
@common_options
def subs_status(at: str | None, **options: Any) -> None:
    """Every account in use: login state from auth.json, token expiry, pools that list it.

    Shows the extra accounts and the base accounts that are logged in or used by a pool or preset.
    "expires in 42m" is the OAuth access token's expiry; "token expired, will refresh" means pi
    refreshes it on the next request.

    \b
    Example:
      mp-policy subs status
    """
    _show(options, detail=True, at=at)


def _show(options: dict[str, Any], *, detail: bool, at: str | None) -> None:
    from policy_engine.edit.status import account_status, render_accounts

    show_view(options, lambda engine: account_status(engine, include_bases=detail),
              lambda rows: render_accounts(rows, detail=detail), at=at, key="accounts")

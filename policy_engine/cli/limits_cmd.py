"""``mp-policy limits``: every account's remaining quota, checked now, best first."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import datetime
from typing import Any

import click

from policy_engine.cli.common import common_options, emit_json, load_engine
from policy_engine.common.terminal_text import printable

__all__ = ["limits_command"]


def _bottleneck_reset(snap: Any) -> datetime | None:
    """The reset time of the window that makes the bottleneck."""
    for window in snap.windows:
        if window.remaining is not None and window.remaining == snap.remaining:
            return window.resets_at
    return None


def _row(snap: Any, graph: Any, *, best: str | None, current: str | None) -> dict[str, Any]:
    row: dict[str, Any] = {
        "provider": snap.provider,
        "base": graph.base_of(snap.provider),
        "label": graph.labels.get(snap.provider, snap.provider),
        "status": snap.status,
        "remaining": snap.remaining,
        "summary": snap.summary,
        "windows": [{"name": w.name, "remaining": w.remaining,
                     "resetsAt": w.resets_at.isoformat() if w.resets_at else None} for w in snap.windows],
        "fetchedAt": snap.fetched_at.isoformat(),
        "source": snap.source,
        "best": snap.provider == best,
        "current": snap.provider == current,
    }
    if snap.status in ("error", "missing-auth"):
        row["error"] = snap.summary
    return row


def _overview(results: list[Any], best: str | None) -> str:
    from policy_engine.quota.status import LABELS, STATUSES

    counts = {s: sum(1 for r in results if r.status == s) for s in STATUSES}
    parts = [f"{len(results)} account{'s' if len(results) != 1 else ''}"]
    parts += [f"{n} {LABELS[s]}" for s, n in counts.items() if n]
    if best:
        parts.append(f"best now: {best}")
    return " • ".join(parts)


def _render_table(results: list[Any], graph: Any, now: datetime, *, best: str | None, current: str | None,
                  color: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    from policy_engine.quota.status import GLYPHS, LABELS, long_reset

    styles = {"ready": "green", "watch": "yellow", "low": "dark_orange", "blocked": "red", "error": "magenta",
              "missing-auth": "dim"}
    console = Console(file=sys.stdout, no_color=not color, highlight=False, soft_wrap=False,
                      width=None if color else 160)
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold" if color else "")
    for column in ("", "account", "status", "left", "summary", "resets"):
        table.add_column(column, no_wrap=column != "summary")
    for snap in results:
        markers = [m for m, on in (("best now", snap.provider == best), ("current", snap.provider == current)) if on]
        name = graph.labels.get(snap.provider, snap.provider)
        account = snap.provider if name == snap.provider else f"{snap.provider} ({name})"
        if markers:
            account += " • " + " • ".join(markers)
        left = "--" if snap.remaining is None or snap.status in ("error", "missing-auth") else f"{snap.remaining:g}%"
        reset = long_reset(_bottleneck_reset(snap), now) if snap.remaining is not None else ""
        style = styles.get(snap.status or "", "")
        table.add_row(GLYPHS.get(snap.status or "", "?"), printable(account),  # names, summaries: not checked
                      LABELS.get(snap.status or "", snap.status or ""), left, printable(snap.summary or ""), reset,
                      style=style if color else None)
    console.print(table)
    click.echo(printable(_overview(results, best)))
    if current is not None:
        mine = next((r for r in results if r.provider == current), None)
        if mine is not None:
            hint = f"Current: {current} is {LABELS.get(mine.status or '', mine.status)}"
            if best and best != current:
                hint += f" • best available: {best}"
            if mine.status != "ready":
                hint += " • a decision moves on only after a rate-limit error"
            click.echo(printable(hint))


def _check(engine: Any, accounts: list[Any], timeout: float, progress: bool) -> list[Any]:
    import os

    from policy_engine.quota.runner import check_accounts

    checkers = engine.registry.quota_checkers
    kwargs: dict[str, Any] = {"now": engine.now(), "env": dict(os.environ),
                              "endpoints": engine.graph.settings.quota_endpoints, "timeout": timeout}
    if not progress:
        return asyncio.run(check_accounts(accounts, checkers, **kwargs))
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("checking quota"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TextColumn("{task.description}"), TimeElapsedColumn(), console=Console(file=sys.stderr),
                  transient=True) as bar:
        task = bar.add_task("", total=len(accounts))

        def done(snap: Any) -> None:
            bar.update(task, advance=1, description=printable(snap.provider))

        return asyncio.run(check_accounts(accounts, checkers, on_result=done, **kwargs))


def _no_checker_note(names: list[str], graph: Any) -> str:
    """``openai, openai-2 (openai): no quota checker for this family ...`` — not an error (DESIGN §3)."""
    families = sorted({graph.base_of(n) for n in names})
    return (f"{', '.join(names)}: no quota checker for the {', '.join(families)} "
            f"famil{'y' if len(families) == 1 else 'ies'}, so {'its' if len(names) == 1 else 'their'} quota is not "
            f"checked ({'its' if len(names) == 1 else 'their'} errors still rotate; a plugin can add a checker, "
            "see mp-policy plugins)")


@click.command("limits")
@click.option("--account", "accounts", multiple=True, metavar="NAME",
              help="Check only this account (repeatable). Default: every account with a quota checker.")
@click.option("--current", envvar="MP_POLICY_CURRENT", metavar="NAME",
              help="The account the agent uses now, marked 'current' (default: $MP_POLICY_CURRENT).")
@click.option("--timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, metavar="SECONDS",
              help="Timeout of each HTTP request.")
@click.option("--watch", type=click.FloatRange(min=1.0), metavar="SECONDS",
              help="Check again every SECONDS until interrupted (Ctrl-C).")
@click.option("--count", type=click.IntRange(min=1), metavar="N", help="With --watch: stop after N rounds.")
@click.option("--no-save", is_flag=True, help="Do not write the results to the quota cache.")
@common_options
def limits_command(accounts: tuple[str, ...], current: str | None, timeout: float, watch: float | None,
                   count: int | None, no_save: bool, **options: Any) -> None:
    """Check every account's remaining quota now, in parallel, and list them best first.

    Accounts: each provider family with a quota checker (openai-codex, google-gemini-cli,
    google-antigravity, anthropic, github-copilot, and plugins'), its base account when logged in
    and every configured extra subscription (a missing login shows as 'not logged in'); a project
    allow-list restricts them. Accounts of a family without a checker (openai, openrouter, zai, a
    models.json provider, ...) are named in a note, not checked (stderr with --format json). Status
    from the bottleneck window: ready > 30%, watch <= 30, low <= 15, blocked <= 5. Results are
    written to the quota cache that quota-first pools read (unless --no-save). Errors say what to do
    (HTTP 401: log in again; 403: a scope or project problem) and never show a token. Exit code 0
    whatever the accounts' status.

    \b
    JSON (--format json): a list, best first, of
      {provider, base, label, status, remaining, summary,
       windows: [{name, remaining, resetsAt}], fetchedAt, source, best, current, error?}
    With --watch, one such list per line and round.

    \b
    Examples:
      mp-policy limits
      mp-policy limits --format json --account openai-codex-2
      mp-policy limits --watch 60 --current anthropic
    Endpoints can be redirected (proxies, tests): CHATGPT_BASE_URL, MP_POLICY_GEMINI_BASE_URL,
    MP_POLICY_ANTIGRAVITY_BASE_URLS, MP_POLICY_ANTHROPIC_BASE_URL, MP_POLICY_COPILOT_BASE_URL, or
    settings.quotaEndpoints in the policy.
    """
    from policy_engine.quota.runner import collect_accounts, store_results, unchecked_accounts
    from policy_engine.quota.status import rank_key

    if count is not None and watch is None:
        raise click.UsageError("--count needs --watch")
    fmt = options["fmt"]
    engine = load_engine(readonly=no_save, **options)
    try:
        graph = engine.graph
        unknown = sorted(set(accounts) - set(graph.accounts))
        if unknown:
            raise click.BadParameter(f"unknown account(s): {', '.join(unknown)} (known: "
                                     f"{', '.join(sorted(graph.accounts))})", param_hint="--account")
        targets = collect_accounts(graph, engine.auth, engine.registry.quota_checkers, accounts or None)
        unchecked = unchecked_accounts(graph, engine.auth, engine.registry.quota_checkers, accounts or None)
        note = _no_checker_note(unchecked, graph) if unchecked else None
        if note is not None and (fmt == "json" or not targets):
            click.echo(note, err=fmt == "json")  # JSON stays a list of checked accounts
        if not targets:
            if fmt != "json" and note is not None:
                return  # the note said why nothing is checked
            restriction = f" for this project restriction ({', '.join(sorted(graph.allowed))})" \
                if graph.allowed is not None else ""
            if fmt == "json":
                emit_json([])
            else:
                click.echo(f"No account with a quota checker is available{restriction}. Log in to a supported "
                           "provider first (anthropic, openai-codex, github-copilot, google-gemini-cli, "
                           "google-antigravity).")
            return
        rounds = 0
        while True:
            progress = fmt == "text" and sys.stderr.isatty()
            results = _check(engine, targets, timeout, progress)
            if not no_save:
                store_results(engine.store, results)
            results.sort(key=rank_key)
            best = results[0].provider if results and results[0].status not in ("error", "missing-auth") else None
            rows = [_row(r, graph, best=best, current=current) for r in results]
            if fmt == "json":
                if watch is None:
                    emit_json(rows)
                else:
                    click.echo(printable(json.dumps(rows, ensure_ascii=False)))
            else:
                if watch is not None and sys.stdout.isatty():
                    click.clear()
                if watch is not None:
                    click.echo(f"— {engine.now().astimezone(graph.tz):%Y-%m-%d %H:%M:%S}")
                _render_table(results, graph, engine.now(), best=best, current=current, color=sys.stdout.isatty())
                if note is not None:
                    click.echo(note)
            rounds += 1
            if watch is None or (count is not None and rounds >= count):
                return
            sys.stdout.flush()
            time.sleep(watch)
    except KeyboardInterrupt:
        return
    finally:
        engine.close()

"""``mp-policy trace [TURN]``: the decisions agents actually ran, from the state store's decision trace."""

from __future__ import annotations

import json
import signal
import sys
from datetime import UTC, datetime
from typing import Any

import click

from policy_engine.cli.common import EXIT_FAIL, common_options, emit_json, format_choices
from policy_engine.common.terminal_text import printable

__all__ = ["parse_since", "trace_command"]


def parse_since(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from now (``90m``, ``2h``, ``1d``) or an ISO-8601 time; one without an offset
    stays naive, a wall time in each entry's zone (the one its row shows: :func:`~policy_engine.trace.read.since`)."""
    from policy_engine.common.durations import parse_duration

    try:
        return now - parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r}: write a duration such as 90m or 2d, or a time such as "
                                 "2026-12-07T09:00+01:00", param_hint="--since") from None
    return moment


def _print_entries(entries: list[dict[str, Any]], fmt: str, head: bool = True,
                   turns: dict[str, Any] | None = None) -> None:
    from policy_engine.trace.story import aligned, table_rows

    if fmt == "jsonl":
        for entry in entries:
            click.echo(printable(json.dumps(entry, ensure_ascii=False, separators=(",", ":"))))
    elif entries:
        rows = table_rows(entries, turns)
        for line in aligned(rows if head else rows[1:]):
            click.echo(printable(line))


@click.command("trace")
@click.argument("turn_arg", metavar="[TURN]", required=False)
@click.option("--last", "last", type=click.IntRange(1, 100_000), default=20, show_default=True,
              help="How many of the newest matching entries to show.")
@click.option("--follow", "-f", is_flag=True, help="Keep printing new entries as they are written (Ctrl-C stops).")
@click.option("--turn", help="Only this turn's entries.")
@click.option("--account", help="Only entries where this account was asked for, served or failed.")
@click.option("--pool", help="Only entries that asked for this pool or were served through it.")
@click.option("--chain", help="Only entries that asked for this chain or were served through it.")
@click.option("--since", metavar="DURATION|TIME",
              help="Only entries since then: 2h, 1d, or an ISO-8601 time (without an offset: in the time zone the "
                   "entries are shown in, the policy's).")
@click.option("--errors", is_flag=True, help="Only fail entries (with their classified error).")
@format_choices("text", "json", "jsonl")
@common_options
def trace_command(turn_arg: str | None, last: int, follow: bool, turn: str | None, account: str | None,
                  pool: str | None, chain: str | None, since: str | None, errors: bool, **options: Any) -> None:
    """Show the decision trace: what each turn asked, who served, why the others were skipped.

    Every select, fail and succeed that changed state wrote one entry (settings.trace). With TURN,
    print that turn's cascade as a story. --format jsonl writes one entry per line: the export that
    `mp-policy replay --from FILE` reads. Exit 1 when TURN has no entries.

    \b
    Examples:
      mp-policy trace --last 50 --errors
      mp-policy trace 3f2a9c0d1e4b5a69
      mp-policy trace --follow --account anthropic-2
      mp-policy trace --since 1d --format jsonl > day.jsonl
    """
    from policy_engine.cli.state_cmd import open_configured_store
    from policy_engine.trace.read import TraceFilter, store_entries, turn_entries

    fmt = options["fmt"]
    if turn_arg and follow:
        raise click.UsageError("--follow tails the whole trace; filter it with --turn TURN instead of TURN")
    if turn_arg and (turn or account or pool or chain or since or errors):
        raise click.UsageError("TURN shows that turn's whole cascade; the filters (--turn, --account, --pool, "
                               "--chain, --since, --errors) select rows of the list, without TURN")
    store = open_configured_store(options, readonly=True)
    try:
        if turn_arg:
            entries = turn_entries(store, turn_arg)
            if not entries and (whole := _by_prefix(store, turn_arg)) is not None:
                turn_arg, entries = whole, turn_entries(store, whole)
            _show_turn(turn_arg, entries, fmt)
            return
        if turn and not turn_entries(store, turn):
            turn = _by_prefix(store, turn) or turn
        where = TraceFilter(turn=turn, account=account, pool=pool, chain=chain,
                            since=parse_since(since, datetime.now(UTC)) if since else None, errors=errors)
        entries = [dict(r.entry) for r in store_entries(store, last, where)]
        if fmt == "json" and not follow:
            emit_json({"store": store.url, "entries": entries})
            return
        turns: dict[str, Any] = {}
        _print_entries(entries, "jsonl" if fmt != "text" else fmt, turns=turns)
        if not entries and not follow and fmt == "text":
            click.echo("(no trace entries" + (" match the filters)" if where != TraceFilter() else ")"), err=True)
        if follow:
            _follow(store, where, "jsonl" if fmt != "text" else fmt, turns)
    finally:
        store.close()


def _by_prefix(store: Any, turn: str) -> str | None:
    """The one turn whose id starts with ``turn`` (the table shows eight characters of an id), ``None`` when
    none does; several are a usage error that names them."""
    from policy_engine.trace.read import turns_starting_with

    found = turns_starting_with(store, turn)
    if len(found) > 1:
        shown = ", ".join(found[:4]) + (", ..." if len(found) > 4 else "")
        raise click.UsageError(f"{printable(turn)!r} starts several turn ids ({printable(shown)}); give more of it")
    return found[0] if found else None


def _show_turn(turn: str, entries: list[dict[str, Any]], fmt: str) -> None:
    from policy_engine.trace.story import story, turn_lines

    if not entries:
        click.echo(f"error: no trace entries for turn {printable(turn)!r}", err=True)
        click.echo("hint: `mp-policy trace` lists the recent turns; entries older than settings.trace's "
                   "retention are gone, and a turn decided with settings.trace.enabled: false has none", err=True)
        sys.exit(EXIT_FAIL)
    if fmt == "json":
        emit_json({"turn": turn, "story": story(entries), "entries": entries})
    elif fmt == "jsonl":
        _print_entries(entries, fmt)
    else:
        for line in turn_lines(turn, entries):
            click.echo(printable(line))


def _follow(store: Any, where: Any, fmt: str, turns: dict[str, Any]) -> None:
    """Print new entries as they arrive (a blocking read on Redis; on SQLite a look at the file every 4 ms)."""
    from policy_engine.state import StateError
    from policy_engine.trace.entry import with_at
    from policy_engine.trace.read import FollowFilter, known

    stop = {"now": False}

    def stopping(signum: int, frame: Any) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, stopping)
    newest = store.log_before(None, 1)
    cursor = newest[-1].id if newest else None
    forward = FollowFilter(where, store)
    try:
        while not stop["now"]:
            try:
                records = store.wait_log(cursor, 0.5)
            except StateError as exc:
                click.echo(f"error: {exc}", err=True)
                sys.exit(EXIT_FAIL)
            if records:
                cursor = records[-1].id
                shown = [with_at(r.entry) for r in records if known(r.entry) and forward.matches(r.entry)]
                _print_entries(shown, fmt, head=False, turns=turns)
    except KeyboardInterrupt:
        pass



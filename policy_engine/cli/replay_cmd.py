"""``mp-policy replay --policy CANDIDATE``: run the recorded trace against another policy and show what changes."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from policy_engine.cli.common import EXIT_FAIL, common_options, emit_json, load_engine
from policy_engine.common.terminal_text import printable

__all__ = ["replay_command"]


def _outcome(o: dict[str, Any]) -> str:
    if o.get("error"):
        return f"could not replay it ({o['error']})"
    if o["servedBy"]:
        failed = f" after {', '.join(o['failed'])} failed" if o["failed"] else ""
        return f"{o['servedBy']} served{failed}"
    retry = f", retry after {o['retryAfter']}" if o.get("retryAfter") else ""
    return f"ran out{retry}"


@click.command("replay")
@click.option("--from", "source", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE.jsonl",
              help="Read the recorded trace from this export (mp-policy trace --format jsonl) instead of the store.")
@click.option("--since", metavar="DURATION|TIME",
              help="Only turns since then: 1d, or an ISO-8601 time (without an offset: in the policy's time zone, "
                   "as the trace shows it).")
@click.option("--last", type=click.IntRange(1, 1_000_000), default=100_000, show_default=True,
              help="Read at most this many of the newest entries from the store.")
@common_options
def replay_command(source: Path | None, since: str | None, last: int, **options: Any) -> None:
    """Backtest a policy: replay recorded traffic against --policy CANDIDATE.

    The recorded turns run again in time order through the candidate (fresh in-memory state, the
    recorded times as its clock: deterministic), with the recorded errors injected where the
    recorded traffic met them. The report lists the turns that end differently, how they would
    have ended, and a summary per account; the assumptions it makes are printed with it.
    The recording comes from the state store (--state, as for `mp-policy trace`) or --from FILE.
    A turn recorded in a project runs with that project's overlay as it is now (--project: one
    overlay for every turn instead).

    \b
    Examples:
      mp-policy trace --since 1d --format jsonl > day.jsonl
      mp-policy replay --policy candidate.yaml --from day.jsonl
      mp-policy replay --policy candidate.yaml --since 7d --format json
    """
    from policy_engine.cli.trace_cmd import parse_since
    from policy_engine.trace.read import TraceFileError, read_jsonl, store_entries
    from policy_engine.trace.replay import ASSUMPTIONS, replay

    if options["policy"] is None:
        raise click.UsageError("name the candidate policy with --policy FILE")
    cutoff = parse_since(since, datetime.now(UTC)) if since else None
    if source is not None:
        skipped: list[int] = []
        try:
            entries = read_jsonl(source, skipped=skipped)
        except TraceFileError as exc:
            click.echo(f"error: {printable(str(exc))}", err=True)
            sys.exit(EXIT_FAIL)
        if skipped:
            lines = ", ".join(map(str, skipped[:5])) + (", ..." if len(skipped) > 5 else "")
            click.echo(printable(f"warning: {source}: skipped {len(skipped)} line(s) that are not trace entries of "
                                 f"this version (line {lines})"), err=True)
    else:
        from policy_engine.cli.state_cmd import open_configured_store

        store = open_configured_store({**options, "policy": None}, readonly=True)
        try:
            entries = [dict(r.entry) for r in store_entries(store, last)]
        finally:
            store.close()
    report = replay(entries, _engines(options), since=cutoff).to_dict()
    if report["skippedEntries"]:
        click.echo(f"warning: skipped {report['skippedEntries']} entry(ies) whose fields are not what the engine "
                   "writes", err=True)
    if options["fmt"] == "json":
        emit_json(report)
        return
    click.echo(f"replayed {report['turns']} turn(s) against {printable(str(options['policy']))} "
               f"(revision {report['policyRevision']}): {report['different']} differ")
    for t in report["differences"]:
        click.echo(printable(f"  {t['at']}  turn {t['turn']}: recorded {_outcome(t['recorded'])}; "
                             f"candidate {_outcome(t['candidate'])}"))
    click.echo("accounts (turns served, failures: recorded → candidate):")
    for account, c in report["accounts"].items():
        click.echo(printable(f"  {account}: served {c['recordedServed']} → {c['candidateServed']}, "
                             f"failed {c['recordedFailed']} → {c['candidateFailed']}"))
    if report["candidateCouldNot"]:
        click.echo(f"the candidate could not replay {report['candidateCouldNot']} turn(s): see above")
    click.echo("assumptions:")
    for line in ASSUMPTIONS:
        click.echo(f"  - {line}")


def _engines(options: dict[str, Any]) -> Callable[[Callable[[], datetime], str | None], Any]:
    """The candidate's engines for :func:`~policy_engine.trace.replay.replay`, all on one in-memory store: the
    policy alone for turns without a project (its invalidity exits 1 with the diagnostics), with a recorded
    project's overlay for that project's turns (one that cannot be read is that project's setup error), or
    with the overlay of --project for every turn."""
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.engine import Engine
    from policy_engine.state import open_store
    from policy_engine.trace.replay import ReplaySetupError

    store = open_store("memory://", agent_dir=Path("."))
    chosen: Path | None = options["project"]
    base: list[Any] = []

    def make_engine(clock: Callable[[], datetime], project: str | None) -> Any:
        if project is None or chosen is not None:
            if not base:
                base.append(load_engine(**{**options, "state": store}, readonly=False, clock=clock,
                                        search_project=False))  # not the overlay of the folder replay runs in
            return base[0]
        try:
            return Engine.load(agent_dir=options["agent_dir"], project=project, policy=options["policy"], state=store,
                               clock=clock, search_project=False, quota_refresh=False)
        except PolicyError as exc:
            raise ReplaySetupError("; ".join(d.format() for d in exc.errors) or "invalid overlay") from exc
        except OSError as exc:
            raise ReplaySetupError(f"cannot read its overlay: {exc}") from exc

    return make_engine

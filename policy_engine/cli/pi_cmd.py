"""``mp-policy pi install|uninstall``: register the pi extension with pi, or take it out again."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policy_engine.cli.common import EXIT_FAIL, emit_json

__all__ = ["pi_group"]

_AGENT_DIR = click.option(
    "--agent-dir", "agent_dir", type=click.Path(file_okay=False, path_type=Path), envvar="PI_CODING_AGENT_DIR",
    help="pi's agent directory (default: $PI_CODING_AGENT_DIR, else ~/.pi/agent).")
_DRY_RUN = click.option("--dry-run", is_flag=True, help="Show the change to settings.json without writing it.")
_FORMAT = click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                       help="Output format (JSON goes to stdout).")

_WHAT_CHANGES = """\
What changes in pi: each prompt asks mp-policy which account and model to use, and a rate-limited
or used-up account hands the turn to the next one in its pool or chain (a notice says so).
See the decisions with /mp and /mp why inside pi, or `mp-policy state show`.
Undo with: mp-policy pi uninstall"""


@click.group("pi")
def pi_group() -> None:
    """Use mp-policy inside the pi coding agent (its extension, registered in pi's settings.json)."""


def _run(action: str, agent_dir: Path | None, dry_run: bool, fmt: str, keep_running: bool = True,
         idle_exit: str | None = None) -> None:
    from policy_engine.integrations.pi_setup import SettingsError, install, uninstall
    from policy_engine.policy.locations import agent_dir as default_agent_dir

    directory = default_agent_dir(agent_dir)
    try:
        change = (install(directory, dry_run=dry_run, keep_running=keep_running, idle_exit=idle_exit)
                  if action == "install" else uninstall(directory, dry_run=dry_run))
    except SettingsError as exc:
        click.echo(exc.diagnostic.format(), err=True)
        sys.exit(EXIT_FAIL)
    if fmt == "json":
        emit_json(change.to_dict())
        for note in change.notes:
            click.echo(f"note: {note}", err=True)
        return
    done = "would be" if dry_run else ("was" if change.changed else "")
    if not change.changed:
        state = "already installed" if action == "install" else "not installed"
        click.echo(f"The mp-policy extension is {state} in {change.settings}: nothing to change.")
    else:
        click.echo(f"{change.settings} {done} changed:")
        click.echo(change.diff, nl=False)
    for note in change.notes:
        click.echo(f"note: {note}", err=True)
    for path in change.stopped:
        click.echo(f"Stopped the engine server on {path}.")
    if action == "install":
        if change.socket:
            serve = (f"serve --socket {change.socket} --idle-exit {change.idle_exit}\n(one engine kept running "
                     f"between pi sessions; it stops after {change.idle_exit} without one)")
        else:
            serve = "serve --stdio (one engine for each pi session)"
        click.echo(f"The extension ({change.extension}) starts: {' '.join(change.command)} {serve}")
        if change.changed or dry_run:
            click.echo(_WHAT_CHANGES)
    elif change.changed and not dry_run:
        click.echo("pi no longer loads the mp-policy extension (from its next start).")


@pi_group.command("install")
@_AGENT_DIR
@click.option("--keep-running/--per-session", "keep_running", default=True, show_default=True,
              help="Keep one engine running between pi sessions (a Unix socket server; the default), or start "
                   "one for each pi session, which then waits for Python and the policy to load.")
@click.option("--idle-exit", "idle_exit", metavar="DURATION",
              help="How long the kept engine waits without a pi session before it stops (default 30m; "
                   "written as mpPolicy.idleExit).")
@_DRY_RUN
@_FORMAT
def install_command(agent_dir: Path | None, keep_running: bool, idle_exit: str | None, dry_run: bool,
                    fmt: str) -> None:
    """Register the extension in pi's settings.json and record which mp-policy it starts.

    Adds the extension's folder to `packages`, sets `retry.provider.maxRetries` to 0 (so a 429 reaches
    the extension instead of the provider SDK sleeping through its retry-after; the previous value is
    kept for uninstall) and records this mp-policy under `mpPolicy.command`. Every other setting stays;
    auth.json is never touched. Running it again changes nothing (or updates the recorded paths).
    MP_POLICY_CMD, when set where pi runs, overrides the recorded command (split on spaces).

    By default the extension talks to `mp-policy serve --socket <agent-dir>/mp-policy.sock --idle-exit
    30m`, starting it when nobody listens there: the server outlives pi, runs with the environment of
    the pi that started it, and stops once no pi has been connected for the idle time. --per-session
    starts `mp-policy serve --stdio` for each pi session instead (nothing is left running).
    MP_POLICY_SOCKET overrides the socket path ("" turns the socket off).

    Every install (but --dry-run) stops a server running on the socket, so that the next pi runs the
    mp-policy installed now (run it again after upgrading mp-policy). Uninstall stops it too.
    """
    if idle_exit is not None:
        from policy_engine.cli.serve_cmd import parse_idle_exit

        if not keep_running:
            raise click.UsageError("--idle-exit applies to the kept engine; --per-session starts one for each pi "
                                   "session, which stops with it")
        parse_idle_exit(idle_exit)
        idle_exit = idle_exit.strip().lower().replace(" ", "")  # as the extension and `serve` read it
    _run("install", agent_dir, dry_run, fmt, keep_running, idle_exit)


@pi_group.command("uninstall")
@_AGENT_DIR
@_DRY_RUN
@_FORMAT
def uninstall_command(agent_dir: Path | None, dry_run: bool, fmt: str) -> None:
    """Undo `mp-policy pi install`: remove the extension, restore `retry.provider.maxRetries`, stop a kept engine."""
    _run("uninstall", agent_dir, dry_run, fmt)

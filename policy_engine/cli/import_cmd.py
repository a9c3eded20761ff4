"""``mp-policy import``: a pi-multi-pass set-up (JSON) as commented mp-policy YAML, with a differences report."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from policy_engine.cli.common import EXIT_FAIL, emit_json
from policy_engine.common.terminal_text import printable
from policy_engine.policy.locations import PI_JSON_ADVICE

if TYPE_CHECKING:
    from policy_engine.pi_import import ImportReport

__all__ = ["import_command"]

_SECTIONS = (
    ("behaviour", "Behaves differently under mp-policy"),
    ("rewritten", "Rewritten by the import (mp-policy rejects the value; written as pi-multi-pass used it)"),
    ("dropped", "Left out (pi-multi-pass ignored it, or could never use it)"),
)


@click.command("import")
@click.argument("file", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", "output", metavar="OUT",
              help="Where the YAML goes: a .yaml file or a folder; '-' prints it (the report then goes to stderr). "
                   "Default: next to FILE, as multi-pass.yaml.")
@click.option("--project", "project", type=click.Path(exists=True, path_type=Path), metavar="DIR",
              help="Also import DIR/.pi/multi-pass.json into DIR/.pi/multi-pass.yaml.")
@click.option("--agent-dir", "agent_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              envvar="PI_CODING_AGENT_DIR",
              help="pi's agent directory (default: $PI_CODING_AGENT_DIR, else ~/.pi/agent).")
@click.option("--multi-sub", "multi_sub", metavar="VALUE",
              help="The MULTI_SUB value to analyse (default: $MULTI_SUB), e.g. openai-codex:2,anthropic.")
@click.option("--force", is_flag=True, help="Overwrite YAML files that exist already.")
@click.option("--dry-run", is_flag=True, help="Report what the import would write and find; write nothing.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format of the report (JSON goes to stdout).")
def import_command(file: Path | None, output: str | None, project: Path | None, agent_dir: Path | None,
                   multi_sub: str | None, force: bool, dry_run: bool, fmt: str) -> None:
    """Turn a pi-multi-pass set-up into commented mp-policy YAML, and say what will behave differently.

    FILE is pi-multi-pass's global multi-pass.json (default: <agent-dir>/multi-pass.json), or a
    project's .pi/multi-pass.json (then the global file is read only to understand it). The YAML
    goes next to it as multi-pass.yaml, which mp-policy reads before the JSON; pi-multi-pass keeps
    reading its JSON, which is never changed. An existing YAML is only replaced with --force, and
    every file is written atomically, all checked before any is written.

    \b
    What the YAML means:
      * values mp-policy accepts are carried over unchanged, so the YAML means exactly what the
        JSON already means to mp-policy (which reads pi's JSON as it is);
      * values mp-policy rejects are rewritten to what pi-multi-pass did with them (hours [9, 9]
        never opened: the window is dropped; an unknown strategy was round-robin) or to their one
        obvious meaning ("Mon" is mon), and reported;
      * keys pi-multi-pass ignored are left out, and reported;
      * every section, pool strategy, schedule, chain and preset gets a comment in plain words,
        and the differences that concern an item are noted above it.

    \b
    MULTI_SUB is not written into the YAML: mp-policy reads it at run time, as pi did (at least N
    extra accounts per provider). The import reads it (or --multi-sub) to report accounts that only
    it creates and labels it moves, and names the accounts it adds in a comment.

    \b
    The report lists, for this set-up only, each DESIGN §10 deviation that applies (a provider in
    two enabled pools, presets in failover, preferred members outside their windows, quota-first,
    custom selectors, chains, cooldowns, ...), with the file, line and JSON path; then what was
    rewritten or left out; then the warnings `mp-policy validate` would show for the YAML.
    --format json prints {written, differences: [{code, path, message, kind, file, line}],
    warnings, outputs}.

    \b
    Examples:
      mp-policy import                              # ~/.pi/agent/multi-pass.json -> multi-pass.yaml
      mp-policy import --project ~/src/work-repo    # also work-repo/.pi/multi-pass.yaml
      mp-policy import ~/src/app/.pi/multi-pass.json
      mp-policy import -o - | less                  # look before writing anything
      mp-policy import --dry-run --format json      # the differences as JSON
      mp-policy import --force --multi-sub openai-codex:2

    Exit codes: 0 imported (differences are information, not failures), 1 the input cannot be
    read or is not a pi-multi-pass config, mp-policy keys already in it are invalid, an output
    exists (without --force) or cannot be written (nothing is written then), 2 a usage error.
    """
    from policy_engine.pi_import import InvalidResult, OutputExists, PiImportError, plan_import, write_import

    try:
        report = plan_import(file, agent_dir=agent_dir, project=project, output=output, multi_sub=multi_sub)
    except PiImportError as exc:
        if fmt == "json":
            emit_json({"written": [], "error": exc.to_dict()})
        else:
            click.echo(printable(f"error: {exc.format()}", keep="\n"), err=True)
        sys.exit(EXIT_FAIL)
    except InvalidResult as exc:
        _fail(fmt, "the imported YAML would not be valid (mp-policy keys in the input that are wrong); nothing "
              "was written", [d.format() for d in exc.diagnostics])
    if not dry_run:
        try:
            write_import(report, force=force)
        except OutputExists as exc:
            _fail(fmt, "these files exist already; nothing was written (use --force to replace them, or -o to "
                  "write elsewhere)", [str(p) for p in exc.paths])
        except OSError as exc:
            _fail(fmt, f"cannot write {exc.filename or 'the output'}: {exc.strerror or exc}; nothing was replaced", [])
    if fmt == "json":
        emit_json({**report.to_dict(), "advice": PI_JSON_ADVICE})
        return
    to_stdout = [f for f in report.files if f.target is None]
    for number, f in enumerate(to_stdout):
        if number:
            click.echo(f"---\n# The project overlay: save as {f.source.with_suffix('.yaml')}")
        click.echo(f.text, nl=False)
    _print_report(report, err=bool(to_stdout), dry_run=dry_run)


def _fail(fmt: str, message: str, details: list[str]) -> NoReturn:
    if fmt == "json":
        emit_json({"written": [], "error": {"message": message, "details": details}})
    else:
        click.echo(f"error: {message}", err=True)
        for line in details:
            click.echo(printable(f"  {line}", keep="\n"), err=True)
    sys.exit(EXIT_FAIL)


def _print_report(report: ImportReport, *, err: bool, dry_run: bool) -> None:
    def say(text: str = "") -> None:
        click.echo(printable(text, keep="\n"), err=err)  # names from a pi file, which is read tolerantly

    for f in report.files:
        if f.target is None:
            continue
        verb = "wrote" if f.written else "would write" if dry_run else "did not write"
        say(f"{verb} {f.target} (from {f.source_name})")
    for kind, title in _SECTIONS:
        items = [d for d in report.differences if d.kind == kind]
        if not items:
            continue
        say()
        say(f"{title} ({len(items)}):")
        for d in items:
            say(f"  {d.location()}: {d.code} (at {d.json_path})")
            for line in textwrap.wrap(d.message, 100, break_on_hyphens=False):
                say(f"      {line}")
    if report.warnings:
        say()
        say(f"Warnings about the YAML ({len(report.warnings)}):")
        for warning in report.warnings:
            say("  " + warning.replace("\n", "\n  "))
    say()
    total = len(report.differences)
    say(f"{total} difference(s) from pi-multi-pass for this set-up. Check the result with `mp-policy validate`.")
    say()
    for line in textwrap.wrap(PI_JSON_ADVICE, 100, break_on_hyphens=False):
        say(line)

"""``mp-policy validate``: schema and compile diagnostics as ``file:line:col: code: message``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from policy_engine.cli.common import EXIT_FAIL, common_options, emit_json, print_diagnostics
from policy_engine.common.diagnostics import Diagnostic

__all__ = ["REPEATS", "validate_command"]

REPEATS = 5
"""How many warnings of one code in one file the text output shows before it counts the rest."""


def _cap_repeats(diagnostics: list[Diagnostic]) -> tuple[list[Diagnostic], dict[tuple[str | None, str], int]]:
    """The diagnostics to print (every error; at most :data:`REPEATS` warnings per file and code) and how
    many warnings of each (file, code) were left out."""
    seen: dict[tuple[str | None, str], int] = {}
    shown: list[Diagnostic] = []
    for d in diagnostics:
        if d.severity == "warning":
            key = (d.file, d.code)
            seen[key] = seen.get(key, 0) + 1
            if seen[key] > REPEATS:
                continue
        shown.append(d)
    return shown, {key: count - REPEATS for key, count in seen.items() if count > REPEATS}


@click.command("validate")
@click.argument("files", nargs=-1, type=click.Path(path_type=Path))
@click.option("--kind", type=click.Choice(["policy", "project", "test"]),
              help="What FILES are (default: *.test.yaml = test, .pi/* = project, else policy).")
@click.option("--strict", is_flag=True, help="Fail on warnings too.")
@click.option("--all", "show_all", is_flag=True,
              help=f"Show every warning (text output shows at most {REPEATS} of one code per file, then a count).")
@common_options
def validate_command(files: tuple[Path, ...], kind: str | None, strict: bool, show_all: bool,
                     **options: Any) -> None:
    """Check policies: every schema error and compile warning, with file, line, column and JSON path.

    Without FILES, checks the effective policy of this set-up (the global policy, the project
    overlay found from --project or the current directory, and MULTI_SUB).
    """
    from policy_engine.compile.check import check_effective, check_file, guess_kind

    if files:
        diagnostics = []
        # Overlays are checked against a global policy given alongside them (else the agent dir's).
        policies = [p for p in files if (kind or guess_kind(p)) == "policy"]
        global_policy = options["policy"] or (policies[0] if len(policies) == 1 else None)
        for path in files:
            diagnostics += check_file(path, kind, agent=options["agent_dir"],  # type: ignore[arg-type]
                                      global_policy=global_policy)
        checked = list(files)
    else:
        checked, diagnostics = check_effective(agent=options["agent_dir"], project=options["project"],
                                               policy=options["policy"])
    errors = [d for d in diagnostics if d.severity == "error"]
    warnings = [d for d in diagnostics if d.severity == "warning"]
    failed = bool(errors) or (strict and bool(warnings))
    if options["fmt"] == "json":
        emit_json({"valid": not failed, "files": [str(p) for p in checked],
                   "errors": len(errors), "warnings": len(warnings),
                   "diagnostics": [d.to_dict() for d in diagnostics]})
    else:
        shown, hidden = (diagnostics, {}) if show_all else _cap_repeats(diagnostics)
        print_diagnostics(shown, err=False)
        for (file, code), count in hidden.items():
            click.echo(f"{file or '(policy)'}: … and {count} more {code} warning{'' if count == 1 else 's'} "
                       "(--all shows every one)")
        if not checked:
            click.echo("no policy found (looked for <agent-dir>/multi-pass.yaml/.json and .pi/multi-pass.*); "
                       "an empty policy is valid", err=True)
        where = ", ".join(map(str, checked)) or "(empty policy)"
        verdict = "invalid" if failed else "valid"
        click.echo(f"{where}: {verdict} — {len(errors)} error(s), {len(warnings)} warning(s)")
    if failed:
        sys.exit(EXIT_FAIL)

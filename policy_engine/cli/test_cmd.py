"""``mp-policy test``: run policy tests (files or folders of ``*.test.yaml``)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from policy_engine.cli.common import EXIT_FAIL, EXIT_USAGE, emit_json, exit_on_state_error, print_diagnostics
from policy_engine.common.terminal_text import printable

__all__ = ["test_command"]


@click.command("test")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@click.option("--exclude", multiple=True, metavar="NAME", help="Leave out test files with this file name.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("-v", "--verbose", is_flag=True, help="List passing cases too.")
@click.option("--state", metavar="URL",
              help="Run every case against this state store (each case in a namespace of its own, emptied "
                   "afterwards), e.g. redis://127.0.0.1:6379/0 or a .db file; default: a fresh in-memory store.")
def test_command(paths: tuple[Path, ...], exclude: tuple[str, ...], fmt: str, verbose: bool,
                 state: str | None) -> None:
    """Run policy tests. PATHS are test files or folders (searched for *.test.yaml); default: policies/ or ."""
    from policy_engine.testing.policy_tests import run_paths

    if not paths:
        paths = (Path("policies"),) if Path("policies").is_dir() else (Path("."),)
    if state:
        from policy_engine.plugins import plugin_stores
        from policy_engine.state import StateError, open_store

        try:  # fail once, clearly, rather than in every case
            open_store(state, agent_dir=Path.cwd(), namespace="policy-test-probe", stores=plugin_stores).close()
        except StateError as exc:
            exit_on_state_error(exc)
    results = run_paths(paths, exclude=exclude, state=state)
    if not results:
        click.echo(f"no test files (*.test.yaml) found in {', '.join(map(str, paths))}", err=True)
        sys.exit(EXIT_USAGE)
    passed = sum(r.passed for r in results)
    failed = sum(r.failed for r in results)
    if fmt == "json":
        emit_json({
            "passed": passed,
            "failed": failed,
            "files": [{
                "path": r.path,
                "diagnostics": [d.to_dict() for d in r.diagnostics],
                "cases": [{"name": c.name, "passed": c.passed, "failures": c.failures} for c in r.cases],
            } for r in results],
        })
    else:
        color = sys.stdout.isatty()
        for r in results:
            status = "ok" if r.failed == 0 else "FAIL"
            click.echo(printable(f"{r.path}: {r.passed} passed, {r.failed} failed  {status}"))
            if r.diagnostics:
                print_diagnostics(r.diagnostics, err=False)
            for c in r.cases:
                if not c.passed:
                    name = printable(c.name)  # failures quote decisions: names from auth.json, the state store
                    click.echo(click.style(f"  FAIL {name}", fg="red") if color else f"  FAIL {name}")
                    for line in c.failures:
                        click.echo(printable(f"      {line}"))
                elif verbose:
                    click.echo(printable(f"  ok   {c.name}"))
        click.echo(f"{passed} passed, {failed} failed")
    if failed:
        sys.exit(EXIT_FAIL)

"""``mp-policy demo``: copy the demo agent directory bundled in the package to a directory of the user's."""

from __future__ import annotations

import os
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import click

from policy_engine.cli.common import EXIT_FAIL, emit_json

__all__ = ["demo_command", "demo_files"]

DEFAULT_DIRECTORY = "mp-policy-demo"
# What the demo consists of: policies, tests, overlays, the event script and the (fake) logins. Anything else
# found beside them in a checkout (a state file written by a command run there) is not part of it.
_DEMO_SUFFIXES = (".yaml", ".json")


def demo_files() -> dict[str, bytes]:
    """The bundled demo agent directory: relative POSIX path → content, sorted by path."""
    found: dict[str, bytes] = {}

    def walk(folder: Traversable, prefix: str) -> None:
        for entry in folder.iterdir():
            if entry.is_dir():
                if entry.name != "__pycache__":
                    walk(entry, f"{prefix}{entry.name}/")
            elif entry.name.endswith(_DEMO_SUFFIXES):
                found[prefix + entry.name] = entry.read_bytes()

    walk(files("policy_engine.demo"), "")
    return dict(sorted(found.items()))


@click.command("demo")
@click.argument("directory", required=False, default=DEFAULT_DIRECTORY,
                type=click.Path(file_okay=False, path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (JSON goes to stdout).")
def demo_command(directory: Path, fmt: str) -> None:
    """Write the bundled demo agent directory to DIRECTORY (default: ./mp-policy-demo).

    The demo is a complete set-up to try every command on: a policy (three Codex accounts, two Claude
    accounts and Gemini, with a scheduled pool, a chain and presets), fake logins (auth.json), policy
    tests, a project overlay and a simulate event script. DIRECTORY must be new or empty; point
    --agent-dir (or PI_CODING_AGENT_DIR) at it afterwards. Nothing else is written.
    """
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        raise click.UsageError(f"{directory} already exists and is not an empty directory; name a new one")
    content = demo_files()
    if not content:  # a broken installation: the package data is missing
        click.echo("error: the demo files are missing from this installation of mp-policy (reinstall it)", err=True)
        raise SystemExit(EXIT_FAIL)
    for relative, data in content.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if target.name == "auth.json":  # credentials files are private, even fake ones
            os.chmod(target, 0o600)
    if fmt == "json":
        emit_json({"directory": str(directory), "files": list(content)})
        return
    click.echo(f"wrote the demo agent directory to {directory} ({len(content)} files):")
    for relative in content:
        click.echo(f"  {relative}")
    click.echo("try:")
    click.echo(f"  mp-policy eval --agent-dir {directory} --chain main --explain")
    click.echo(f"  mp-policy test {directory}")

"""``mp-policy schema``: print a JSON Schema (for editors and CI)."""

from __future__ import annotations

import click

__all__ = ["schema_command"]


@click.command("schema")
@click.argument("kind", type=click.Choice(["policy", "project", "test"]), default="policy")
def schema_command(kind: str) -> None:
    """Print the JSON Schema (draft 2020-12) of a policy, a project overlay or a policy test file."""
    from policy_engine.validation import schema_text

    click.echo(schema_text(kind))  # type: ignore[arg-type]

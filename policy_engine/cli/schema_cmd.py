"""``mp-policy schema``: print a JSON Schema (for editors and CI)."""

from __future__ import annotations

import click

__all__ = ["schema_command"]


@click.command("schema")
@click.argument("kind", type=click.Choice(["policy", "project", "test"]), default="policy")
def schema_command(kind: str) -> None:
    """Print the JSON Schema (draft 2020-12) of a policy, a project overlay or a policy test file.

    The output is self-contained: schemas it refers to are embedded under $defs with their $id.
    """
    from policy_engine.validation import bundled_schema_text

    click.echo(bundled_schema_text(kind))  # type: ignore[arg-type]

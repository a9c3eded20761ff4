"""``mp-policy schema``: print a JSON Schema (for editors and CI)."""

from __future__ import annotations

import click

__all__ = ["schema_command"]


@click.command("schema")
@click.argument("kind", type=click.Choice(["policy", "project", "test"]), default="policy")
@click.option("--plugins/--no-plugins", default=True, show_default=True,
              help="Include the options schemas of plugin strategies (pools[].options per strategy).")
def schema_command(kind: str, plugins: bool) -> None:
    """Print the JSON Schema (draft 2020-12) of a policy, a project overlay or a policy test file.

    The output is self-contained: schemas it refers to are embedded under $defs with their $id.
    With the installed plugins' strategies, pools[].options is checked per strategy.
    """
    from policy_engine.policy.validation import bundled_schema_text

    options = None
    if plugins:
        from policy_engine.plugins import get_registry

        options = {name: s.options_schema for name, s in get_registry().strategies.items()
                   if getattr(s, "options_schema", None)}
    click.echo(bundled_schema_text(kind, options))  # type: ignore[arg-type]

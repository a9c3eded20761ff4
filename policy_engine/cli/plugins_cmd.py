"""``mp-policy plugins``: which plugins are loaded, where they come from and what they register."""

from __future__ import annotations

import os
from typing import Any

import click

from policy_engine.cli.common import EXIT_FAIL, emit_json

__all__ = ["plugins_command", "plugins_report"]


def plugins_report() -> dict[str, Any]:
    """The loaded plugins (built-ins first), what each registers, the problems and the discovery settings."""
    from policy_engine import __version__
    from policy_engine.plugins import ALLOW_ENV, DISABLE_ENV, get_registry

    registry = get_registry()
    plugins = []
    for info in registry.plugins:
        registers = registry.contributions(info.name)
        schemas = sorted(name for name in registers.get("strategies", [])
                         if getattr(registry.strategies[name], "options_schema", None))
        plugins.append({
            "name": info.name, "builtin": info.builtin, "module": info.module,
            "distribution": info.distribution, "version": __version__ if info.builtin else info.version,
            "location": info.location, "registers": registers, "optionsSchemas": schemas,
        })
    return {
        "plugins": plugins,
        "problems": [{"plugin": p.plugin, "message": p.message} for p in registry.problems],
        "autoload": not os.environ.get(DISABLE_ENV),
        "allowList": None if os.environ.get(ALLOW_ENV) is None
        else [p.strip() for p in os.environ[ALLOW_ENV].split(",") if p.strip()],
    }


_KIND_LABELS = {"strategies": "strategies", "providers": "providers", "quota-checkers": "quota checkers",
                "state-stores": "state stores"}


@click.command("plugins")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
              help="Output format (json: one object with plugins, problems and discovery settings).")
@click.option("--installed", is_flag=True, help="Only third-party plugins (leave the built-in ones out).")
@click.option("--strict", is_flag=True, help="Exit 1 when a plugin failed to load or conflicts with another.")
def plugins_command(fmt: str, installed: bool, strict: bool) -> None:
    """List the loaded plugins: distribution, version, what each registers, and load problems.

    Third-party plugins are found through the "mp_policy" entry-point group. Set
    MP_POLICY_DISABLE_PLUGIN_AUTOLOAD=1 to load none, or MP_POLICY_LOAD_PLUGINS=a,b to load only
    the entry points (or distributions) named. A plugin that fails to load is listed under
    problems and does not stop the engine.
    """
    report = plugins_report()
    if installed:
        report["plugins"] = [p for p in report["plugins"] if not p["builtin"]]
    if fmt == "json":
        emit_json(report)
        if report["problems"] and strict:
            raise SystemExit(EXIT_FAIL)
        return
    third_party = sum(1 for p in report["plugins"] if not p["builtin"])
    count = len(report["plugins"])
    click.echo(f"{count} plugin{'' if count == 1 else 's'} loaded ({third_party} installed, "
               f"{count - third_party} built-in)")
    for plugin in report["plugins"]:
        if plugin["builtin"]:
            origin = f"built-in (mp-policy {plugin['version'] or ''})".replace(" )", ")")
        else:
            dist = plugin["distribution"] or "?"
            origin = f"{dist} {plugin['version'] or ''}".strip() + f"  ({plugin['module']})"
        click.echo("")
        click.echo(f"{click.style(plugin['name'], bold=True)}  {origin}")
        if plugin["location"]:
            click.echo(f"  from {plugin['location']}")
        if not plugin["registers"]:
            click.echo("  registers nothing")
        for kind, keys in plugin["registers"].items():
            marked = [f"{k} (options schema)" if k in plugin["optionsSchemas"] else k for k in keys]
            click.echo(f"  {_KIND_LABELS.get(kind, kind)}: {', '.join(marked)}")
    if not report["autoload"]:
        click.echo("\nthird-party plugins are not loaded (MP_POLICY_DISABLE_PLUGIN_AUTOLOAD is set)")
    elif report["allowList"] is not None:
        names = ", ".join(report["allowList"]) or "none"
        click.echo(f"\nonly these third-party plugins may load (MP_POLICY_LOAD_PLUGINS): {names}")
    if report["problems"]:
        click.echo("", err=True)
        for problem in report["problems"]:
            click.echo(f"warning: plugin {problem['plugin']}: {problem['message']}", err=True)
    if report["problems"] and strict:
        raise SystemExit(EXIT_FAIL)

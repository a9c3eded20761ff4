"""The ``mp-policy`` command group and the entry point that maps failures to exit codes."""

from __future__ import annotations

import sys
import traceback

import click

from policy_engine import __version__
from policy_engine.cli.chain_cmd import chain_group
from policy_engine.cli.common import EXIT_INTERNAL
from policy_engine.cli.demo_cmd import demo_command
from policy_engine.cli.eval_cmd import eval_command
from policy_engine.cli.explain_cmd import explain_command
from policy_engine.cli.import_cmd import import_command
from policy_engine.cli.limits_cmd import limits_command
from policy_engine.cli.pi_cmd import pi_group
from policy_engine.cli.plugins_cmd import plugins_command
from policy_engine.cli.pool_cmd import pool_group
from policy_engine.cli.preset_cmd import preset_group
from policy_engine.cli.project_cmd import project_group
from policy_engine.cli.run_cmds import fail_command, select_command, succeed_command
from policy_engine.cli.schema_cmd import schema_command
from policy_engine.cli.serve_cmd import serve_command
from policy_engine.cli.simulate_cmd import simulate_command
from policy_engine.cli.state_cmd import state_group
from policy_engine.cli.subs_cmd import subs_group
from policy_engine.cli.test_cmd import test_command
from policy_engine.cli.validate_cmd import validate_command

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mp-policy")
def cli() -> None:
    """Decide which AI account and model a coding agent uses, and where it goes when rate-limited.

    Policies are YAML (or pi-multi-pass JSON): the global one in <agent-dir>/multi-pass.yaml,
    a project overlay in <project>/.pi/multi-pass.yaml. Exit codes: 0 ok, 1 a failing check or an
    invalid policy, 2 a usage error, 3 an internal error.
    """


cli.add_command(validate_command)
cli.add_command(subs_group)
cli.add_command(pool_group)
cli.add_command(chain_group)
cli.add_command(preset_group)
cli.add_command(project_group)
cli.add_command(eval_command)
cli.add_command(explain_command)
cli.add_command(simulate_command)
cli.add_command(test_command)
cli.add_command(schema_command)
cli.add_command(state_group)
cli.add_command(plugins_command)
cli.add_command(import_command)
cli.add_command(limits_command)
cli.add_command(pi_group)
cli.add_command(select_command)
cli.add_command(fail_command)
cli.add_command(succeed_command)
cli.add_command(serve_command)
cli.add_command(demo_command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; unexpected exceptions exit 3 with a short report (a traceback with MP_POLICY_DEBUG=1)."""
    import os

    try:
        cli.main(args=argv, prog_name="mp-policy", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: never a bare traceback for users
        if os.environ.get("MP_POLICY_DEBUG"):
            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(set MP_POLICY_DEBUG=1 for a traceback; please report it)", err=True)
        sys.exit(EXIT_INTERNAL)

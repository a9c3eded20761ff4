"""The ``mp-policy`` command group and the entry point that maps failures to exit codes.

Commands are imported only when they run (click's lazy-loading group pattern): ``mp-policy eval``
imports the eval command and what it needs, never ``asyncio`` for ``limits`` or the editors of
``pool``; ``mp-policy --help`` lists every command from :data:`COMMANDS` without importing any.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, MutableMapping
from typing import Any

import click

from policy_engine import __version__

__all__ = ["COMMANDS", "LazyGroup", "cli", "main"]

#: Command name -> (module under ``policy_engine.cli``, attribute, the short help ``--help`` shows).
#: A test checks every short help against the command's own docstring.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "validate": ("validate_cmd", "validate_command",
                 "Check policies: every schema error and compile warning, with file, line, column and JSON path."),
    "subs": ("subs_cmd", "subs_group", "Manage extra accounts: openai-codex-2, anthropic-3, ..."),
    "pool": ("pool_cmd", "pool_group",
             "Manage rotation pools: accounts that stand in for each other (pi-multi-pass's /pool)."),
    "chain": ("chain_cmd", "chain_group",
              "Manage fallback chains: pools to fall back through, each with its model (pi's /pool chain)."),
    "preset": ("preset_cmd", "preset_group",
               "Manage presets: named routes across providers (pi-multi-pass's /mp-preset)."),
    "project": ("project_cmd", "project_group",
                "A project's overlay <project>/.pi/multi-pass.yaml (pi-multi-pass's /pool project)."),
    "eval": ("eval_cmd", "eval_command",
             "Show the decision for a new turn (a dry run: reads state, writes nothing)."),
    "explain": ("explain_cmd", "explain_command",
                "Explain the whole effective policy: pools, chains, presets, reach, and what nothing reaches."),
    "simulate": ("simulate_cmd", "simulate_command",
                 "Simulate a period: which account and model each route would use, when and why it changes."),
    "test": ("test_cmd", "test_command", "Run policy tests."),
    "schema": ("schema_cmd", "schema_command",
               "Print the JSON Schema (draft 2020-12) of a policy, a project overlay or a policy test file."),
    "state": ("state_cmd", "state_group",
              "Inspect or reset the routing state (cooldowns, cursors, turns, quota snapshots)."),
    "plugins": ("plugins_cmd", "plugins_command",
                "List the loaded plugins: distribution, version, what each registers, and load problems."),
    "import": ("import_cmd", "import_command",
               "Turn a pi-multi-pass set-up into commented mp-policy YAML, and say what will behave differently."),
    "limits": ("limits_cmd", "limits_command",
               "Check every account's remaining quota now, in parallel, and list them best first."),
    "pi": ("pi_cmd", "pi_group",
           "Use mp-policy inside the pi coding agent (its extension, registered in pi's settings.json)."),
    "select": ("run_cmds", "select_command",
               "Start a turn: print the account and model to use, and write the turn to the state."),
    "fail": ("run_cmds", "fail_command",
             "Report an error on a turn: cool the account down if the error rotates, and print where to go next."),
    "succeed": ("run_cmds", "succeed_command",
                "End a turn that worked: forget its cascade (cooldowns and cursors stay)."),
    "serve": ("serve_cmd", "serve_command",
              "Answer select, fail, succeed, status and explain requests: one JSON object per line each way."),
    "demo": ("demo_cmd", "demo_command",
             "Write the bundled demo agent directory to DIRECTORY (default: ./mp-policy-demo)."),
    "trace": ("trace_cmd", "trace_command",
              "Show the decision trace: what each turn asked, who served, why the others were skipped."),
    "replay": ("replay_cmd", "replay_command",
               "Backtest a policy: replay recorded traffic against --policy CANDIDATE."),
}


class _LazyCommands(MutableMapping[str, click.Command]):
    """``Group.commands`` whose entries are imported on first access (``in`` and iteration import nothing)."""

    def __init__(self, table: dict[str, tuple[str, str, str]]) -> None:
        self._table = table
        self._loaded: dict[str, click.Command] = {}

    def loaded(self, name: str) -> click.Command | None:
        """The command if it was imported already (or added directly), else None."""
        return self._loaded.get(name)

    def __getitem__(self, name: str) -> click.Command:
        command = self._loaded.get(name)
        if command is None:
            if name not in self._table:
                raise KeyError(name)
            module, attribute, _ = self._table[name]
            command = getattr(importlib.import_module(f"policy_engine.cli.{module}"), attribute)
            self._loaded[name] = command
        return command

    def __setitem__(self, name: str, command: click.Command) -> None:
        self._loaded[name] = command

    def __delitem__(self, name: str) -> None:
        found = self._loaded.pop(name, None) is not None
        if self._table.pop(name, None) is None and not found:
            raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._loaded or name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*self._table, *self._loaded]))

    def __len__(self) -> int:
        return len(set(self._table) | set(self._loaded))


class LazyGroup(click.Group):
    """A click group whose subcommands are imported when they run (click's documented lazy group).

    ``--help`` takes each short help from the table, so listing the commands imports none of them.
    """

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._lazy = dict(lazy)
        self.commands: _LazyCommands = _LazyCommands(self._lazy)  # type: ignore[assignment]

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` as click writes it, from the table for commands not imported yet."""
        entries: list[tuple[str, click.Command | None]] = []
        for name in self.list_commands(ctx):
            command = self.commands.loaded(name)
            if command is None or not command.hidden:
                entries.append((name, command))
        if entries:
            limit = formatter.width - 6 - max(len(name) for name, _ in entries)
            rows = [(name, command.get_short_help_str(limit) if command is not None
                     else _short_help(self._lazy[name][2], limit)) for name, command in entries]
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _short_help(text: str, limit: int) -> str:
    """What click's ``get_short_help_str`` makes of a command's first sentence at ``limit`` characters."""
    from click.utils import make_default_short_help

    return make_default_short_help(text, limit).strip()


@click.group(cls=LazyGroup, lazy=COMMANDS,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="mp-policy")
def cli() -> None:
    """Decide which AI account and model a coding agent uses, and where it goes when rate-limited.

    Policies are YAML (or pi-multi-pass JSON): the global one in <agent-dir>/multi-pass.yaml,
    a project overlay in <project>/.pi/multi-pass.yaml. Exit codes: 0 ok, 1 a failing check or an
    invalid policy, 2 a usage error, 3 an internal error.
    """


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; unexpected exceptions exit 3 with a short report (a traceback with MP_POLICY_DEBUG=1)."""
    import os

    # No arguments: the help, and success (not click's exit 2); shell completion also calls the program without
    # arguments, with _MP_POLICY_COMPLETE set, and is left to click.
    if not (sys.argv[1:] if argv is None else argv) and not os.environ.get("_MP_POLICY_COMPLETE"):
        click.echo(cli.get_help(click.Context(cli, info_name="mp-policy")))
        sys.exit(0)
    try:
        cli.main(args=argv, prog_name="mp-policy", standalone_mode=True)
    except SystemExit:
        raise
    except Exception as exc:  # the last line of defence: never a bare traceback for users
        from policy_engine.cli.common import EXIT_INTERNAL

        if os.environ.get("MP_POLICY_DEBUG"):
            import traceback

            traceback.print_exc()
        click.echo(f"internal error: {type(exc).__name__}: {exc} "
                   "(set MP_POLICY_DEBUG=1 for a traceback; please report it)", err=True)
        sys.exit(EXIT_INTERNAL)

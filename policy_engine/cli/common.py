"""Options every command shares, and the helpers that turn them into an engine."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.terminal_text import printable

if TYPE_CHECKING:
    from policy_engine.state import StateStore

__all__ = ["EXIT_FAIL", "EXIT_INTERNAL", "EXIT_OK", "EXIT_USAGE", "check_one_start", "common_options", "emit_json",
           "exit_on_route_error", "exit_on_state_error", "format_choices", "load_engine", "print_diagnostics",
           "reject_unknown_provider", "route_options", "warn_unknown_provider"]

EXIT_OK, EXIT_FAIL, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])


def common_options(func: F) -> F:
    """``--policy``, ``--project``, ``--agent-dir``, ``--state``, ``--format``."""
    options = [
        click.option("--policy", "policy", type=click.Path(dir_okay=False, path_type=Path),
                     help="Policy file to use instead of <agent-dir>/multi-pass.yaml (or .json)."),
        click.option("--project", "project", type=click.Path(exists=True, path_type=Path),
                     help="Project directory (or overlay file); default: search from the current directory up."),
        click.option("--agent-dir", "agent_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
                     envvar="PI_CODING_AGENT_DIR",
                     help="pi's agent directory (default: $PI_CODING_AGENT_DIR, else ~/.pi/agent)."),
        click.option("--state", "state", envvar="MP_POLICY_STATE", metavar="URL",
                     help="State store: memory://, sqlite:///path.db (default: SQLite in the agent directory)."),
        click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
                     help="Output format (JSON goes to stdout)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def route_options(func: F) -> F:
    """Where a turn starts (``--provider``, ``--pool``, ``--chain``, ``--preset``) and ``--model``, for ``eval`` and
    ``select``; check them with :func:`check_one_start`."""
    options = [
        click.option("--provider", help="Start from this account (e.g. anthropic-2)."),
        click.option("--pool", help="Start from this pool."),
        click.option("--chain", help="Start from this chain."),
        click.option("--preset", help="Start from this preset."),
        click.option("--model", help="The model requested (pool and provider routes keep it)."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


def check_one_start(provider: str | None, pool: str | None, chain: str | None, preset: str | None) -> None:
    """A usage error unless exactly one of ``--provider``, ``--pool``, ``--chain`` or ``--preset`` is given."""
    if sum(1 for start in (provider, pool, chain, preset) if start) != 1:
        raise click.UsageError("name exactly one of --provider, --pool, --chain or --preset")


def format_choices(*choices: str) -> Callable[[F], F]:
    """Replace the shared ``--format text|json`` option (of ``common_options``) with one offering ``choices``.

    Put it above ``@common_options`` (e.g. ``explain`` offers ``dot``, ``simulate`` ``csv``).
    """
    def decorate(func: F) -> F:
        params = func.__click_params__  # type: ignore[attr-defined]
        index = next(i for i, p in enumerate(params) if p.name == "fmt")
        params[index] = click.Option(["--format", "fmt"], type=click.Choice(choices), default="text",
                                     show_default=True, help="Output format (on stdout).")
        return func
    return decorate


def emit_json(data: Any) -> None:
    """Print JSON to stdout (DEL, C1 and bidirectional controls as ``\\uXXXX``, as JSON already writes C0)."""
    click.echo(printable(json.dumps(data, indent=2, ensure_ascii=False, default=str), keep="\n"))


def print_diagnostics(diagnostics: list[Diagnostic], *, err: bool = True) -> None:
    """Print diagnostics, one per line (with hints)."""
    for d in diagnostics:
        text = d.format()
        if d.severity == "error":
            text = click.style(text.split(": ", 1)[0], bold=True) + ": " + text.split(": ", 1)[1] \
                if ": " in text else text
        click.echo(text, err=err)


def exit_on_state_error(exc: Exception) -> NoReturn:
    """Report a state-store problem and exit: 2 for a URL that names no store, 1 for a broken store."""
    from policy_engine.state import StateURLError

    click.echo(f"error: {exc}", err=True)
    sys.exit(EXIT_USAGE if isinstance(exc, StateURLError) else EXIT_FAIL)


def exit_on_route_error(exc: Exception, engine: Any, hint: str | None = None) -> NoReturn:
    """Report a request the engine cannot answer (a :class:`~policy_engine.evaluate.route.RouteError`) and exit 2.

    When no policy file was found that is the likely cause, and the hint says where they were looked
    for; else ``hint``, when given.
    """
    click.echo(f"error: {printable(str(exc))}", err=True)
    sources = engine.sources
    if sources is not None and sources.global_doc is None and sources.project_doc is None:
        click.echo(f"hint: no policy file was found (looked for multi-pass.yaml/.json in {sources.agent_dir} "
                   "and .pi/multi-pass.yaml/.json from the current directory up); use --agent-dir, --policy "
                   "or --project", err=True)
    elif hint:
        click.echo(f"hint: {hint}", err=True)
    sys.exit(EXIT_USAGE)


def warn_unknown_provider(engine: Any, provider: str | None) -> None:
    """A typo in --provider is not an error (it is skipped as unknown), but deserves a warning."""
    if provider is None or provider in engine.graph.accounts:
        return
    import difflib  # only for the "did you mean"

    close = difflib.get_close_matches(provider, sorted(engine.graph.accounts), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    click.echo(f"warning: {provider!r} is not a known account (not a base provider nor a subscription){hint}",
               err=True)


def reject_unknown_provider(engine: Any, provider: str | None) -> None:
    """``--provider`` naming no account is a usage error (exit 2) with a "did you mean", as for pools and chains."""
    if provider is None or provider in engine.graph.accounts:
        return
    import difflib  # only for the "did you mean"

    engine.close()
    close = difflib.get_close_matches(provider, sorted(engine.graph.accounts), n=1, cutoff=0.6)
    click.echo(printable(f"error: there is no account named {provider!r}"
                         + (f"; did you mean {close[0]!r}?" if close else "")), err=True)
    click.echo("hint: an account is a provider pi knows (anthropic, openai-codex, openai, openrouter, a models.json "
               "provider, ...) or an extra account declared under subscriptions or in MULTI_SUB; "
               "`mp-policy subs list` shows them", err=True)
    sys.exit(EXIT_USAGE)


def load_engine(*, policy: Path | None, project: Path | None, agent_dir: Path | None,
                state: str | StateStore | None, fmt: str, readonly: bool, **kwargs: Any) -> Any:
    """Build an engine from the command's options; an invalid policy exits 1 with every diagnostic."""
    from policy_engine.engine import Engine
    from policy_engine.state import StateError

    kwargs.setdefault("quota_refresh", False)  # one-shot commands never leave a background check behind
    try:
        engine = Engine.load(agent_dir=agent_dir, project=project, policy=policy, state=state, readonly=readonly,
                             **kwargs)
    except PolicyError as exc:
        if fmt == "json":
            emit_json({"valid": False, "diagnostics": [d.to_dict() for d in exc.diagnostics]})
        else:
            print_diagnostics(exc.diagnostics)
            click.echo(f"invalid policy: {len(exc.errors)} error(s)", err=True)
        sys.exit(EXIT_FAIL)
    except StateError as exc:
        exit_on_state_error(exc)
    for warning in engine.auth_warnings + engine.state_warnings:
        click.echo(f"warning: {warning}", err=True)
    for diagnostic in engine.sources.diagnostics if engine.sources else ():
        if diagnostic.code == "ignored-file":
            click.echo(diagnostic.format(), err=True)
    return engine

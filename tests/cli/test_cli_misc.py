"""``--help``, ``--version``, unknown commands and the internal-error path (exit 3) of ``mp-policy``."""

from __future__ import annotations

import importlib.metadata

import click
import pytest
from cli_support import DEMO, Cli
from click.testing import CliRunner

from policy_engine.cli import cli as cli_group
from policy_engine.cli import main

COMMON = ("--policy", "--project", "--agent-dir", "--state", "--format")

HELP = {
    ("validate",): ("--kind", "--strict", *COMMON),
    ("eval",): ("--provider", "--pool", "--chain", "--preset", "--model", "--at", "--fail", "--turn", "--explain",
                *COMMON),
    ("test",): ("--exclude", "--format", "--verbose"),
    ("schema",): ("policy|project|test",),
    ("state",): ("show", "clear"),
    ("state", "show"): COMMON,
    ("state", "clear"): ("--only", *COMMON),
    (): ("validate", "eval", "test", "schema", "state", "--version", "Exit codes"),
}


@pytest.mark.parametrize("command", list(HELP), ids=lambda c: " ".join(c) or "mp-policy")
def test_help_of_every_command(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli_group, [*command, "--help"], prog_name="mp-policy")
    assert result.exit_code == 0, result.output
    assert result.output.startswith(f"Usage: mp-policy {' '.join(command)}".rstrip())
    words = " ".join(result.output.split())  # help text is wrapped
    for option in HELP[command]:
        assert option in words, f"{option} missing from\n{result.output}"


def test_short_help_option() -> None:
    result = CliRunner().invoke(cli_group, ["eval", "-h"], prog_name="mp-policy")
    assert result.exit_code == 0 and "--explain" in result.output


def test_the_installed_script_help_and_version(cli: Cli) -> None:
    helped, version = cli.many([(("--help",), {}), (("--version",), {})])
    assert helped.returncode == 0 and helped.stdout.startswith("Usage: mp-policy")
    assert version.returncode == 0, version.describe()
    assert version.stdout.strip() == f"mp-policy, version {importlib.metadata.version('mp-policy')}"


def test_unknown_command_and_no_command(cli: Cli) -> None:
    unknown, bare, bare_state = cli.many([(("frobnicate",), {}), ((), {}), (("state",), {})])
    assert unknown.returncode == 2, unknown.describe()
    assert "No such command 'frobnicate'" in unknown.stderr and unknown.stdout == ""
    # A group without a command shows its usage (click exits 2 for that since 8.2).
    for run in (bare, bare_state):
        assert run.returncode in (0, 2), run.describe()
        assert "Usage: mp-policy" in run.output


# -- internal errors -------------------------------------------------------------------------------


def _boom(*args: object, **kwargs: object) -> str:
    raise RuntimeError("boom: something unexpected")


def test_an_unexpected_exception_exits_3_with_one_line(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    import policy_engine.policy.schema_validator

    monkeypatch.delenv("MP_POLICY_DEBUG", raising=False)
    monkeypatch.setattr(policy_engine.policy.schema_validator, "schema_text", _boom)
    with pytest.raises(SystemExit) as exc:
        main(["schema", "policy"])
    assert exc.value.code == 3
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("internal error: RuntimeError: boom: something unexpected")
    assert "MP_POLICY_DEBUG=1" in lines[0]
    assert "Traceback" not in captured.err


def test_an_unexpected_exception_in_eval_exits_3(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    from policy_engine.engine import Engine

    monkeypatch.delenv("MP_POLICY_DEBUG", raising=False)
    monkeypatch.setattr(Engine, "load", classmethod(_boom))
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--agent-dir", str(DEMO), "--chain", "main", "--format", "json"])
    assert exc.value.code == 3
    captured = capsys.readouterr()
    assert captured.out == ""  # no half-written JSON
    assert captured.err.count("\n") == 1 and "internal error: RuntimeError" in captured.err


def test_debug_mode_shows_the_traceback(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import policy_engine.policy.schema_validator

    monkeypatch.setenv("MP_POLICY_DEBUG", "1")
    monkeypatch.setattr(policy_engine.policy.schema_validator, "schema_text", _boom)
    with pytest.raises(SystemExit) as exc:
        main(["schema"])
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "_boom" in err
    assert err.strip().splitlines()[-1].startswith("internal error: RuntimeError")


def test_usage_errors_in_process_keep_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["eval", "--agent-dir", str(DEMO)])
    assert exc.value.code == 2
    assert "exactly one of" in capsys.readouterr().err


def test_the_group_is_a_click_group() -> None:
    assert isinstance(cli_group, click.Group)
    assert set(cli_group.commands) >= {"validate", "eval", "test", "schema", "state"}

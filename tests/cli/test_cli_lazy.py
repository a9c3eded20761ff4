"""The command line imports a command only when it runs, and heavy libraries only when they are used.

Each check runs the console entry point in a fresh interpreter and reads ``sys.modules`` there,
since the test process itself has imported everything long ago.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from policy_engine.cli import cli, main
from policy_engine.cli.main import COMMANDS

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"
HEAVY = ("asyncio", "httpx", "jsonschema", "ruamel", "rich")
#: Modules a cached ``eval`` does without: plugin entry points come from a cache file, schemas from the
#: package folder, the parsed policy from the parse cache (no PyYAML), "did you mean" only for a typo,
#: the selector sandbox only for a pool with a selector script; SHA-256 and BLAKE2 (the weighted plugin)
#: from CPython's own modules, without OpenSSL (``_hashlib``).
OFF_EVAL_PATH = ("importlib.metadata", "importlib.resources", "email", "zipfile", "tempfile", "yaml", "difflib",
                 "policy_engine.sandbox.base", "policy_engine.sandbox.selector", "_hashlib")

_CHILD = f"""
import json, sys
argv = json.loads(sys.argv[1])
sys.argv = ["mp-policy", *argv]
from policy_engine.cli import main
code = 0
try:
    main(argv)
except SystemExit as exc:
    code = exc.code or 0
loaded = sorted(m for m in sys.modules if m.startswith("policy_engine.cli.") or m.split(".")[0] in {set(HEAVY)!r}
                or m in {set(OFF_EVAL_PATH)!r})
print(json.dumps({{"code": code, "modules": loaded}}), file=sys.stderr)
"""


def _run(argv: list[str], env: dict[str, str]) -> tuple[str, dict[str, object]]:
    proc = subprocess.run([sys.executable, "-c", _CHILD, json.dumps(argv)], capture_output=True, text=True,
                          env=env, timeout=60, check=False)
    report = json.loads(proc.stderr.strip().splitlines()[-1])
    return proc.stdout, report


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    out = {k: v for k, v in os.environ.items() if k not in ("MP_POLICY_STATE", "MP_POLICY_NO_CACHE", "MULTI_SUB")}
    out["MP_POLICY_CACHE_DIR"] = str(tmp_path / "cache")
    out["HOME"] = str(tmp_path / "home")
    return out


def test_help_lists_every_command_without_importing_one(env: dict[str, str]) -> None:
    stdout, report = _run(["--help"], env)
    assert report["code"] == 0
    assert report["modules"] == ["policy_engine.cli.main"]
    listed = {line.split()[0] for line in stdout.split("Commands:")[1].splitlines() if line.strip()}
    assert listed == set(COMMANDS)
    for name, (_, _, short) in COMMANDS.items():
        assert short[:30] in stdout, name


def test_the_lazy_help_is_what_each_command_says_of_itself() -> None:
    ctx = click.Context(cli, info_name="mp-policy")
    assert sorted(COMMANDS) == cli.list_commands(ctx)
    for name, (_, _, short) in COMMANDS.items():
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name
        assert command.get_short_help_str(limit=500) == short, name


def test_help_text_matches_the_eager_listing() -> None:
    lazy = CliRunner().invoke(cli, ["--help"], prog_name="mp-policy").output
    ctx = click.Context(cli, info_name="mp-policy")
    eager = click.Group(name="mp-policy", commands={n: cli.get_command(ctx, n) for n in COMMANDS},
                        context_settings=cli.context_settings)
    listing = CliRunner().invoke(eager, ["--help"], prog_name="mp-policy").output
    assert "Commands:" in listing
    assert lazy.split("Commands:")[1] == listing.split("Commands:")[1]


def test_eval_imports_only_its_own_command_and_no_heavy_library(env: dict[str, str]) -> None:
    argv = ["eval", "--agent-dir", str(DEMO), "--chain", "main", "--at", "2026-11-24T10:30:00+01:00",
            "--state", "memory://"]
    stdout, report = _run(argv, env)  # the first run validates the policy and fills the cache
    assert report["code"] == 0, stdout
    stdout, report = _run(argv, env)  # a cache hit: no validator
    assert report["code"] == 0, stdout
    modules = set(report["modules"])  # type: ignore[arg-type]
    assert {m for m in modules if m.startswith("policy_engine.cli.") and m.endswith(("_cmd", "_cmds"))} == {
        "policy_engine.cli.eval_cmd"}
    assert not {m.split(".")[0] for m in modules} & set(HEAVY), sorted(modules)
    assert not modules & set(OFF_EVAL_PATH), sorted(modules)


def test_a_validation_cache_miss_does_import_the_validator(env: dict[str, str]) -> None:
    argv = ["eval", "--agent-dir", str(DEMO), "--chain", "main", "--at", "2026-11-24T10:30:00+01:00",
            "--state", "memory://"]
    _, report = _run(argv, {**env, "MP_POLICY_NO_CACHE": "1"})
    assert report["code"] == 0
    assert "jsonschema" in report["modules"]  # type: ignore[operator]


def test_serve_help_imports_only_the_serve_command(env: dict[str, str]) -> None:
    stdout, report = _run(["serve", "--help"], env)
    assert report["code"] == 0 and "--stdio" in stdout
    assert [m for m in report["modules"] if m.endswith(("_cmd", "_cmds"))] == [  # type: ignore[union-attr]
        "policy_engine.cli.serve_cmd"]


def test_the_commands_mapping_behaves_like_a_dict() -> None:
    assert set(cli.commands) >= {"validate", "eval", "serve"}
    assert "eval" in cli.commands and "nope" not in cli.commands
    assert len(cli.commands) == len(COMMANDS)
    assert cli.commands["schema"].name == "schema"
    with pytest.raises(KeyError):
        cli.commands["nope"]


def test_an_unknown_command_is_a_usage_error_with_a_hint() -> None:
    result = CliRunner().invoke(cli, ["evl"], prog_name="mp-policy")
    assert result.exit_code == 2
    assert "No such command" in result.output and "eval" in result.output


def test_main_still_maps_an_internal_error_to_exit_3(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("kaput")

    monkeypatch.setattr(cli, "main", boom)
    with pytest.raises(SystemExit) as exc:
        main(["eval"])
    assert exc.value.code == 3
    assert "internal error: RuntimeError: kaput" in capsys.readouterr().err

"""An existing pi-multi-pass set-up (JSON files as pi writes them, and auth.json) works unchanged.

The agent directory is given through ``PI_CODING_AGENT_DIR`` exactly as pi itself reads it, and the
project overlay ``.pi/multi-pass.json`` is found from the current directory (or a subdirectory).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from cli_support import REPO, Cli

EXAMPLE = REPO / "policies" / "pi-multi-pass-json"
AT = "2026-04-06T10:00:00+02:00"


def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "setup"
    shutil.copytree(EXAMPLE, target)
    return target


def test_eval_inside_the_project_uses_its_overlay(cli: Cli, tmp_path: Path) -> None:
    setup = _copy(tmp_path)
    inner = setup / "work-repo" / "src" / "deep"
    inner.mkdir(parents=True)
    for cwd in (setup / "work-repo", inner):
        run = cli("eval", "--chain", "work-fallback", "--at", AT, "--format", "json", cwd=cwd,
                  env={"PI_CODING_AGENT_DIR": str(setup / "agent")})
        assert run.returncode == 0, run.stderr
        decision = json.loads(run.stdout)
        assert decision["target"]["provider"] == "openai-codex-2"
        assert decision["target"]["model"] == "gpt-5-mini"


def test_eval_outside_the_project_uses_the_global_policy(cli: Cli, tmp_path: Path) -> None:
    setup = _copy(tmp_path)
    run = cli("eval", "--chain", "primary", "--at", AT, "--format", "json", cwd=setup,
              env={"PI_CODING_AGENT_DIR": str(setup / "agent")})
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["target"]["provider"] == "anthropic"
    # Inside the project the global chain no longer exists (the overlay replaces chains).
    inside = cli("eval", "--chain", "primary", "--at", AT, cwd=setup / "work-repo",
                 env={"PI_CODING_AGENT_DIR": str(setup / "agent")})
    assert inside.returncode == 2
    assert "work-fallback" in inside.stderr


def test_validate_accepts_the_pi_files_and_leaves_them_untouched(cli: Cli, tmp_path: Path) -> None:
    setup = _copy(tmp_path)
    before = {p: p.read_bytes() for p in setup.rglob("*.json")}
    run = cli("validate", cwd=setup / "work-repo", env={"PI_CODING_AGENT_DIR": str(setup / "agent")})
    assert run.returncode == 0, run.output
    assert "multi-pass.json" in run.stdout
    # The only warning: the project's allow-list leaves the global preset coding-budget without an account.
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert len(warnings) == 1 and "emptied-by-allow-list: preset 'coding-budget'" in warnings[0], run.output
    assert {p: p.read_bytes() for p in setup.rglob("*.json")} == before
    assert not (setup / "agent" / "mp-policy-state.db").exists()

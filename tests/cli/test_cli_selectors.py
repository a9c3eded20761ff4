"""Custom selectors from the command line: validate reports broken scripts with their lines; eval runs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import Cli

from policy_engine.sandbox.node_runner import NodeRunner

POLICY = """\
subscriptions:
  - {provider: anthropic, index: 2}
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2]
    strategy: custom
    selectorScript: selectors/pick.SUFFIX
"""
NODE = NodeRunner().unavailable() is None


def _agent(folder: Path, suffix: str, script: str) -> Path:
    (folder / "selectors").mkdir(parents=True, exist_ok=True)
    (folder / "multi-pass.yaml").write_text(POLICY.replace("SUFFIX", suffix))
    (folder / "selectors" / f"pick.{suffix}").write_text(script)
    (folder / "auth.json").write_text('{"anthropic": {"type": "api_key", "key": "k1"}, '
                                      '"anthropic-2": {"type": "api_key", "key": "k2"}}')
    return folder


def test_validate_reports_a_python_selector_that_does_not_compile(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path, "py", "def select(ctx):\n    # fine so far\n    from os import system\n    return None\n")
    run = cli("validate", "--agent-dir", agent, check=False)
    assert run.returncode == 1, run.describe()
    assert f"{agent / 'selectors' / 'pick.py'}:3:" in run.stdout and "selector-compile" in run.stdout
    json_run = cli("validate", "--agent-dir", agent, "--format", "json", check=False)
    [diag] = [d for d in json_run.json()["diagnostics"] if d["code"] == "selector-compile"]
    assert diag["severity"] == "error" and diag["line"] == 3 and "import" in diag["message"]


@pytest.mark.skipif(not NODE, reason="node (20+) is not installed")
def test_validate_reports_a_js_selector_with_a_syntax_error(cli: Cli, tmp_path: Path) -> None:
    source = "// picks\nmodule.exports = function select(ctx) {\n  return ctx.members[0]\n  +++;\n};\n"
    agent = _agent(tmp_path, "js", source)
    run = cli("validate", "--agent-dir", agent, "--format", "json", check=False)
    assert run.returncode == 1, run.describe()
    [diag] = [d for d in run.json()["diagnostics"] if d["code"] == "selector-compile"]
    assert diag["file"].endswith("pick.js") and diag["line"] == 4 and "SyntaxError" in diag["message"]


def test_a_missing_script_or_node_is_a_warning_and_eval_still_decides(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path, "js", "module.exports = (ctx) => ctx.members[1];\n")
    (agent / "selectors" / "pick.js").unlink()
    run = cli("validate", "--agent-dir", agent)
    assert run.returncode == 0 and "selector-script" in run.stdout and "not found" in run.stdout
    assert cli("validate", "--agent-dir", agent, "--strict", check=False).returncode == 1
    (agent / "selectors" / "pick.js").write_text("module.exports = (ctx) => ctx.members[1];\n")
    run = cli("validate", "--agent-dir", agent, env={"MP_POLICY_NODE": str(tmp_path / "no-node")})
    assert run.returncode == 0 and "selector-runtime" in run.stdout and "MP_POLICY_NODE" in run.stdout
    decided = cli("eval", "--agent-dir", agent, "--pool", "claude", "--format", "json",
                  env={"MP_POLICY_NODE": str(tmp_path / "no-node")})
    [note] = decided.json()["strategy"]
    assert decided.json()["target"]["provider"] == "anthropic" and note["fallback"] is True


@pytest.mark.parametrize("suffix", ["py", "js"])
def test_eval_runs_the_selector_and_explains_its_choice(cli: Cli, tmp_path: Path, suffix: str) -> None:
    if suffix == "js" and not NODE:
        pytest.skip("node (20+) is not installed")
    python = "def select(ctx):\n    return ctx['members'][-1] if ctx['day'] == 'mon' else None\n"
    js = "module.exports = async function select(ctx) {\n  return ctx.day === 'mon' ? ctx.members.at(-1) : null;\n};\n"
    script = python if suffix == "py" else js
    agent = _agent(tmp_path, suffix, script)
    run = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", "2026-04-06T10:00:00+00:00", "--explain")
    assert run.returncode == 0, run.describe()
    assert "selector chose anthropic-2" in run.stdout
    tuesday = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", "2026-04-07T10:00:00+00:00",
                  "--format", "json").json()
    assert tuesday["target"]["provider"] == "anthropic"
    assert tuesday["strategy"][0]["note"] == "the selector expressed no preference; rotation order"

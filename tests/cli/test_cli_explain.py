"""End-to-end tests of ``mp-policy explain``: the whole policy as text, DOT and JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from cli_support import CORP, DEMO, STATE_FILE, Cli, file_signature, invoke, make_cooldown_state

DEMO_ARGS = ("--agent-dir", str(DEMO), "--project", str(DEMO))
MESSY = """\
subscriptions: [{provider: anthropic, index: 2}, {provider: anthropic, index: 5}]
pools:
  - {name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2, anthropic-9]}
  - {name: spare, baseProvider: anthropic, members: [anthropic-5], enabled: false}
chains:
  - name: main
    entries:
      - {pool: claude, model: sonnet}
      - {pool: spare, model: sonnet}
      - {pool: claude, model: sonnet}
"""


def test_text_of_the_demo() -> None:
    run = invoke("explain", *DEMO_ARGS)
    assert run.returncode == 0, run.describe()
    assert run.stderr == ""
    out = run.stdout
    assert out.startswith("policy ") and "time zone Europe/Vienna" in out
    assert "\npools\n  claude  (anthropic) round-robin · cooldown 5m\n" in out
    assert "    1. openai-codex    preferred: 09-17 mon-fri" in out
    assert "\nchains\n  main\n    #0 pool claude · claude-sonnet-4-5  → anthropic, anthropic-2\n" in out
    assert "  preset:coding-budget   openai-codex, openai-codex-2, openai-codex-3 · gpt-4.1-mini → " \
           "google-gemini-cli · gemini-2.5-flash" in out
    assert out.rstrip().endswith("nothing: every pool, chain, preset, entry and member can be reached")


def test_the_project_overlay_narrows_it(cli: Cli) -> None:
    run = cli("explain", "--agent-dir", DEMO, "--project", CORP)
    assert run.returncode == 0, run.describe()
    assert "allowedSubs: anthropic-2, openai-codex-2" in run.stdout
    assert "    -  anthropic  [removed by allowedSubs]" in run.stdout
    # anthropic is not allowed, but its allowed pool sibling serves the preset entry (DESIGN §4).
    assert "    #0 anthropic · claude-sonnet-4-5  → anthropic-2" in run.stdout
    assert "entry preset coding-premium #0" not in run.stdout
    assert "  ✗ entry preset coding-premium #1 (openai-codex): not-allowed" in run.stdout


def test_unreachable_parts_and_warnings(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text(MESSY, encoding="utf-8")
    run = invoke("explain", "--agent-dir", tmp_path, "--project", tmp_path)
    assert run.returncode == 0, run.describe()
    out = run.stdout
    assert "  ✗ entry chain main #1 (pool spare): pool-disabled — pool spare is disabled" in out
    assert "  ✗ entry chain main #2 (pool claude): redundant" in out
    assert "  ✗ member claude/anthropic-9: unknown" in out
    assert "  ✗ pool spare: disabled" in out
    assert "\nwarnings (from compiling the policy)\n" in out
    assert f"{tmp_path / 'multi-pass.yaml'}:3:" in out  # the compile warning keeps its file and line
    assert "[no-auth] no stored credentials" in out  # there is no auth.json in this agent dir


def test_logins_and_cooldowns_are_shown(agent: Path, tmp_path: Path) -> None:
    auth = json.loads((agent / "auth.json").read_text(encoding="utf-8"))
    del auth["openai-codex-3"]
    (agent / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
    db = tmp_path / STATE_FILE
    make_cooldown_state(db, at=datetime.now(ZoneInfo("Europe/Vienna")), retry_after=3600)
    before = file_signature(db)
    run = invoke("explain", "--agent-dir", agent, "--project", agent, "--state", f"sqlite:///{db}")
    assert run.returncode == 0, run.describe()
    assert re.search(r"    1\. anthropic +\[cooldown\] cooling down until \w{3} \d{4}-\d\d-\d\d \d\d:\d\d", run.stdout)
    assert "    3. openai-codex-3  overflow  [no-auth] no stored credentials" in run.stdout
    assert "openai-codex-3 (no auth)" in run.stdout
    assert file_signature(db) == before


# -- DOT ------------------------------------------------------------------------------------------------------


def check_dot(text: str) -> tuple[set[str], list[tuple[str, str]]]:
    """Balanced braces and brackets outside strings; quoted node ids; every edge between declared nodes."""
    depth = 0
    for char in re.sub(r'"(?:[^"\\]|\\.)*"', '""', text):
        depth += {"{": 1, "}": -1}.get(char, 0)
        assert depth >= 0
    assert depth == 0
    nodes = set(re.findall(r'^\s*("(?:[^"\\]|\\.)*") \[', text, re.MULTILINE))
    edges = re.findall(r'^\s*("(?:[^"\\]|\\.)*") -> ("(?:[^"\\]|\\.)*")', text, re.MULTILINE)
    assert edges and all(a in nodes and b in nodes for a, b in edges)
    statements = [line.strip() for line in text.splitlines()[1:-1] if line.strip() and line.strip() != "}"]
    assert all(s.endswith(";") or s.endswith("{") for s in statements)
    return nodes, edges


def test_dot(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text(MESSY, encoding="utf-8")
    run = invoke("explain", "--agent-dir", tmp_path, "--project", tmp_path, "--format", "dot")
    assert run.returncode == 0, run.describe()
    assert run.stdout.startswith('digraph "mp-policy ') and run.stdout.endswith("}\n")
    nodes, edges = check_dot(run.stdout)
    assert '"pool:spare"' in nodes and '"member:claude:anthropic-9"' in nodes
    assert ('"chain:main"', '"pool:spare"') in edges
    spare = next(line for line in run.stdout.splitlines() if line.strip().startswith('"chain:main" -> "pool:spare"'))
    assert 'style="dashed"' in spare
    assert 'subgraph "cluster_pool_claude" {' in run.stdout


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("MP_POLICY_REQUIRE_GRAPHVIZ"),
                    reason="Graphviz's dot is not installed (.ci/run installs it and sets MP_POLICY_REQUIRE_GRAPHVIZ)")
def test_graphviz_renders_the_demo(tmp_path: Path) -> None:
    run = invoke("explain", *DEMO_ARGS, "--format", "dot")
    done = subprocess.run(["dot", "-Tsvg"], input=run.stdout, capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "chain main" in done.stdout


# -- JSON and errors ------------------------------------------------------------------------------------------


def test_json() -> None:
    run = invoke("explain", *DEMO_ARGS, "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert [p["name"] for p in data["pools"]] == ["claude", "codex", "gemini"]
    assert data["unreachable"] == [] and data["allowedSubs"] is None
    assert {"name": "openai-codex-3", "loggedIn": True} in data["accounts"]
    main = next(r for r in data["reach"] if r["route"] == "chain:main")
    assert main["accounts"] == ["anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3",
                                "google-gemini-cli"]


def test_an_invalid_policy_exits_1_with_diagnostics(tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text("chains:\n  - {name: c, entries: [{pool: nope, model: m}]}\n",
                                              encoding="utf-8")
    run = invoke("explain", "--agent-dir", tmp_path, "--project", tmp_path)
    assert run.returncode == 1
    assert "unknown-pool: chain 'c' entry 0: there is no pool 'nope'" in run.stderr
    as_json = invoke("explain", "--agent-dir", tmp_path, "--project", tmp_path, "--format", "json")
    assert as_json.returncode == 1 and as_json.json()["valid"] is False


def test_an_unknown_format_is_a_usage_error() -> None:
    run = invoke("explain", *DEMO_ARGS, "--format", "csv")
    assert run.returncode == 2 and "'csv' is not one of 'text', 'dot', 'json'" in run.stderr


def test_help(cli: Cli) -> None:
    run = cli("explain", "--help")
    assert run.returncode == 0
    for phrase in ("--format [text|dot|json]", "dot -Tsvg", "unreachable parts", "Examples:"):
        assert phrase in run.stdout, phrase

"""``mp-policy subs add|remove|list|status`` on YAML with comments, pi-multi-pass JSON and broken files."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from cli_support import AT, invoke, write_auth
from edit_support import PI_JSON, changed_lines


@pytest.fixture
def pi_agent(tmp_path: Path) -> Path:
    """A copy of a real pi-multi-pass set-up: agent/multi-pass.json (as pi writes it) and a work repo."""
    shutil.copytree(PI_JSON, tmp_path / "pi")
    return tmp_path / "pi" / "agent"


def test_add_appends_one_line_to_a_commented_policy(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("subs", "add", "anthropic", "--label", "personal", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip().endswith("added subscription anthropic-3 (personal): Anthropic (Claude Pro/Max) #3")
    assert "note: log in to anthropic-3 in pi (/login)" in run.stderr
    removed, added = changed_lines(before, policy.read_text(encoding="utf-8"))
    assert (removed, added) == ([], ["  - {provider: anthropic, index: 3, label: personal}"])
    after = policy.read_text(encoding="utf-8")
    assert after.index("index: 3, label: personal}") < after.index("\npools:")


def test_add_to_an_empty_agent_directory_creates_the_policy(tmp_path: Path) -> None:
    run = invoke("subs", "add", "openai-codex", "--label", "work", "--agent-dir", tmp_path, "--format", "json")
    assert run.returncode == 0, run.describe()
    out = run.json()
    assert out["created"] is True and out["written"] is True and out["changed"] is True
    assert out["file"].endswith("multi-pass.yaml") and out["diff"].startswith("--- /dev/null")
    assert out["messages"] == ["added subscription openai-codex-2 (work): ChatGPT Plus/Pro (Codex) #2"]
    assert (tmp_path / "multi-pass.yaml").read_text(encoding="utf-8") == (
        "subscriptions:\n  - {provider: openai-codex, index: 2, label: work}\n")
    run = invoke("subs", "add", "openai-codex", "--agent-dir", tmp_path)
    assert "(new file)" not in run.stdout and "openai-codex-3" in run.stdout


def test_index_allocation_counts_multi_sub(agent: Path) -> None:
    run = invoke("subs", "add", "anthropic", "--agent-dir", agent, env={"MULTI_SUB": "anthropic:2"})
    assert run.returncode == 0, run.describe()
    assert "added subscription anthropic-4" in run.stdout  # anthropic-3 is MULTI_SUB's


@pytest.mark.parametrize(("args", "message", "hint"), [
    (["subs", "add", "antropic"], "error: unknown provider 'antropic'", "hint: did you mean 'anthropic'?"),
    (["subs", "add", "anthropic", "--index", "2"], "error: anthropic-2 already exists",
     "hint: the next free index of anthropic is 3"),
    (["subs", "remove", "openai-codex-9"], "error: there is no subscription 'openai-codex-9'", "did you mean"),
    (["subs", "remove", "anthropic"], "error: anthropic is a base account", "pool members POOL --remove"),
])
def test_requests_that_cannot_be_carried_out_exit_2_and_change_nothing(agent: Path, args: list[str], message: str,
                                                                       hint: str) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_bytes()
    run = invoke(*args, "--agent-dir", agent)
    assert run.returncode == 2, run.describe()
    assert message in run.stderr and hint in run.stderr
    assert run.stdout == ""
    assert policy.read_bytes() == before


def test_subscriptions_are_not_a_project_matter(agent: Path, tmp_path: Path) -> None:
    run = invoke("subs", "add", "anthropic", "--agent-dir", agent, "--project", tmp_path)
    assert run.returncode == 2
    assert "subscriptions are global" in run.stderr


def test_remove_takes_the_account_out_of_its_pool_and_schedule(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_text(encoding="utf-8")
    run = invoke("subs", "remove", "openai-codex-3", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines() == [f"{policy}: removed subscription openai-codex-3 (personal)",
                                       f"{policy}: removed openai-codex-3 from pool codex"]
    removed, added = changed_lines(before, policy.read_text(encoding="utf-8"))
    assert removed == ["  - {provider: openai-codex, index: 3, label: personal}",
                       "    members: [openai-codex, openai-codex-2, openai-codex-3]",
                       "      openai-codex-3: {role: overflow}"]
    assert added == ["    members: [openai-codex, openai-codex-2]"]
    assert invoke("validate", policy).returncode == 0


def test_dry_run_prints_the_diff_and_writes_nothing(agent: Path) -> None:
    policy = agent / "multi-pass.yaml"
    before = policy.read_bytes()
    run = invoke("subs", "remove", "personal", "--dry-run", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert policy.read_bytes() == before
    assert run.stdout.startswith(f"--- a/{policy}\n+++ b/{policy}\n@@ ")
    assert "-  - {provider: openai-codex, index: 3, label: personal}\n" in run.stdout
    assert "would: removed subscription openai-codex-3 (personal)" in run.stderr
    assert f"dry run: {policy} not written" in run.stderr
    out = invoke("subs", "remove", "personal", "--dry-run", "--agent-dir", agent, "--format", "json").json()
    assert (out["dryRun"], out["written"], out["changed"]) == (True, False, True)
    assert out["diff"] == run.stdout
    assert policy.read_bytes() == before


def test_pi_multi_pass_json_stays_json_in_pi_s_own_format(pi_agent: Path) -> None:
    policy = pi_agent / "multi-pass.json"
    before = policy.read_text(encoding="utf-8")
    run = invoke("subs", "add", "openai-codex", "--label", "outlook", "--agent-dir", pi_agent)
    assert run.returncode == 0, run.describe()
    text = policy.read_text(encoding="utf-8")
    data = json.loads(text)
    assert data["subscriptions"][-1] == {"provider": "openai-codex", "index": 4, "label": "outlook"}
    assert text == json.dumps(data, indent=2, ensure_ascii=False) + "\n"  # JSON.stringify(config, null, 2) + \n
    assert text.endswith("}\n") == before.endswith("}\n")
    assert invoke("test", pi_agent.parent).returncode == 0  # pi's own set-up still routes as before
    assert invoke("subs", "remove", "openai-codex-4", "--agent-dir", pi_agent).returncode == 0
    assert policy.read_text(encoding="utf-8") == before


@pytest.mark.parametrize(("name", "content", "where"), [
    ("multi-pass.yaml", "subscriptions:\n  - {provider: anthropic, index: 2\npools: []\n", "multi-pass.yaml:3:"),
    ("multi-pass.json", '{"subscriptions": [{"provider": "anthropic", "index": 2},]}\n', "multi-pass.json:1:"),
])
def test_a_file_that_does_not_parse_is_never_touched(tmp_path: Path, name: str, content: str, where: str) -> None:
    policy = tmp_path / name
    policy.write_text(content, encoding="utf-8")
    for args in (["subs", "add", "anthropic"], ["subs", "remove", "anthropic-2"]):
        run = invoke(*args, "--agent-dir", tmp_path)
        assert run.returncode == 1, run.describe()
        assert where in run.stderr and "parse-error" in run.stderr
        assert "cannot be read, so it was not changed" in run.stderr
        assert policy.read_text(encoding="utf-8") == content
        assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_list_and_status_show_login_state_expiry_and_pools(agent: Path) -> None:
    auth = json.loads(write_auth(agent).read_text(encoding="utf-8"))
    auth["anthropic-2"]["expires"] = 1_700_000_000_000            # long gone: pi refreshes it
    auth["openai-codex"]["expires"] = 1_795_515_120_000           # AT + 42 minutes
    auth["openai-codex-3"] = {"type": "api_key", "key": auth["openai-codex-3"]["access"]}
    del auth["google-gemini-cli"]
    (agent / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
    run = invoke("subs", "status", "--agent-dir", agent, "--project", agent, "--at", AT)
    assert run.returncode == 0, run.describe()
    assert run.stdout.splitlines() == [
        "anthropic | logged in (expires in 26700d14h) | base account | pools: claude",
        "google-gemini-cli | not logged in | base account | pools: gemini",
        "openai-codex | logged in (expires in 42m) | base account | pools: codex",
        "openai-codex-2 (work) | logged in (expires in 26700d14h) | policy | pools: codex",
        "openai-codex-3 (personal) | logged in (api key) | policy | pools: codex",
        "anthropic-2 (work) | logged in (token expired, will refresh) | policy | pools: claude",
    ]
    listed = invoke("subs", "list", "--agent-dir", agent, "--project", agent, env={"MULTI_SUB": "anthropic:2"})
    assert listed.stdout.splitlines() == [
        "openai-codex-2 (work) | logged in | policy",
        "openai-codex-3 (personal) | logged in | policy",
        "anthropic-2 (work) | logged in | policy",
        "anthropic-3 | not logged in | MULTI_SUB",
    ]
    rows = invoke("subs", "status", "--agent-dir", agent, "--project", agent, "--at", AT, "--format", "json").json()
    codex = next(r for r in rows["accounts"] if r["name"] == "openai-codex")
    assert codex == {"name": "openai-codex", "provider": "openai-codex", "index": 1, "label": None, "source": "base",
                     "loggedIn": True, "auth": "logged in (expires in 42m)",
                     "expiresAt": "2026-11-24T11:12:00+01:00", "allowed": True, "pools": ["codex"]}

"""``mp-policy limits`` (and ``eval --refresh``) end to end: the console script against a local provider server."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import Cli, Run, check_invariants

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "quota"))  # the provider server and its payloads

import payloads as P
from provider_server import ProviderServer, Reply

CODEX = "/backend-api/wham/usage"
TOKEN_1 = P.codex_jwt(account_id="acct-one")
TOKEN_2 = P.codex_jwt(account_id="acct-two")

POLICY = """\
# Every provider family with a quota checker, and a quota-first pool.
subscriptions:
  - {provider: openai-codex, index: 2}
  - {provider: anthropic, index: 2}
pools:
  - name: codex
    baseProvider: openai-codex
    strategy: quota-first
    members: [openai-codex, openai-codex-2]
"""

EXPECTED = {"openai-codex-2": 80, "anthropic": 58, "openai-codex": 58, "google-antigravity": 42,
            "github-copilot": 41, "google-gemini-cli": 25}


@pytest.fixture(scope="module")
def server() -> Iterator[ProviderServer]:
    with ProviderServer() as srv:
        yield srv


@pytest.fixture
def providers(server: ProviderServer) -> ProviderServer:
    server.reset()
    server.use_defaults()
    server.reply("GET", CODEX, Reply(json=P.codex_usage(42, 12)), token=TOKEN_1)
    server.reply("GET", CODEX, Reply(json=P.codex_usage(20, 10)), token=TOKEN_2)
    return server


@pytest.fixture
def agent_dir(tmp_path: Path) -> Path:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(POLICY, encoding="utf-8")
    accounts = P.auth_json()
    accounts["openai-codex"] = P.codex_credential(access=TOKEN_1)
    accounts["openai-codex-2"] = P.codex_credential(access=TOKEN_2)
    P.write_auth_json(agent / "auth.json", accounts)
    return agent


def secrets_of(agent: Path) -> list[str]:
    if not (agent / "auth.json").exists():
        return []
    data = json.loads((agent / "auth.json").read_text())
    return [v for entry in data.values() for v in entry.values() if isinstance(v, str) and len(v) > 8]


def limits(cli: Cli, agent: Path, server: ProviderServer, *args: str, env: dict[str, str] | None = None) -> Run:
    run = cli("limits", "--agent-dir", agent, *args, env={**server.env(), **(env or {})})
    check_invariants(run, secrets_of(agent))
    return run


def test_json_lists_every_account_best_first(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    run = limits(cli, agent_dir, providers, "--format", "json", "--current", "anthropic")
    assert run.returncode == 0, run.describe()
    rows = run.json()
    assert {r["provider"]: r["remaining"] for r in rows if r["remaining"] is not None} == EXPECTED
    assert [r["provider"] for r in rows] == [*EXPECTED, "anthropic-2"]  # best first; ties by name
    by_name = {r["provider"]: r for r in rows}
    assert by_name["openai-codex-2"]["best"] is True and by_name["anthropic"]["current"] is True
    assert by_name["google-gemini-cli"]["status"] == "watch"
    assert by_name["anthropic-2"] | {"fetchedAt": None} == by_name["anthropic-2"] | {
        "status": "missing-auth", "remaining": None, "error": "not logged in", "fetchedAt": None}
    codex = by_name["openai-codex"]
    assert codex["base"] == "openai-codex" and codex["status"] == "ready"
    assert [(w["name"], w["remaining"]) for w in codex["windows"]] == [("5h", 58), ("7d", 88)]
    assert codex["windows"][0]["resetsAt"].startswith("2026-04-05T14:40:00")
    assert {"provider", "base", "status", "remaining", "windows"} <= set(codex)


def test_text_table(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    run = limits(cli, agent_dir, providers, "--current", "google-gemini-cli")
    assert run.returncode == 0, run.describe()
    lines = run.stdout.splitlines()
    order = [next(i for i, line in enumerate(lines) if f" {name} " in line or f" {name}\t" in line)
             for name in EXPECTED]
    assert order == sorted(order)
    row = next(line for line in lines if " openai-codex-2 " in line)
    assert row.lstrip().startswith("✓") and "best now" in row and "80%" in row
    gemini = next(line for line in lines if " google-gemini-cli " in line)
    assert gemini.lstrip().startswith("◔") and "current" in gemini and "25%" in gemini
    assert "2 families | bottleneck 25%" in gemini
    assert any(line.lstrip().startswith("○") and "anthropic-2" in line and "not logged in" in line for line in lines)
    assert "7 accounts • 5 ready • 1 watch • 1 not logged in • best now: openai-codex-2" in run.stdout
    assert "Current: google-gemini-cli is watch • best available: openai-codex-2" in run.stdout


def test_quota_first_ranks_by_what_limits_saved(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    before = cli("eval", "--agent-dir", agent_dir, "--pool", "codex", "--format", "json").json()
    assert [c["provider"] for c in before["candidates"]] == ["openai-codex", "openai-codex-2"]
    assert before["strategy"][0]["fallback"] is True
    assert limits(cli, agent_dir, providers).returncode == 0
    after = cli("eval", "--agent-dir", agent_dir, "--pool", "codex", "--format", "json").json()
    assert [c["provider"] for c in after["candidates"]] == ["openai-codex-2", "openai-codex"]
    assert "openai-codex-2 80%, openai-codex 58%" in after["strategy"][0]["note"]


def test_eval_refresh_checks_stale_quota_first(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    run = cli("eval", "--agent-dir", agent_dir, "--pool", "codex", "--refresh", env=providers.env())
    check_invariants(run, secrets_of(agent_dir))
    assert run.returncode == 0, run.describe()
    assert "target: openai-codex-2" in run.stdout
    assert "quota: openai-codex-2 ready — plus | 5h 80% | 7d 90%" in run.stderr
    assert len(providers.requests_to(CODEX)) == 2
    again = cli("eval", "--agent-dir", agent_dir, "--pool", "codex", "--refresh", env=providers.env())
    assert "target: openai-codex-2" in again.stdout and len(providers.requests_to(CODEX)) == 2  # still fresh


def test_no_save_leaves_the_cache_alone(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    assert limits(cli, agent_dir, providers, "--no-save").returncode == 0
    after = cli("eval", "--agent-dir", agent_dir, "--pool", "codex", "--format", "json").json()
    assert after["strategy"][0]["fallback"] is True


def test_errors_are_specific_and_show_no_token(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    providers.reply("GET", CODEX, P.CODEX_401, token=TOKEN_1)
    providers.reply("GET", "/api/oauth/usage", P.ANTHROPIC_403_SCOPE)
    providers.reply("POST", "/v1internal:retrieveUserQuota", Reply(json=P.GEMINI_QUOTA, delay=5))
    run = limits(cli, agent_dir, providers, "--format", "json", "--timeout", "0.5")
    rows = {r["provider"]: r for r in run.json()}
    assert rows["openai-codex"]["status"] == "error" and "log in again" in rows["openai-codex"]["error"]
    assert "user:profile" in rows["anthropic"]["error"] and "HTTP 403" in rows["anthropic"]["error"]
    assert "timed out after 0.5s" in rows["google-gemini-cli"]["error"]
    assert rows["openai-codex-2"]["remaining"] == 80  # the others are unaffected
    text = limits(cli, agent_dir, providers, "--timeout", "0.5")
    assert "? " in text.stdout and "log in again" in text.stdout


def test_account_filter_and_unknown_accounts(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    rows = limits(cli, agent_dir, providers, "--format", "json", "--account", "anthropic",
                  "--account", "openai-codex-2").json()
    assert [r["provider"] for r in rows] == ["openai-codex-2", "anthropic"]
    assert {r.path for r in providers.requests} == {CODEX, "/api/oauth/usage"}
    bad = limits(cli, agent_dir, providers, "--account", "antropic")
    assert bad.returncode == 2 and "unknown account(s): antropic" in bad.stderr


def test_the_project_allow_list_restricts_the_accounts(cli: Cli, agent_dir: Path, providers: ProviderServer,
                                                        tmp_path: Path) -> None:
    project = tmp_path / "work"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text("allowedSubs: [openai-codex-2, anthropic-2]\n")
    rows = limits(cli, agent_dir, providers, "--format", "json", "--project", str(project)).json()
    assert [r["provider"] for r in rows] == ["openai-codex-2", "anthropic-2"]
    (project / ".pi" / "multi-pass.yaml").write_text("allowedSubs: [google-gemini-cli-4]\n")
    none = limits(cli, agent_dir, providers, "--project", str(project))
    assert none.returncode == 0
    assert "No account with a quota checker is available for this project restriction" in none.stdout


def test_watch_repeats(cli: Cli, agent_dir: Path, providers: ProviderServer) -> None:
    run = limits(cli, agent_dir, providers, "--format", "json", "--watch", "1", "--count", "2",
                 "--account", "anthropic")
    rounds = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(rounds) == 2 and all(r[0]["remaining"] == 58 for r in rounds)
    assert len(providers.requests_to("/api/oauth/usage")) == 2
    usage = limits(cli, agent_dir, providers, "--count", "2")
    assert usage.returncode == 2 and "--count needs --watch" in usage.stderr


def test_no_accounts(cli: Cli, tmp_path: Path, providers: ProviderServer) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    text = limits(cli, empty, providers)
    assert text.returncode == 0 and "Log in to a supported provider first" in text.stdout
    assert limits(cli, empty, providers, "--format", "json").json() == []


def test_settings_quota_endpoints_redirect_the_checkers(cli: Cli, agent_dir: Path, providers: ProviderServer
                                                        ) -> None:
    policy = POLICY + f"settings:\n  quotaEndpoints:\n    anthropic: {providers.url}\n"
    (agent_dir / "multi-pass.yaml").write_text(policy, encoding="utf-8")
    run = cli("limits", "--agent-dir", agent_dir, "--account", "anthropic", "--format", "json")
    assert run.json()[0]["remaining"] == 58


def test_help_names_the_endpoint_variables(cli: Cli) -> Any:
    run = cli("limits", "--help")
    for name in ("CHATGPT_BASE_URL", "MP_POLICY_ANTIGRAVITY_BASE_URLS", "--watch", "--format"):
        assert name in run.stdout


def test_progress_and_colours_on_a_terminal(agent_dir: Path, providers: ProviderServer) -> None:
    import os
    import pty
    import subprocess

    from cli_support import SCRIPT, clean_env

    providers.reply("POST", "/v1internal:retrieveUserQuota", Reply(json=P.GEMINI_QUOTA, delay=0.5))
    main, replica = pty.openpty()
    env = clean_env(agent_dir.parent, {**providers.env(), "COLUMNS": "160", "TERM": "xterm"})
    proc = subprocess.Popen([str(SCRIPT), "limits", "--agent-dir", str(agent_dir)], stdin=replica, stdout=replica,
                            stderr=replica, env=env, close_fds=True)
    os.close(replica)
    chunks = []
    while True:
        try:
            data = os.read(main, 65536)
        except OSError:  # the other side closed
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    assert proc.wait(timeout=60) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    assert "checking quota" in screen and "/7" in screen  # the progress bar, on stderr
    assert "\x1b[" in screen  # colours on a terminal
    assert "best now: openai-codex-2" in screen
    for secret in secrets_of(agent_dir):
        assert secret not in screen

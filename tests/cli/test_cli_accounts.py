"""Every provider pi knows is an account (DESIGN §3, issue 15 item 1): pi's built-in providers beyond the
five pi-multi-pass families (openai, openrouter, zai, ...) and the custom providers of ``models.json``,
each with extra accounts ``<provider>-<N>``, generic error classification and no quota checker."""

from __future__ import annotations

import json
from pathlib import Path

from cli_support import Cli

AT = "2026-04-06T10:00:00+02:00"
KEY = {"type": "api_key", "key": "sk-test-not-a-real-key"}


def _agent(tmp_path: Path, policy: str, auth: dict[str, object], models: dict[str, object] | None = None) -> Path:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(policy, encoding="utf-8")
    (agent / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
    if models is not None:
        (agent / "models.json").write_text(json.dumps(models), encoding="utf-8")
    return agent


POLICY = """\
settings: {timezone: Europe/Vienna}
subscriptions:
  - {provider: openai, index: 2}
  - {provider: openrouter, index: 2}
  - {provider: zai, index: 2}
pools:
  - {name: gpt, baseProvider: openai, members: [openai, openai-2]}
  - {name: router, baseProvider: openrouter, members: [openrouter, openrouter-2]}
  - {name: glm, baseProvider: zai, members: [zai, zai-2]}
chains:
  - name: main
    entries:
      - {pool: gpt, model: gpt-5}
      - {pool: router, model: anthropic/claude-sonnet-4.5}
      - {pool: glm, model: glm-4.6}
"""


def test_pools_of_pi_builtin_providers_rotate_and_fall_back(cli: Cli, tmp_path: Path) -> None:
    names = ["openai", "openai-2", "openrouter", "openrouter-2", "zai", "zai-2"]
    agent = _agent(tmp_path, POLICY, {n: KEY for n in names})
    check = cli("validate", "--agent-dir", agent)
    assert check.returncode == 0, check.describe()
    assert "not a known account" not in check.output and "unknown provider" not in check.output
    run = cli("eval", "--agent-dir", agent, "--chain", "main", "--at", AT, "--format", "json",
              "--fail", "openai:429:Rate limit reached for gpt-5",
              "--fail", 'openai-2:429:{"error": {"type": "rate_limit_exceeded", "message": "slow down"}}',
              "--fail", "openrouter:503")
    assert run.returncode == 0, run.describe()
    decision = run.json()
    target = {k: decision["target"][k] for k in ("provider", "model", "pool", "chain", "entry", "via")}
    assert target == {"provider": "openrouter-2", "model": "anthropic/claude-sonnet-4.5",
                      "pool": "router", "chain": "main", "entry": 1, "via": "chain"}
    assert decision["error"]["kind"] == "overloaded"
    assert [c["provider"] for c in decision["candidates"]] == ["openrouter-2", "zai", "zai-2"]


def test_a_models_json_custom_provider_is_an_account_family(cli: Cli, tmp_path: Path) -> None:
    policy = """\
subscriptions:
  - {provider: ollama, index: 2}
pools:
  - {name: local, baseProvider: ollama, members: [ollama, ollama-2]}
"""
    models = {"providers": {"ollama": {"baseUrl": "http://127.0.0.1:11434/v1", "api": "openai-completions",
                                       "apiKey": "ollama", "models": [{"id": "qwen3"}]}}}
    agent = _agent(tmp_path, policy, {"ollama": KEY, "ollama-2": KEY}, models)
    run = cli("eval", "--agent-dir", agent, "--pool", "local", "--model", "qwen3", "--at", AT, "--format", "json",
              "--fail", "ollama:429")
    assert run.returncode == 0, run.describe()
    assert run.json()["target"]["provider"] == "ollama-2"
    # Without models.json the same policy names an unknown family: a warning, and the pool is useless.
    (agent / "models.json").unlink()
    bare = cli("validate", "--agent-dir", agent)
    assert bare.returncode == 0, bare.describe()
    assert "unknown provider 'ollama'; this subscription is ignored" in bare.stdout
    assert "'ollama' is not a known account" in bare.stdout


def test_subs_add_takes_any_pi_provider(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path, "pools: []\n", {})
    run = cli("subs", "add", "openrouter", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    assert "{provider: openrouter, index: 2}" in (agent / "multi-pass.yaml").read_text(encoding="utf-8")
    listed = cli("subs", "list", "--agent-dir", agent)
    assert listed.returncode == 0, listed.describe()
    assert "openrouter-2 | not logged in | policy" in listed.stdout


def test_a_member_of_another_family_is_an_error_in_yaml_and_a_warning_in_json(cli: Cli, tmp_path: Path) -> None:
    pool = {"name": "mixed", "baseProvider": "openai", "members": ["openai", "zai"]}
    agent = _agent(tmp_path, json.dumps({"pools": [pool]}), {})
    strict = cli("validate", "--agent-dir", agent)
    assert strict.returncode == 1, strict.describe()
    assert ("multi-pass.yaml:1:78: member-family: pool 'mixed': 'zai' is an account of the zai family, not of "
            "the pool's baseProvider 'openai'") in strict.stdout
    (agent / "multi-pass.yaml").rename(agent / "multi-pass.json")
    tolerant = cli("validate", "--agent-dir", agent)
    assert tolerant.returncode == 0, tolerant.describe()
    assert ("multi-pass.json:1:78: warning: member-family: pool 'mixed': 'zai' is an account of the zai family, "
            "not of the pool's baseProvider 'openai' (pi-multi-pass does not check this)") in tolerant.stdout
    assert "`mp-policy import` converts this file to YAML, where this is an error" in tolerant.stdout


def test_limits_says_which_accounts_have_no_quota_checker(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path, POLICY, {"openai": KEY, "zai": KEY})
    text = cli("limits", "--agent-dir", agent, "--no-save")
    assert text.returncode == 0, text.describe()
    assert ("openai, openai-2, openrouter-2, zai, zai-2: no quota checker for the openai, openrouter, zai "
            "families, so their quota is not checked") in text.stdout
    one = cli("limits", "--agent-dir", agent, "--no-save", "--account", "zai-2", "--format", "json")
    assert one.returncode == 0, one.describe()
    assert one.json() == []
    assert one.stderr.startswith("zai-2: no quota checker for the zai family, so its quota is not checked")

"""An existing pi-multi-pass 1.3.0 set-up works unchanged (DESIGN §3: "an existing
``~/.pi/agent/multi-pass.json`` or ``.pi/multi-pass.json`` is already a valid policy document").

The files are written exactly as pi-multi-pass writes them (``JSON.stringify(config, null, 2)``),
with the shapes of its README and behaviour reference: labelled subscriptions, pools with
strategies and ``memberSchedule``, chains, presets, a project overlay with ``allowedSubs`` and its
own pools and chains, and pi's ``auth.json``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from policy_engine.engine import Engine
from policy_engine.evaluate.route import RouteError

VIENNA = ZoneInfo("Europe/Vienna")
MONDAY_MORNING = datetime(2026, 4, 6, 8, 30, tzinfo=UTC)  # 10:30 in Vienna

GLOBAL: dict[str, Any] = {
    "subscriptions": [
        {"provider": "openai-codex", "index": 2, "label": "work"},
        {"provider": "openai-codex", "index": 3, "label": "personal"},
        {"provider": "anthropic", "index": 2},
    ],
    "pools": [
        {
            "name": "claude-pool",
            "baseProvider": "anthropic",
            "members": ["anthropic", "anthropic-2"],
            "enabled": True,
        },
        {
            "name": "codex-pool",
            "baseProvider": "openai-codex",
            "members": ["openai-codex", "openai-codex-2", "openai-codex-3"],
            "enabled": True,
            "strategy": "scheduled",
            "memberSchedule": {
                "openai-codex": {
                    "role": "preferred",
                    "windows": [{"hours": [9, 17], "days": ["mon", "tue", "wed", "thu", "fri"]}],
                },
                "openai-codex-2": {"role": "preferred", "windows": [{"hours": [17, 9]}]},
                "openai-codex-3": {"role": "overflow"},
            },
        },
        {
            "name": "gemini",
            "baseProvider": "google-gemini-cli",
            "members": ["google-gemini-cli"],
            "enabled": True,
            "strategy": "quota-first",
        },
        {
            "name": "copilot",
            "baseProvider": "github-copilot",
            "members": ["github-copilot"],
            "enabled": True,
            "strategy": "custom",
            "selectorScript": "selectors/my-copilot-selector.js",
        },
    ],
    "chains": [
        {
            "name": "ordered-fallback",
            "enabled": True,
            "entries": [
                {"pool": "claude-pool", "model": "claude-sonnet-4-20250514", "enabled": True},
                {"pool": "codex-pool", "model": "gpt-5", "enabled": True},
                {"pool": "gemini", "model": "gemini-2.5-pro", "enabled": True},
            ],
        },
    ],
    "presets": [
        {
            "name": "coding-premium",
            "enabled": True,
            "entries": [
                {"provider": "anthropic", "model": "claude-sonnet-4-20250514", "enabled": True},
                {"provider": "openai-codex", "model": "o3", "enabled": True},
                {"provider": "google-gemini-cli", "model": "gemini-2.5-pro", "enabled": True},
            ],
        },
        {
            "name": "coding-budget",
            "enabled": True,
            "entries": [
                {"provider": "openai-codex", "model": "gpt-4.1-mini", "enabled": True},
                {"provider": "google-gemini-cli", "model": "gemini-2.5-flash", "enabled": True},
            ],
        },
    ],
}

PROJECT: dict[str, Any] = {
    "allowedSubs": ["openai-codex-2", "anthropic-2"],
    "pools": [
        {"name": "work-codex", "baseProvider": "openai-codex", "members": ["openai-codex-2"], "enabled": True},
    ],
    "chains": [
        {
            "name": "work-fallback",
            "enabled": True,
            "entries": [{"pool": "work-codex", "model": "gpt-5-mini", "enabled": True}],
        },
    ],
}

OAUTH = {"type": "oauth", "access": "eyJhbGciOi.secret", "refresh": "rt_secret", "expires": 1775470000000}
AUTH: dict[str, Any] = {
    "anthropic": OAUTH,
    "anthropic-2": OAUTH,
    "openai-codex": {**OAUTH, "accountId": "acct-1"},
    "openai-codex-2": {**OAUTH, "accountId": "acct-2"},
    "openai-codex-3": {**OAUTH, "accountId": "acct-3"},
    "google-gemini-cli": {**OAUTH, "projectId": "proj-1", "email": "me@example.com"},
}


def js_stringify(value: Any) -> str:
    """``JSON.stringify(value, null, 2)``: two-space indentation, ``": "`` separators, no trailing newline."""
    return json.dumps(value, indent=2, ensure_ascii=False)


class FakeClock:
    """A settable clock."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def setup(tmp_path: Path) -> dict[str, Path]:
    """An agent directory (global config + auth.json) and a project with an overlay."""
    agent = tmp_path / "home" / ".pi" / "agent"
    agent.mkdir(parents=True)
    (agent / "multi-pass.json").write_text(js_stringify(GLOBAL), encoding="utf-8")
    (agent / "auth.json").write_text(js_stringify(AUTH), encoding="utf-8")
    project = tmp_path / "work" / "corp-project"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.json").write_text(js_stringify(PROJECT), encoding="utf-8")
    (project / "src" / "pkg").mkdir(parents=True)
    side = tmp_path / "side-project"
    side.mkdir()
    return {"agent": agent, "project": project, "side": side}


def load(agent: Path, project: Path | None = None, **kwargs: Any) -> Engine:
    """Engine.load with deterministic clock, zone and in-memory state (credentials from auth.json)."""
    kwargs.setdefault("env", {})
    return Engine.load(agent_dir=agent, project=project, state="memory://", clock=FakeClock(MONDAY_MORNING),
                       timezone_default=VIENNA, **kwargs)


def test_the_files_are_what_pi_writes() -> None:
    text = js_stringify(GLOBAL)
    assert text.startswith('{\n  "subscriptions": [\n    {\n      "provider": "openai-codex",')
    assert not text.endswith("\n")


def test_the_global_config_loads_with_only_expected_warnings(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["side"])
    assert engine.sources is not None
    assert engine.sources.global_path == setup["agent"] / "multi-pass.json"
    assert engine.sources.project_path is None
    assert {"openai-codex-2", "openai-codex-3", "anthropic-2"} <= engine.graph.accounts
    assert engine.graph.labels == {"openai-codex-2": "work", "openai-codex-3": "personal"}
    errors = [d for d in engine.diagnostics if d.severity == "error"]
    assert errors == []
    assert engine.auth_warnings == []


def test_the_global_chain_cascades_as_pi_users_expect(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["side"])
    d = engine.select(chain="ordered-fallback")
    path = []
    while d.target is not None:
        path.append((d.target.provider, d.target.model, d.target.entry))
        d = engine.fail(d.turn, status=429, message='429 {"type":"error","error":{"type":"rate_limit_error"}}')
    assert path == [
        ("anthropic", "claude-sonnet-4-20250514", 0),
        ("anthropic-2", "claude-sonnet-4-20250514", 0),
        ("openai-codex", "gpt-5", 1),          # preferred, in its Monday 9-17 window
        ("openai-codex-3", "gpt-5", 1),        # overflow; openai-codex-2's window opens at 17:00
        ("google-gemini-cli", "gemini-2.5-pro", 2),
    ]
    out = d.to_dict()
    assert out["target"] is None
    assert out["retryAfter"] == "2026-04-06T10:35:00+02:00"


def test_the_scheduled_pool_follows_the_readme_example(setup: dict[str, Path]) -> None:
    out = load(setup["agent"], setup["side"]).select(pool="codex-pool", model="gpt-5").to_dict()
    assert [c["provider"] for c in out["candidates"][:2]] == ["openai-codex", "openai-codex-3"]
    skip = out["skipped"][0]
    assert (skip["provider"], skip["reason"], skip["until"]) == (
        "openai-codex-2", "outside-window", "2026-04-06T17:00:00+02:00")


def test_presets_rotate_within_the_pool_before_the_next_entry(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["side"])
    d = engine.select(preset="coding-premium")
    assert (d.target.provider, d.target.model, d.target.via) == (  # type: ignore[union-attr]
        "anthropic", "claude-sonnet-4-20250514", "preset")
    d = engine.fail(d.turn, status=429, message="rate_limit_error")
    assert (d.target.provider, d.target.via, d.target.entry) == ("anthropic-2", "pool", 0)  # type: ignore[union-attr]
    d = engine.fail(d.turn, status=429, message="rate_limit_error")
    assert (d.target.provider, d.target.model, d.target.entry) == ("openai-codex", "o3", 1)  # type: ignore[union-attr]


def test_a_custom_pool_whose_script_is_missing_falls_back_to_rotation(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["side"], auth={"github-copilot"})
    out = engine.select(pool="copilot", model="gpt-4.1").to_dict()
    assert out["target"]["provider"] == "github-copilot"
    (strategy,) = out["strategy"]
    assert (strategy["name"], strategy["fallback"]) == ("custom", True)
    assert strategy["note"]


def test_the_project_overlay_restricts_and_replaces(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["project"])
    assert engine.sources is not None
    assert engine.sources.project_path == setup["project"] / ".pi" / "multi-pass.json"
    assert engine.graph.allowed == frozenset({"openai-codex-2", "anthropic-2"})
    assert set(engine.graph.pools) == {"work-codex"}
    assert set(engine.graph.chains) == {"work-fallback"}
    assert set(engine.graph.presets) == {"coding-premium", "coding-budget"}  # presets stay global

    d = engine.select("openai-codex-2", model="gpt-5-mini")
    out = d.to_dict()
    assert out["target"] == {"provider": "openai-codex-2", "model": "gpt-5-mini", "pool": "work-codex",
                             "chain": None, "preset": None, "entry": None, "via": "current"}
    failed = engine.fail(d.turn, status=429,
                         message="You have hit your ChatGPT usage limit (pro plan). Try again in ~42 min.").to_dict()
    assert failed["target"] is None
    assert failed["retryAfter"] == "2026-04-06T11:12:00+02:00"


def test_the_project_allow_list_is_exact(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["project"])
    out = engine.select("openai-codex", model="gpt-5").to_dict()
    assert out["skipped"][0]["reason"] == "not-allowed"
    # the project's pools replace the global ones: openai-codex is in none of them, so nothing follows it
    assert out["target"] is None
    out = engine.select("anthropic-2", model="claude-sonnet-4-20250514").to_dict()
    assert out["target"]["provider"] == "anthropic-2"
    assert out["target"]["pool"] is None
    premium = engine.select(preset="coding-premium").to_dict()
    assert premium["target"] is None
    assert [s["reason"] for s in premium["skipped"]] == ["not-allowed"] * 3
    with pytest.raises(RouteError, match="no pool named 'codex-pool'"):
        engine.select(pool="codex-pool", model="gpt-5")


def test_the_project_overlay_is_found_by_searching_upwards(
    setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(setup["project"] / "src" / "pkg")
    engine = load(setup["agent"])
    assert engine.sources is not None
    assert engine.sources.project_path is not None
    assert engine.sources.project_path.resolve() == (setup["project"] / ".pi" / "multi-pass.json").resolve()
    assert engine.graph.allowed == frozenset({"openai-codex-2", "anthropic-2"})
    assert engine.select(pool="work-codex", model="gpt-5-mini").target is not None


def test_outside_any_project_no_overlay_is_used(setup: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(setup["side"])
    engine = load(setup["agent"])
    assert engine.sources is not None
    assert engine.sources.project_path is None
    assert engine.graph.allowed is None


def test_the_agent_directory_comes_from_pi_coding_agent_dir(setup: dict[str, Path]) -> None:
    engine = Engine.load(project=setup["side"], state="memory://", env={"PI_CODING_AGENT_DIR": str(setup["agent"])},
                         clock=FakeClock(MONDAY_MORNING), timezone_default=VIENNA)
    assert engine.sources is not None
    assert engine.sources.agent_dir == setup["agent"]
    assert engine.select(chain="ordered-fallback").target is not None  # credentials from auth.json


def test_a_global_yaml_policy_wins_over_the_json_file(setup: dict[str, Path]) -> None:
    (setup["agent"] / "multi-pass.yaml").write_text(
        "# my routing\npools:\n  - {name: yaml-pool, baseProvider: anthropic, members: [anthropic]}\n",
        encoding="utf-8")
    engine = load(setup["agent"], setup["side"])
    assert set(engine.graph.pools) == {"yaml-pool"}


def test_multi_sub_adds_accounts_to_a_pi_setup(setup: dict[str, Path]) -> None:
    engine = load(setup["agent"], setup["side"], env={"MULTI_SUB": "openai-codex:3,anthropic:2"})
    assert {"openai-codex-4", "anthropic-3"} <= engine.graph.accounts
    assert "openai-codex-5" not in engine.graph.accounts
    # never written to the file
    assert json.loads((setup["agent"] / "multi-pass.json").read_text(encoding="utf-8")) == GLOBAL


def test_loading_never_rewrites_the_pi_files(setup: dict[str, Path]) -> None:
    files = [setup["agent"] / "multi-pass.json", setup["agent"] / "auth.json",
             setup["project"] / ".pi" / "multi-pass.json"]
    before = [f.read_bytes() for f in files]
    engine = load(setup["agent"], setup["project"])
    d = engine.select("openai-codex-2", model="gpt-5-mini")
    engine.fail(d.turn, status=429, message="rate limit")
    assert [f.read_bytes() for f in files] == before

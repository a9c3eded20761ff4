"""EngineCache: overlays by working directory, reload on edit, the last good policy on a broken edit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from serve_support import ACCOUNTS, POLICY, make_agent, make_project, rewrite, write_auth

from policy_engine.serve import engines
from policy_engine.serve.engines import EngineCache, SharedStore
from policy_engine.serve.protocol import ProtocolError
from policy_engine.state import open_store


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    return make_agent(tmp_path)


@pytest.fixture
def cache(tmp_path: Path, agent: Path) -> Iterator[EngineCache]:
    store = SharedStore(open_store(f"sqlite:///{tmp_path / 'state.db'}", agent_dir=agent))
    cache = EngineCache(agent_dir=agent, policy=None, project=None, store=store, quota_refresh=False,
                        cwd=tmp_path)
    yield cache
    cache.close()
    store.inner.close()


@pytest.fixture
def no_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    """Check files on every request instead of once a second (the interval itself is tested end to end)."""
    monkeypatch.setattr(engines, "RECHECK", 0.0)


def test_cwd_picks_the_overlay_searching_up_and_projects_share_one_engine(cache: EngineCache, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "src" / "deep").mkdir()
    key = str((project / ".pi" / "multi-pass.yaml").resolve())
    assert cache.overlay_for(str(project / "src" / "deep")) == key
    assert cache.slot(str(project / "src")) is cache.slot(str(project))
    engine = cache.slot(str(project / "src")).get()
    assert engine.graph.allowed == frozenset({"anthropic-2"})
    assert cache.overlay_for(None) is None  # the server's own directory has no overlay
    assert cache.slot(None).get().graph.allowed is None


def test_a_request_cwd_is_checked_with_its_overlay_lookup_not_stat_on_every_request(
        cache: EngineCache, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "RECHECK", 3600.0)  # one lookup per cwd for the whole test
    project = make_project(tmp_path)
    checked: list[Path] = []
    is_dir = Path.is_dir

    def counting_is_dir(self: Path) -> bool:
        if self == project:
            checked.append(self)
        return is_dir(self)

    monkeypatch.setattr(Path, "is_dir", counting_is_dir)
    assert cache.slot(str(project)).get().graph.allowed == frozenset({"anthropic-2"})
    looked_up = len(checked)
    assert looked_up > 0
    for _ in range(20):
        assert cache.slot(str(project)).get().graph.allowed == frozenset({"anthropic-2"})
    assert len(checked) == looked_up, "the cwd is checked when its overlay is looked up, not on every request"
    with pytest.raises(ProtocolError, match="not a directory"):
        cache.slot(str(tmp_path / "nope"))


def test_an_engine_without_overlay_never_picks_one_up_on_reload(cache: EngineCache, tmp_path: Path) -> None:
    slot = cache.slot(None)
    assert slot.get().sources.project_path is None
    (tmp_path / ".pi").mkdir()
    rewrite(tmp_path / ".pi" / "multi-pass.yaml", "allowedSubs: [anthropic-3]\n")  # the server's cwd gains one
    slot.refresh(force=True)
    assert slot.get().sources.project_path is None and slot.get().graph.allowed is None


def test_an_edit_is_picked_up_and_an_unchanged_file_is_not_reloaded(cache: EngineCache, agent: Path,
                                                                      no_wait: None) -> None:
    slot = cache.slot(None)
    first = slot.get()
    assert slot.get() is first  # nothing changed: the same engine
    rewrite(agent / "multi-pass.yaml", POLICY.replace("[anthropic, anthropic-2, anthropic-3]", "[anthropic-3]"))
    second = slot.get()
    assert second is not first and second.graph.revision != first.graph.revision
    assert second.graph.pools["claude"].members == ("anthropic-3",)
    assert slot.warnings() == []


def test_a_broken_edit_keeps_the_last_good_engine_and_warns_until_fixed(cache: EngineCache, agent: Path,
                                                                         no_wait: None) -> None:
    slot = cache.slot(None)
    good = slot.get()
    rewrite(agent / "multi-pass.yaml", POLICY + "pools: [\n")
    assert slot.get() is good
    warnings = slot.warnings()
    assert f"revision {good.graph.revision}" in warnings[0] and "stays in force" in warnings[0]
    assert any(w.startswith(f"{agent / 'multi-pass.yaml'}:") for w in warnings[1:]), warnings
    rewrite(agent / "multi-pass.yaml", POLICY.replace("cooldown: 5m", "cooldown: 6m"))
    fixed = slot.get()
    assert fixed is not good and slot.warnings() == []


def test_a_project_whose_overlay_never_loaded_answers_invalid_policy(cache: EngineCache, tmp_path: Path,
                                                                      no_wait: None) -> None:
    project = make_project(tmp_path, overlay="allowedSubs: 3\n")
    with pytest.raises(ProtocolError) as info:
        cache.slot(str(project)).get()
    assert info.value.code == "invalid-policy" and "multi-pass.yaml" in info.value.message
    rewrite(project / ".pi" / "multi-pass.yaml", "allowedSubs: [anthropic]\n")
    assert cache.slot(str(project)).get().graph.allowed == frozenset({"anthropic"})


def test_a_new_login_in_auth_json_counts_at_once(tmp_path: Path, no_wait: None) -> None:
    agent = make_agent(tmp_path, accounts=[a for a in ACCOUNTS if a != "anthropic"])
    store = SharedStore(open_store("memory://", agent_dir=agent))
    cache = EngineCache(agent_dir=agent, policy=None, project=None, store=store, quota_refresh=False, cwd=tmp_path)
    try:
        slot = cache.slot(None)
        assert not slot.get().auth.has("anthropic")
        write_auth(agent)  # same mtime second is possible: the size and inode differ
        assert slot.get().auth.has("anthropic")
    finally:
        cache.close()


def test_a_custom_provider_added_to_models_json_counts_at_once(tmp_path: Path, no_wait: None) -> None:
    """pi's models.json custom providers are accounts: declaring one rebuilds the engine, as a login does."""
    policy = ("version: 1\npools:\n  - {name: proxy, baseProvider: my-proxy, members: [my-proxy]}\n"
              "chains:\n  - {name: main, entries: [{pool: proxy, model: m}]}\n")
    agent = make_agent(tmp_path, policy=policy, accounts=["my-proxy"])
    store = SharedStore(open_store("memory://", agent_dir=agent))
    cache = EngineCache(agent_dir=agent, policy=None, project=None, store=store, quota_refresh=False, cwd=tmp_path)
    try:
        slot = cache.slot(None)
        before = slot.get().select(chain="main", dry_run=True)
        assert before.target is None and "not a known account" in before.skipped[0].detail
        models = {"providers": {"my-proxy": {"baseUrl": "http://127.0.0.1:9", "api": "openai-completions",
                                             "apiKey": "K", "models": [{"id": "m"}]}}}
        (agent / "models.json").write_text(json.dumps(models), encoding="utf-8")
        after = slot.get().select(chain="main", dry_run=True)
        assert after.target is not None and after.target.provider == "my-proxy"
    finally:
        cache.close()


def test_auth_problems_are_warnings(cache: EngineCache, agent: Path, no_wait: None) -> None:
    (agent / "auth.json").write_text("{not json", encoding="utf-8")
    slot = cache.slot(None)
    slot.get()
    warnings = slot.warnings()
    assert any("auth.json" in w and "not valid JSON" in w for w in warnings), warnings


def test_least_recently_used_engines_are_dropped(cache: EngineCache, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engines, "MAX_ENGINES", 2)
    projects = [make_project(tmp_path / f"p{i}", overlay=f"allowedSubs: [{name}]\n")
                for i, name in enumerate(("anthropic", "anthropic-2", "anthropic-3"))]
    for project in projects:
        cache.slot(str(project)).get()
    kept = [json.dumps(slot.key) for slot in cache.slots()]
    assert len(kept) == 2 and str(projects[0]) not in " ".join(kept)


def test_the_shared_store_ignores_close(cache: EngineCache) -> None:
    engine = cache.slot(None).get()
    engine.close()  # an engine replaced on reload is closed like this
    cache.store.snapshot()  # the real store still answers
    assert not cache.store.inner.readonly

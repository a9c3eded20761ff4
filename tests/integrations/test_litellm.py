"""The LiteLLM Router plugin (``policy_engine.integrations.litellm``) with a real ``litellm.Router``.

One deployment per account against the fake provider (the ``claude`` pool through LiteLLM's
Anthropic provider, the ``codex`` pool through its OpenAI provider); the policy picks every
deployment, LiteLLM's callbacks report to the engine, and the server's record shows exactly which
requests LiteLLM made.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import litellm
import pytest
from fake_llm_server import FakeLLMServer, Scripted
from two_pools import CLAUDE_MODEL, CODEX_MODEL, KEYS, POLICY

from policy_engine import AsyncEngine, AttemptsExhausted, Engine
from policy_engine.engine.sdk_errors import read_error
from policy_engine.integrations.litellm import DEFAULT_GROUP, PolicyRouting, policy_router
from policy_engine.state import Cooldown, open_store

# LiteLLM's own models warn about their typing when first used; nothing of ours.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydantic", "ignore::DeprecationWarning:litellm")

MESSAGES = [{"role": "user", "content": "hello there"}]


def accounts(server: FakeLLMServer) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for account, key in KEYS.items():
        if account.startswith("anthropic"):
            out[account] = {"model": "anthropic/{model}", "api_key": key, "api_base": server.url}
        else:
            out[account] = {"model": "openai/{model}", "api_key": key, "api_base": f"{server.url}/v1"}
    return out


@pytest.fixture
def setup(fake_llm: FakeLLMServer, tmp_path: Path) -> Any:
    """Build a policy router over an engine on a SQLite file; the routers' callbacks are removed afterwards."""
    built: list[Any] = []

    def build(**options: Any) -> tuple[Any, str]:
        url = f"sqlite:///{tmp_path / f'state{len(built)}.db'}"
        engine = Engine.from_documents(POLICY, auth=set(KEYS), state=url)
        router = policy_router(engine, accounts(fake_llm), **options)
        built.append(router)
        return router, url

    yield build
    for router in built:
        router.mp_policy.detach()


def cooldowns(url: str, tmp_path: Path) -> dict[str, Cooldown]:
    return dict(open_store(url, agent_dir=tmp_path).snapshot().cooldowns)


def seen(server: FakeLLMServer) -> list[tuple[str, str | None, str | None]]:
    return [(r.dialect, r.key, r.model) for r in server.requests]


def test_the_router_has_one_deployment_per_account_and_lets_the_engine_decide(setup: Any) -> None:
    router, _ = setup()
    deployments = router.registry().deployments(DEFAULT_GROUP, source="all")
    assert sorted(d["model_info"]["id"] for d in deployments) == sorted(KEYS)
    settings = router.settings()
    assert settings.disable_cooldowns is True
    assert not settings.fallbacks and not settings.context_window_fallbacks and not settings.content_policy_fallbacks
    assert settings.default_litellm_params["max_retries"] == 0
    assert isinstance(router.mp_policy, PolicyRouting) and router.mp_policy in litellm.callbacks
    assert {"main", "chain/main"} <= set(router.mp_policy.routes)


def test_a_completion_follows_the_chain(fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    router, url = setup()
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=60, reset_in=1500))
    fake_llm.script("sk-ant-2", "overloaded")
    fake_llm.script("sk-oai-1", Scripted("ok", text="codex answers"))
    reply = router.completion(model="main", messages=MESSAGES)
    assert reply.choices[0].message.content == "codex answers"
    assert reply._hidden_params["model_id"] == "openai-codex"
    assert seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL), ("anthropic", "sk-ant-2", CLAUDE_MODEL),
                              ("openai", "sk-oai-1", CODEX_MODEL)]
    state = cooldowns(url, tmp_path)
    assert set(state) == {"anthropic", "anthropic-2"}
    assert 1490 < (state["anthropic"].until - datetime.now(UTC)).total_seconds() <= 1500
    assert state["anthropic-2"].reason.startswith("overloaded")
    # LiteLLM's own cooldowns stayed off: the engine's are the only ones.
    assert router.health().cooldowns.get_active_cooldowns(model_ids=list(KEYS), parent_otel_span=None) == []
    # The success went to the engine, which forgot the turn (LiteLLM may log it from a worker thread).
    deadline = time.monotonic() + 10
    while open_store(url, agent_dir=tmp_path).dump()["turns"] and time.monotonic() < deadline:
        time.sleep(0.02)
    assert open_store(url, agent_dir=tmp_path).dump()["turns"] == {}


def test_a_non_rotating_error_ends_the_request_with_litellm_s_exception(
        fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    router, url = setup()
    fake_llm.script("sk-ant-1", "unauthorized")
    fake_llm.script("sk-ant-2", "ok")
    with pytest.raises(litellm.AuthenticationError) as raised:
        router.completion(model="main", messages=MESSAGES)
    assert raised.value.status_code == 401
    assert seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL)]
    assert cooldowns(url, tmp_path) == {}


def test_a_dropped_connection_does_not_rotate(fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    router, url = setup()
    fake_llm.script("sk-ant-1", "drop")
    with pytest.raises(litellm.InternalServerError) as raised:  # LiteLLM's name for it, from httpx's error
        router.completion(model="main", messages=MESSAGES)
    report = read_error(raised.value)
    assert report is not None and report.network and report.status is None
    assert seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL)]
    assert cooldowns(url, tmp_path) == {}


def test_no_account_left_raises_attempts_exhausted(fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    router, url = setup()
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=600))
    fake_llm.script("sk-ant-2", "quota")
    fake_llm.script("sk-oai-1", Scripted("rate-limit", retry_after=30))
    fake_llm.script("sk-oai-2", "overloaded")
    with pytest.raises(AttemptsExhausted) as raised:
        router.completion(model="main", messages=MESSAGES)
    assert seen(fake_llm) == [
        ("anthropic", "sk-ant-1", CLAUDE_MODEL), ("anthropic", "sk-ant-2", CLAUDE_MODEL),
        ("openai", "sk-oai-1", CODEX_MODEL), ("openai", "sk-oai-2", CODEX_MODEL)]
    exhausted = raised.value
    state = cooldowns(url, tmp_path)
    assert sorted(state) == sorted(KEYS)
    assert state["anthropic-2"].reason.startswith("quota_exhausted")
    assert exhausted.decision.target is None and exhausted.error is not None
    assert exhausted.error.kind == "overloaded"
    assert exhausted.retry_after == min(c.until for c in state.values())  # anthropic-2: the claude pool's 2m
    assert exhausted.retry_after == state["anthropic-2"].until
    assert isinstance(exhausted.__cause__, litellm.InternalServerError | litellm.APIError)
    assert "no account left after 4 attempt(s): anthropic (rate_limit), anthropic-2 (quota_exhausted)" in str(exhausted)


def test_async_completion_and_success_headers(fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    router, url = setup()
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=30))
    fake_llm.script("sk-ant-2", Scripted("ok", text="claude answers"))

    def captured() -> bool:
        return "anthropic-2" in open_store(url, agent_dir=tmp_path).snapshot().quota

    async def run() -> tuple[Any, bool]:
        reply = await router.acompletion(model="chain/main", messages=MESSAGES)
        # LiteLLM runs async success callbacks in the background: give it up to 10 s.
        deadline = time.monotonic() + 10
        while not captured() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return reply, captured()

    reply, quota_captured = asyncio.run(run())
    assert reply.choices[0].message.content == "claude answers"
    assert seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL), ("anthropic", "sk-ant-2", CLAUDE_MODEL)]
    assert set(cooldowns(url, tmp_path)) == {"anthropic"}
    # The success callback handed the provider's headers to the engine: quota from the unified headers.
    assert quota_captured
    assert open_store(url, agent_dir=tmp_path).snapshot().quota["anthropic-2"].remaining == 50


def test_routes_name_pools_with_a_model(fake_llm: FakeLLMServer, setup: Any) -> None:
    router, _ = setup(routes={"fast": {"pool": "codex", "model": "gpt-5-mini"}})
    fake_llm.script("sk-oai-1", "ok")
    router.completion(model="fast", messages=MESSAGES)
    assert seen(fake_llm) == [("openai", "sk-oai-1", "gpt-5-mini")]


def test_calls_that_are_not_the_router_s_are_ignored(fake_llm: FakeLLMServer, setup: Any, tmp_path: Path) -> None:
    _, url = setup()
    fake_llm.script("sk-oai-1", Scripted("rate-limit", retry_after=30))
    with pytest.raises(litellm.RateLimitError):
        litellm.completion(model=f"openai/{CODEX_MODEL}", messages=MESSAGES, api_key="sk-oai-1",
                           api_base=f"{fake_llm.url}/v1", max_retries=0, num_retries=0)
    assert len(fake_llm.requests) == 1
    assert cooldowns(url, tmp_path) == {}


def test_construction_errors(fake_llm: FakeLLMServer) -> None:
    engine = Engine.from_documents(POLICY, auth=set(KEYS))
    with pytest.raises(ValueError, match="not an account of the policy"):
        PolicyRouting(engine, {"acme": {"model": "openai/{model}"}})
    with pytest.raises(ValueError, match="need a 'model'"):
        PolicyRouting(engine, {"anthropic": {"api_key": "k"}})
    with pytest.raises(ValueError, match="give one of provider/pool/chain/preset"):
        PolicyRouting(engine, accounts(fake_llm), routes={"x": {"model": "m"}})
    plugin = PolicyRouting(AsyncEngine(engine), accounts(fake_llm))  # the async engine's engine serves
    assert plugin.engine is engine
    with pytest.raises(ValueError, match="sets num_retries"):
        plugin.router_arguments(num_retries=3)
    assert plugin.router_arguments(timeout=30)["timeout"] == 30
    with pytest.raises(ValueError, match="names no route"):
        plugin.get_available_deployment("nope", MESSAGES, request_kwargs={})
    # Picks that cannot become a deployment say why.
    no_model = PolicyRouting(engine, accounts(fake_llm), routes={"bare": {"pool": "codex"}})
    with pytest.raises(ValueError, match="gives no model"):
        no_model.get_available_deployment("bare", MESSAGES, request_kwargs={})
    partial = PolicyRouting(engine, {k: v for k, v in accounts(fake_llm).items() if k != "anthropic"})
    with pytest.raises(ValueError, match="anthropic, which has no LiteLLM deployment"):
        partial.get_available_deployment("main", MESSAGES, request_kwargs={})
    assert fake_llm.requests == []

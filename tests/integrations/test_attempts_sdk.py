"""The failover loop with the real ``openai`` and ``anthropic`` SDKs against the fake provider.

A chain of two pools: the ``claude`` pool is called with the Anthropic SDK, the ``codex`` pool with
the OpenAI SDK, each account with its own API key; SDK retries are off (``max_retries=0``), so the
server sees exactly one request per attempt, which the tests assert in order. The state is a
SQLite file, read back through a second connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from fake_llm_server import FakeLLMServer, Scripted
from two_pools import CLAUDE_MODEL, CODEX_MODEL, KEYS, POLICY

from policy_engine import AsyncEngine, AttemptsExhausted, Engine
from policy_engine.state import Cooldown, open_store

MESSAGES = [{"role": "user", "content": "hi"}]


def make_engine(tmp_path: Path, **extra: Any) -> tuple[Engine, str]:
    url = f"sqlite:///{tmp_path / 'state.db'}"
    return Engine.from_documents({**POLICY, **extra}, auth=set(KEYS), state=url), url


def cooldowns(url: str, tmp_path: Path) -> dict[str, Cooldown]:
    return dict(open_store(url, agent_dir=tmp_path).snapshot().cooldowns)


def seconds_from_now(moment: datetime) -> float:
    return (moment - datetime.now(UTC)).total_seconds()


def clients(server: FakeLLMServer) -> Callable[[str, str | None], str]:
    """One SDK client per account (retries off); the call the loop makes for an account and model."""
    claude = {a: anthropic.Anthropic(base_url=server.url, api_key=k, max_retries=0, timeout=10)
              for a, k in KEYS.items() if a.startswith("anthropic")}
    codex = {a: openai.OpenAI(base_url=f"{server.url}/v1", api_key=k, max_retries=0, timeout=10)
             for a, k in KEYS.items() if a.startswith("openai")}

    def call(provider: str, model: str | None) -> str:
        assert model is not None
        if provider in claude:
            message = claude[provider].messages.create(model=model, max_tokens=64, messages=MESSAGES)
            return message.content[0].text
        return codex[provider].chat.completions.create(model=model, messages=MESSAGES).choices[0].message.content

    return call


def requests_seen(server: FakeLLMServer) -> list[tuple[str, str | None, str | None]]:
    return [(r.dialect, r.key, r.model) for r in server.requests]


def test_the_chain_moves_exactly_when_the_engine_says(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=60, reset_in=1500))
    fake_llm.script("sk-ant-2", "overloaded")
    fake_llm.script("sk-oai-1", Scripted("ok", text="codex here"))
    call = clients(fake_llm)
    for attempt in engine.attempts(chain="main"):
        with attempt:
            reply = call(attempt.provider, attempt.model)
    assert reply == "codex here"
    assert requests_seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL), ("anthropic", "sk-ant-2", CLAUDE_MODEL),
                                       ("openai", "sk-oai-1", CODEX_MODEL)]
    state = cooldowns(url, tmp_path)
    assert set(state) == {"anthropic", "anthropic-2"}
    assert 1490 < seconds_from_now(state["anthropic"].until) <= 1500  # the reset header, not the 60 s retry-after
    assert state["anthropic"].source == "header anthropic-ratelimit-requests-reset"
    assert 110 < seconds_from_now(state["anthropic-2"].until) <= 120  # the pool's 2m for a 529
    assert state["anthropic-2"].reason.startswith("overloaded")


def test_a_non_rotating_error_stops_with_the_sdk_exception(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", "unauthorized")
    fake_llm.script("sk-ant-2", "ok")
    call = clients(fake_llm)
    with pytest.raises(anthropic.AuthenticationError) as raised:
        for attempt in engine.attempts(chain="main"):
            with attempt:
                call(attempt.provider, attempt.model)
    assert raised.value.status_code == 401
    assert requests_seen(fake_llm) == [("anthropic", "sk-ant-1", CLAUDE_MODEL)]
    assert cooldowns(url, tmp_path) == {}


def test_quota_text_in_a_400_rotates(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", "quota")  # "Your credit balance is too low …"
    fake_llm.script("sk-ant-2", "ok")
    call = clients(fake_llm)
    for attempt in engine.attempts(chain="main"):
        with attempt:
            call(attempt.provider, attempt.model)
    assert [r[1] for r in requests_seen(fake_llm)] == ["sk-ant-1", "sk-ant-2"]
    assert cooldowns(url, tmp_path)["anthropic"].reason.startswith("quota_exhausted")


def test_a_dropped_connection_is_not_a_rate_limit(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-oai-1", "drop")
    fake_llm.script("sk-oai-2", "ok")
    call = clients(fake_llm)
    with pytest.raises(openai.APIConnectionError):
        for attempt in engine.attempts(pool="codex", model=CODEX_MODEL):
            with attempt:
                call(attempt.provider, attempt.model)
    assert requests_seen(fake_llm) == [("openai", "sk-oai-1", CODEX_MODEL)]
    assert cooldowns(url, tmp_path) == {}

    # A policy that fails over on network errors says so; then the loop moves on.
    fake_llm.reset()
    fake_llm.script("sk-oai-1", "drop")
    fake_llm.script("sk-oai-2", Scripted("ok", text="second"))
    rules = {"errorRules": [{"type": "network_error", "kind": "overloaded"}]}
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    engine, url = make_engine(rules_dir, **rules)
    for attempt in engine.attempts(pool="codex", model=CODEX_MODEL):
        with attempt:
            reply = call(attempt.provider, attempt.model)
    assert reply == "second"
    assert [r[1] for r in requests_seen(fake_llm)] == ["sk-oai-1", "sk-oai-2"]
    assert cooldowns(url, rules_dir)["openai-codex"].reason.startswith("overloaded")


def test_no_account_left_ends_with_the_right_retry_after(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=600))
    fake_llm.script("sk-ant-2", Scripted("rate-limit", retry_after=900))
    fake_llm.script("sk-oai-1", Scripted("rate-limit", retry_after=400))
    fake_llm.script("sk-oai-2", "unavailable")
    call = clients(fake_llm)
    with pytest.raises(AttemptsExhausted) as raised:
        for attempt in engine.attempts(chain="main"):
            with attempt:
                call(attempt.provider, attempt.model)
    exhausted = raised.value
    assert requests_seen(fake_llm) == [
        ("anthropic", "sk-ant-1", CLAUDE_MODEL), ("anthropic", "sk-ant-2", CLAUDE_MODEL),
        ("openai", "sk-oai-1", CODEX_MODEL), ("openai", "sk-oai-2", CODEX_MODEL)]
    assert isinstance(exhausted.__cause__, openai.InternalServerError) and exhausted.__cause__.status_code == 503
    assert exhausted.error is not None and exhausted.error.kind == "overloaded"
    state = cooldowns(url, tmp_path)
    assert sorted(state) == sorted(KEYS)
    # The earliest end: openai-codex-2's pool cooldown of 3m (the 503 carried no retry time).
    assert exhausted.retry_after == min(c.until for c in state.values()) == state["openai-codex-2"].until
    assert 170 < exhausted.retry_after_seconds() <= 180  # type: ignore[operator]


def test_success_headers_of_a_raw_response_reach_the_quota_cache(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", "ok")
    client = anthropic.Anthropic(base_url=fake_llm.url, api_key="sk-ant-1", max_retries=0)
    for attempt in engine.attempts(chain="main"):
        with attempt:
            raw = client.messages.with_raw_response.create(model=attempt.model, max_tokens=8, messages=MESSAGES)
            attempt.succeed(raw)
            text = raw.parse().content[0].text
    assert text == "Hello from the fake provider."
    quota = open_store(url, agent_dir=tmp_path).snapshot().quota["anthropic"]
    assert quota.remaining == 50 and quota.source == "headers"  # 7d window 0.5 used: the bottleneck


def test_async_sdks_with_the_async_engine(fake_llm: FakeLLMServer, tmp_path: Path) -> None:
    engine, url = make_engine(tmp_path)
    fake_llm.script("sk-ant-1", Scripted("rate-limit", retry_after=30))
    fake_llm.script("sk-ant-2", Scripted("ok", text="async claude"))

    async def turn() -> str:
        claude = {a: anthropic.AsyncAnthropic(base_url=fake_llm.url, api_key=k, max_retries=0)
                  for a, k in KEYS.items() if a.startswith("anthropic")}
        async for attempt in AsyncEngine(engine).attempts(chain="main"):
            async with attempt:
                message = await claude[attempt.provider].messages.create(model=attempt.model, max_tokens=8,
                                                                         messages=MESSAGES)
        return message.content[0].text

    assert asyncio.run(turn()) == "async claude"
    assert [r[1] for r in requests_seen(fake_llm)] == ["sk-ant-1", "sk-ant-2"]
    assert set(cooldowns(url, tmp_path)) == {"anthropic"}

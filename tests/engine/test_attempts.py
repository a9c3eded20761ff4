"""The failover loop (``policy_engine.engine.attempts``): ``engine.attempts(...)`` with ``with attempt:``.

Provider failures here are real ``httpx`` objects (``HTTPStatusError`` around a ``Response``, a
``ConnectError``); the state is a real SQLite file, read back through a second connection. The
same loop against the real ``openai`` / ``anthropic`` SDKs and a local fake provider is in
``tests/integrations/test_attempts_sdk.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from policy_engine import AsyncEngine, Attempt, AttemptRejected, AttemptsExhausted, Engine
from policy_engine.state import StateStore, open_store

NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)
CLAUDE_MODEL, CODEX_MODEL = "claude-sonnet-4-5", "gpt-5"
ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2"}


def policy(**extra: Any) -> dict[str, Any]:
    """Two pools in one chain, each entry with its own model; the claude pool cools down for 10 minutes."""
    return {
        "settings": {"timezone": "UTC"},
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "openai-codex", "index": 2}],
        "pools": [
            {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"], "cooldown": "10m"},
            {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex", "openai-codex-2"]},
        ],
        "chains": [{"name": "main", "entries": [{"pool": "claude", "model": CLAUDE_MODEL},
                                                {"pool": "codex", "model": CODEX_MODEL}]}],
        **extra,
    }


@pytest.fixture
def state_url(tmp_path: Path) -> str:
    """A SQLite state file of this test."""
    return f"sqlite:///{tmp_path / 'state.db'}"


def make_engine(state_url: str, *, auth: set[str] = ACCOUNTS, **extra: Any) -> Engine:
    return Engine.from_documents(policy(**extra), auth=auth, state=state_url, clock=lambda: NOW)


def reread(state_url: str, tmp_path: Path) -> StateStore:
    """A second, independent connection to the state file."""
    return open_store(state_url, agent_dir=tmp_path)


def status_error(status: int, body: Any = None, headers: dict[str, str] | None = None) -> httpx.HTTPStatusError:
    """What ``response.raise_for_status()`` raises for a provider answer."""
    request = httpx.Request("POST", "https://provider.test/v1/messages")
    response = httpx.Response(status, json=body, headers=headers, request=request)
    return httpx.HTTPStatusError(f"HTTP {status}", request=request, response=response)


RATE_LIMITED = {"type": "error", "error": {"type": "rate_limit_error", "message": "Rate limit reached"}}
OVERLOADED = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
BAD_REQUEST = {"type": "error", "error": {"type": "invalid_request_error", "message": "temperature: too high"}}


class Provider:
    """Plays the providers: each account fails with its scripted exception, else answers; records the calls."""

    def __init__(self, failures: dict[str, BaseException] | None = None) -> None:
        self.failures = failures or {}
        self.calls: list[tuple[str, str | None]] = []

    def __call__(self, provider: str, model: str | None) -> str:
        self.calls.append((provider, model))
        failure = self.failures.get(provider)
        if failure is not None:
            raise failure
        return f"answer from {provider}"


def run_loop(engine: Engine, call: Callable[[str, str | None], str], **request: Any) -> tuple[str, Attempt]:
    """The three-line loop of the README."""
    for attempt in engine.attempts(**request):
        with attempt:
            reply = call(attempt.provider, attempt.model)
    return reply, attempt


def test_the_first_target_answers_and_the_turn_ends(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    provider = Provider()
    reply, attempt = run_loop(engine, provider, chain="main")
    assert reply == "answer from anthropic"
    assert provider.calls == [("anthropic", CLAUDE_MODEL)]
    assert attempt.state == "succeeded" and attempt.number == 1
    store = reread(state_url, tmp_path)
    assert store.get_turn(attempt.turn, NOW) is None  # succeed forgot the cascade
    assert store.snapshot().cooldowns == {}


def test_rotates_through_the_pool_then_the_chain_with_each_entry_model(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    provider = Provider({
        "anthropic": status_error(429, RATE_LIMITED, {"retry-after": "1200"}),  # longer than the pool's 10m
        "anthropic-2": status_error(529, OVERLOADED),
    })
    reply, attempt = run_loop(engine, provider, chain="main")
    assert reply == "answer from openai-codex"
    assert provider.calls == [("anthropic", CLAUDE_MODEL), ("anthropic-2", CLAUDE_MODEL), ("openai-codex", CODEX_MODEL)]
    assert attempt.target.chain == "main" and attempt.target.entry == 1 and attempt.number == 3
    cooldowns = reread(state_url, tmp_path).snapshot().cooldowns
    assert set(cooldowns) == {"anthropic", "anthropic-2"}
    assert cooldowns["anthropic"].until == NOW + timedelta(seconds=1200)  # the 429's retry-after
    assert cooldowns["anthropic-2"].until == NOW + timedelta(minutes=10)  # the pool's cooldown
    assert cooldowns["anthropic"].reason.startswith("rate_limit")
    assert cooldowns["anthropic-2"].reason.startswith("overloaded")


def test_a_non_rotating_error_is_reraised_unchanged_and_blames_nobody(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    error = status_error(400, BAD_REQUEST)
    provider = Provider({"anthropic": error})
    with pytest.raises(httpx.HTTPStatusError) as raised:
        run_loop(engine, provider, chain="main")
    assert raised.value is error
    assert provider.calls == [("anthropic", CLAUDE_MODEL)]
    assert reread(state_url, tmp_path).snapshot().cooldowns == {}


@pytest.mark.parametrize("bug", [KeyError("reply"), KeyboardInterrupt()])
def test_an_exception_that_is_not_a_provider_error_leaves_the_account_alone(
        state_url: str, tmp_path: Path, bug: BaseException) -> None:
    engine = make_engine(state_url)
    loop = engine.attempts(chain="main")
    with pytest.raises(type(bug)) as raised:
        for attempt in loop:
            with attempt:
                raise bug
    assert raised.value is bug
    assert loop.history[0].state == "abandoned" and loop.history[0].error is None
    store = reread(state_url, tmp_path)
    assert store.snapshot().cooldowns == {}
    record = store.get_turn(loop.turn or "", NOW)
    assert record is not None and record.data["attempted"] == []  # the turn is where it was


def test_no_account_left_raises_attempts_exhausted_with_retry_after(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    failures = {
        "anthropic": status_error(429, RATE_LIMITED, {"retry-after": "1800"}),
        "anthropic-2": status_error(429, RATE_LIMITED, {"retry-after": "900"}),
        "openai-codex": status_error(429, None, {"retry-after": "60"}),
        "openai-codex-2": status_error(503, None),
    }
    provider = Provider(failures)
    with pytest.raises(AttemptsExhausted) as raised:
        run_loop(engine, provider, chain="main")
    exhausted = raised.value
    assert [c[0] for c in provider.calls] == ["anthropic", "anthropic-2", "openai-codex", "openai-codex-2"]
    assert exhausted.decision.target is None
    assert exhausted.error is not None and exhausted.error.kind == "overloaded" and exhausted.error.rotate
    assert exhausted.__cause__ is failures["openai-codex-2"] and exhausted.exception is failures["openai-codex-2"]
    assert [a.provider for a in exhausted.attempts] == [c[0] for c in provider.calls]
    # The codex pool's default cooldown (5m) outlasts the 60 s retry-after; it ends first.
    assert exhausted.retry_after == NOW + timedelta(minutes=5)
    assert exhausted.retry_after_seconds() == 300
    assert "retry after" in str(exhausted) and "4 attempt(s)" in str(exhausted)
    cooldowns = reread(state_url, tmp_path).snapshot().cooldowns
    assert {p: c.until - NOW for p, c in cooldowns.items()} == {
        "anthropic": timedelta(minutes=30), "anthropic-2": timedelta(minutes=15),
        "openai-codex": timedelta(minutes=5), "openai-codex-2": timedelta(minutes=5)}

    # The next turn finds nobody at its start: no call at all, the same retry_after.
    again = Provider()
    with pytest.raises(AttemptsExhausted) as raised_again:
        run_loop(engine, again, chain="main")
    assert again.calls == [] and raised_again.value.attempts == ()
    assert raised_again.value.retry_after == NOW + timedelta(minutes=5)
    assert raised_again.value.error is None and "cooldown" in str(raised_again.value)


def test_without_credentials_nothing_predictable_helps(state_url: str) -> None:
    engine = make_engine(state_url, auth=set())
    with pytest.raises(AttemptsExhausted) as raised:
        run_loop(engine, Provider(), chain="main")
    assert raised.value.retry_after is None and raised.value.retry_after_seconds() is None
    assert "no-auth" in str(raised.value)


def test_a_network_error_does_not_rotate_unless_the_policy_says_so(state_url: str, tmp_path: Path) -> None:
    dropped = httpx.ConnectError("connection refused")
    with pytest.raises(httpx.ConnectError) as raised:
        run_loop(make_engine(state_url), Provider({"anthropic": dropped}), chain="main")
    assert raised.value is dropped
    assert reread(state_url, tmp_path).snapshot().cooldowns == {}

    rules = {"errorRules": [{"type": "network_error", "kind": "overloaded"}]}
    engine = Engine.from_documents(policy(**rules), auth=ACCOUNTS, state="memory://", clock=lambda: NOW)
    provider = Provider({"anthropic": httpx.ReadTimeout("timed out")})
    reply, _ = run_loop(engine, provider, chain="main")
    assert reply == "answer from anthropic-2"
    assert engine.store.snapshot().cooldowns["anthropic"].reason.startswith("overloaded")


def test_explicit_reports_with_responses(state_url: str, tmp_path: Path) -> None:
    engine = make_engine(state_url)
    request = httpx.Request("POST", "https://provider.test/v1/messages")
    rate_limited = httpx.Response(429, json=RATE_LIMITED, headers={"retry-after": "700"}, request=request)
    reset = int((NOW + timedelta(hours=3)).timestamp())
    ok = httpx.Response(200, json={"ok": True}, request=request, headers={
        "anthropic-ratelimit-unified-5h-utilization": "0.4", "anthropic-ratelimit-unified-5h-reset": str(reset),
        "anthropic-ratelimit-unified-7d-utilization": "0.1", "anthropic-ratelimit-unified-7d-reset": str(reset)})
    seen = []
    with engine.attempts(chain="main") as loop:
        for attempt in loop:
            seen.append(attempt.provider)
            if attempt.provider == "anthropic":
                decision = attempt.fail(rate_limited)
                assert decision.target is not None and decision.target.provider == "anthropic-2"
                assert attempt.error is not None and attempt.error.kind == "rate_limit"
            else:
                attempt.succeed(ok)
    assert seen == ["anthropic", "anthropic-2"]
    assert loop.succeeded is loop.history[-1]
    store = reread(state_url, tmp_path)
    assert store.snapshot().cooldowns["anthropic"].until == NOW + timedelta(seconds=700)
    quota = store.snapshot().quota["anthropic-2"]  # the success's headers went to the quota cache
    assert quota.remaining == 60


def test_a_non_rotating_response_ends_the_loop_with_attempt_rejected(state_url: str) -> None:
    engine = make_engine(state_url)
    request = httpx.Request("POST", "https://provider.test/v1/messages")
    with pytest.raises(AttemptRejected) as raised:
        for attempt in engine.attempts(chain="main"):
            attempt.fail(httpx.Response(400, json=BAD_REQUEST, request=request))
    assert raised.value.error is not None and not raised.value.error.rotate
    assert raised.value.decision.target is not None and raised.value.decision.target.provider == "anthropic"


def test_an_unreported_attempt_is_a_usage_error(state_url: str) -> None:
    engine = make_engine(state_url)
    with pytest.raises(RuntimeError, match="was not reported"):
        for _attempt in engine.attempts(chain="main"):
            pass
    loop = engine.attempts(chain="main")
    attempt = next(loop)
    attempt.succeed()
    with pytest.raises(RuntimeError, match="already succeeded"):
        attempt.fail(status_error(429))
    assert list(loop) == []  # the loop is over after a success


def test_attempts_rejects_unknown_arguments(state_url: str) -> None:
    engine = make_engine(state_url)
    with pytest.raises(TypeError):
        engine.attempts(chain="main", colour="blue")  # type: ignore[call-arg]


def test_async_loop(state_url: str, tmp_path: Path) -> None:
    engine = AsyncEngine(make_engine(state_url))
    failures = {"anthropic": status_error(429, RATE_LIMITED, {"retry-after": "30"}),
                "anthropic-2": status_error(400, {"error": {"message": "Your credit balance is too low"}})}
    calls: list[tuple[str, str | None]] = []

    async def call(provider: str, model: str | None) -> str:
        calls.append((provider, model))
        await asyncio.sleep(0)
        if provider in failures:
            raise failures[provider]
        return f"answer from {provider}"

    async def turn() -> str:
        async with engine.attempts(chain="main") as loop:
            async for attempt in loop:
                async with attempt:
                    reply = await call(attempt.provider, attempt.model)
        assert loop.succeeded is not None
        return reply

    assert asyncio.run(turn()) == "answer from openai-codex"
    assert calls == [("anthropic", CLAUDE_MODEL), ("anthropic-2", CLAUDE_MODEL), ("openai-codex", CODEX_MODEL)]
    cooldowns = reread(state_url, tmp_path).snapshot().cooldowns
    assert cooldowns["anthropic-2"].reason.startswith("quota_exhausted")

    async def bug() -> None:
        async for attempt in engine.attempts(pool="codex", model=CODEX_MODEL):
            async with attempt:
                raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        asyncio.run(bug())
    assert set(reread(state_url, tmp_path).snapshot().cooldowns) == {"anthropic", "anthropic-2"}

    async def exhausted() -> None:
        async for attempt in engine.attempts(pool="codex", model=CODEX_MODEL):
            await attempt.fail(status_error(429, None, {"retry-after": "30"}))

    with pytest.raises(AttemptsExhausted) as raised:
        asyncio.run(exhausted())
    assert len(raised.value.attempts) == 2 and raised.value.retry_after == NOW + timedelta(minutes=5)

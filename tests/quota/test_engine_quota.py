"""The engine and the quota cache: passive capture from headers, background refresh within the budget."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import payloads as P
import pytest
from provider_server import ProviderServer, Reply

from policy_engine.engine import Engine
from policy_engine.providers.auth import AuthFile

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)
CODEX = "/backend-api/wham/usage"
TOKEN_1 = P.codex_jwt(account_id="acct-one")
TOKEN_2 = P.codex_jwt(account_id="acct-two")


def policy(**settings: Any) -> dict[str, Any]:
    return {
        "settings": settings,
        "subscriptions": [{"provider": "openai-codex", "index": 2}],
        "pools": [{"name": "codex", "baseProvider": "openai-codex", "strategy": "quota-first",
                   "members": ["openai-codex", "openai-codex-2"]}],
    }


def strategy_note(decision: Any) -> str:
    return " ".join(s["note"] for s in decision.to_dict()["strategy"])


# -- passive capture --------------------------------------------------------------------------

def test_succeed_headers_update_the_quota_cache() -> None:
    engine = Engine.from_documents(policy(), auth={"openai-codex", "openai-codex-2"}, clock=lambda: NOW)
    decision = engine.select(pool="codex")
    assert decision.target is not None and decision.target.provider == "openai-codex"
    engine.succeed(decision.turn, headers=P.CODEX_200_HEADERS)
    snap = engine.store.snapshot().quota["openai-codex"]
    assert (snap.remaining, snap.source, snap.fetched_at) == (58, "headers", NOW)
    engine.succeed("another-turn", headers=P.CODEX_429_HEADERS, provider="openai-codex-2")
    assert engine.store.snapshot().quota["openai-codex-2"].remaining == 0
    # quota-first now ranks by what the headers said: 58 % before 0 % (blocked, last).
    assert [c.provider for c in engine.select(pool="codex").candidates] == ["openai-codex", "openai-codex-2"]


def test_fail_headers_update_the_cache_and_this_decision() -> None:
    engine = Engine.from_documents(policy(), auth={"openai-codex", "openai-codex-2"}, clock=lambda: NOW)
    first = engine.select(pool="codex")
    failed = engine.fail(first.turn, status=429, headers=P.CODEX_429_HEADERS, body=P.CODEX_429_BODY)
    assert failed.target is not None and failed.target.provider == "openai-codex-2"
    assert engine.store.snapshot().quota["openai-codex"].remaining == 0
    assert engine.store.snapshot().quota["openai-codex"].status == "blocked"


def test_non_rotating_errors_still_capture_quota() -> None:
    engine = Engine.from_documents(policy(), auth={"openai-codex", "openai-codex-2"}, clock=lambda: NOW)
    turn = engine.select(pool="codex").turn
    engine.fail(turn, status=400, message="Context limit reached", headers=P.CODEX_200_HEADERS)
    assert engine.store.snapshot().quota["openai-codex"].remaining == 58


def test_headers_without_quota_or_dry_runs_write_no_quota() -> None:
    engine = Engine.from_documents(policy(), auth={"openai-codex", "openai-codex-2"}, clock=lambda: NOW)
    decision = engine.select(pool="codex")
    engine.succeed(decision.turn, headers={"content-type": "application/json"})
    engine.fail(engine.select(pool="codex").turn, status=429, headers=P.CODEX_429_HEADERS, dry_run=True)
    assert engine.store.snapshot().quota == {}


# -- background refresh -----------------------------------------------------------------------

@pytest.fixture
def codex_accounts(quota_server: ProviderServer, tmp_path: Path) -> AuthFile:
    """Two codex accounts: openai-codex has 58 % left, openai-codex-2 has 80 %."""
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(42, 12)), token=TOKEN_1)
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(20, 10)), token=TOKEN_2)
    path = P.write_auth_json(tmp_path / "auth.json", {
        "openai-codex": P.codex_credential(access=TOKEN_1), "openai-codex-2": P.codex_credential(access=TOKEN_2)})
    return AuthFile(path)


def test_a_decision_refreshes_missing_quota_within_its_budget(quota_server: ProviderServer,
                                                              codex_accounts: AuthFile) -> None:
    engine = Engine.from_documents(policy(quotaBudget="10s"), auth=codex_accounts, env=quota_server.env(),
                                   quota_refresh=True)
    try:
        decision = engine.select(pool="codex")
        assert [c.provider for c in decision.candidates] == ["openai-codex-2", "openai-codex"]
        assert "openai-codex-2 80%, openai-codex 58%" in strategy_note(decision)
        assert len(quota_server.requests_to(CODEX)) == 2
        engine.select(pool="codex")  # fresh now: no new request
        assert len(quota_server.requests_to(CODEX)) == 2
    finally:
        engine.close()


def test_a_slow_endpoint_never_holds_a_decision_longer_than_the_budget(quota_server: ProviderServer,
                                                                       codex_accounts: AuthFile) -> None:
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(42, 12), delay=1.5), token=TOKEN_1)
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(20, 10), delay=1.5), token=TOKEN_2)
    engine = Engine.from_documents(policy(), auth=codex_accounts, env=quota_server.env(), quota_refresh=True)
    try:
        started = time.monotonic()
        decision = engine.select(pool="codex")
        assert time.monotonic() - started < 1.0  # budget 50 ms; the checks take 1.5 s
        note = decision.to_dict()["strategy"][0]
        assert note["fallback"] is True and "no quota data" in note["note"]
        deadline = time.monotonic() + 10
        while len(engine.store.snapshot().quota) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        ranked = engine.select(pool="codex")
        assert [c.provider for c in ranked.candidates] == ["openai-codex-2", "openai-codex"]
        assert len(quota_server.requests_to(CODEX)) == 2  # the second decision did not ask again
    finally:
        engine.close()


def test_stale_snapshots_are_used_said_to_be_stale_and_refreshed(quota_server: ProviderServer,
                                                                  codex_accounts: AuthFile, tmp_path: Path) -> None:
    clock = [datetime.now(UTC)]
    state = str(tmp_path / "state.db")
    engine = Engine.from_documents(policy(quotaTtl="60s", quotaBudget="10s"), auth=codex_accounts, state=state,
                                   env=quota_server.env(), quota_refresh=True, clock=lambda: clock[0])
    try:
        engine.select(pool="codex")
        assert len(quota_server.requests_to(CODEX)) == 2
    finally:
        engine.close()
    # The accounts' usage changes; two minutes later the cache is stale and the endpoint slow.
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(5, 5), delay=1.0), token=TOKEN_1)
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(90, 10), delay=1.0), token=TOKEN_2)
    clock[0] += timedelta(minutes=2)
    engine = Engine.from_documents(policy(quotaTtl="60s"), auth=codex_accounts, env=quota_server.env(),
                                   quota_refresh=True, clock=lambda: clock[0], state=state)
    try:
        stale = engine.select(pool="codex")  # 50 ms budget: decides on the old numbers, and says so
        assert [c.provider for c in stale.candidates] == ["openai-codex-2", "openai-codex"]
        assert "stale data for openai-codex-2, openai-codex" in strategy_note(stale)
        deadline = time.monotonic() + 10
        while engine.store.snapshot().quota["openai-codex"].remaining != 95 and time.monotonic() < deadline:
            time.sleep(0.05)
        fresh = engine.select(pool="codex")
        assert [c.provider for c in fresh.candidates] == ["openai-codex", "openai-codex-2"]
        assert "stale" not in strategy_note(fresh)
        assert len(quota_server.requests_to(CODEX)) == 4
    finally:
        engine.close()


def test_accounts_without_credentials_are_not_checked(quota_server: ProviderServer, tmp_path: Path) -> None:
    path = P.write_auth_json(tmp_path / "auth.json", {"openai-codex": P.codex_credential(access=TOKEN_1)})
    quota_server.reply("GET", CODEX, Reply(json=P.codex_usage(42, 12)), token=TOKEN_1)
    engine = Engine.from_documents(policy(quotaBudget="10s"), auth=AuthFile(path), env=quota_server.env(),
                                   quota_refresh=True)
    try:
        engine.select(pool="codex")
        assert [r.token for r in quota_server.requests_to(CODEX)] == [TOKEN_1]
    finally:
        engine.close()


def test_refresh_quota_checks_now(quota_server: ProviderServer, codex_accounts: AuthFile,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in quota_server.env().items():
        monkeypatch.setenv(key, value)
    engine = Engine.from_documents(policy(), auth=codex_accounts)
    written = engine.refresh_quota()
    assert sorted((s.provider, s.remaining) for s in written) == [("openai-codex", 58), ("openai-codex-2", 80)]
    assert engine.refresh_quota() == []  # fresh: nothing to do
    assert len(engine.refresh_quota(["openai-codex"], stale_only=False)) == 1

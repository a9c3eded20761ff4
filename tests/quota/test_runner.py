"""Which accounts are checked, checking them in parallel, and writing results to the quota cache."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import payloads as P
from provider_server import ProviderServer, Reply

from policy_engine.engine import Engine
from policy_engine.plugins import get_registry
from policy_engine.providers.auth import StaticAuth
from policy_engine.providers.families import read_credential
from policy_engine.quota.runner import QuotaAccount, collect_accounts, run_checks, store_results
from policy_engine.quota.status import failed_snapshot, snapshot_from_windows
from policy_engine.state import MemoryStore, QuotaWindow

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)
CHECKERS = get_registry().quota_checkers


def test_ten_accounts_are_checked_in_parallel(quota_server: ProviderServer) -> None:
    accounts = []
    for i in range(10):
        token = f"sk-ant-oat01-account-{i:02d}"
        quota_server.reply("GET", "/api/oauth/usage", Reply(json=P.ANTHROPIC_USAGE, delay=0.5), token=token)
        accounts.append(QuotaAccount(f"anthropic-{i + 2}", "anthropic", "a",
                                     read_credential(P.anthropic_credential(access=token))))
    seen: list[str] = []
    started = time.monotonic()
    results = run_checks(accounts, CHECKERS, now=NOW, env=quota_server.env(), timeout=5.0, on_result=lambda s:
                         seen.append(s.provider))
    elapsed = time.monotonic() - started
    assert [r.provider for r in results] == [a.name for a in accounts]  # in the order asked
    assert all(r.remaining == 58 for r in results)
    assert sorted(seen) == sorted(a.name for a in accounts)
    assert elapsed < 2.5, f"ten 0.5 s checks took {elapsed:.2f} s: not parallel"  # serially: 5 s


POLICY = {
    "subscriptions": [{"provider": "openai-codex", "index": 2}, {"provider": "anthropic", "index": 2},
                      {"provider": "openai-codex", "index": 3}],
    "pools": [{"name": "codex", "baseProvider": "openai-codex", "strategy": "quota-first",
               "members": ["openai-codex", "openai-codex-2", "openai-codex-3"]}],
}


def test_collect_accounts_follows_pi_multi_pass() -> None:
    engine = Engine.from_documents(POLICY, auth={"openai-codex-2", "anthropic"})
    names = [a.name for a in collect_accounts(engine.graph, engine.auth, CHECKERS)]
    # Base accounts only when logged in; extra subscriptions always (a missing login shows).
    assert names == ["anthropic", "anthropic-2", "openai-codex-2", "openai-codex-3"]
    only = collect_accounts(engine.graph, engine.auth, CHECKERS, ["openai-codex", "anthropic-2"])
    assert [a.name for a in only] == ["anthropic-2", "openai-codex"]  # named: even a base without login


def test_collect_accounts_respects_the_project_allow_list() -> None:
    engine = Engine.from_documents(POLICY, {"allowedSubs": ["openai-codex-3", "anthropic"]},
                                   auth={"openai-codex-2", "anthropic"})
    assert [a.name for a in collect_accounts(engine.graph, engine.auth, CHECKERS)] == ["anthropic", "openai-codex-3"]


def test_collect_accounts_skips_families_without_a_checker() -> None:
    engine = Engine.from_documents(POLICY, auth=StaticAuth(frozenset({"openai-codex"})))
    assert all(a.base in CHECKERS for a in collect_accounts(engine.graph, engine.auth, {"anthropic": CHECKERS[
        "anthropic"]}))


class _Broken:
    base = "anthropic"

    async def check(self, account: str, credential: Any, ctx: Any) -> Any:
        raise ValueError(f"plugin bug with {credential.secret['access']}")


class _WrongType:
    base = "anthropic"

    async def check(self, account: str, credential: Any, ctx: Any) -> Any:
        return {"remaining": 5}


def test_a_checker_bug_becomes_an_error_without_the_token() -> None:
    entry = P.anthropic_credential()
    account = QuotaAccount("anthropic", "anthropic", "a", read_credential(entry))
    [snap] = run_checks([account], {"anthropic": _Broken()}, now=NOW)
    assert snap.status == "error" and snap.summary == "ValueError: plugin bug with ***"
    [snap] = run_checks([account], {"anthropic": _WrongType()}, now=NOW)
    assert snap.status == "error" and "not a QuotaSnapshot" in snap.summary


def _good(name: str, remaining: float, at: datetime) -> Any:
    return snapshot_from_windows(name, [QuotaWindow("5h", remaining, None)], now=at, source="t", summary="ok")


def test_a_failed_check_keeps_the_last_good_value() -> None:
    store = MemoryStore()
    store_results(store, [_good("a", 40, NOW), _good("b", 60, NOW)])
    later = NOW + timedelta(minutes=5)
    written = store_results(store, [failed_snapshot("a", "error", "HTTP 429", now=later, source="t"),
                                    failed_snapshot("b", "missing-auth", "not logged in", now=later, source="t"),
                                    failed_snapshot("c", "error", "HTTP 500", now=later, source="t")])
    quota = store.snapshot().quota
    assert quota["a"].remaining == 40 and quota["a"].fetched_at == NOW  # kept, and now stale
    assert quota["b"].status == "missing-auth"  # a logout does replace it
    assert quota["c"].status == "error"  # nothing better known
    assert [s.provider for s in written] == ["b", "c"]
    assert store_results(store, []) == []

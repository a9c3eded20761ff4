"""Background quota refresh for an embedded engine: fresh numbers without a decision waiting on the network.

When a decision finds that a member of a ``quota-first`` pool has no snapshot, or one older than
``settings.quotaTtl``, :class:`QuotaRefresher` checks those accounts on a background thread and
writes the results to the quota cache. The decision waits at most ``settings.quotaBudget``
(default 50 ms) for that; if the check takes longer it decides with what the cache holds (the
strategy note then says which data was stale or missing) and the next decision sees the new
numbers. An account is asked at most once per ``quotaTtl`` (also when its check fails), and only
when it has a stored credential and a quota checker for its family.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from policy_engine.quota.runner import DEFAULT_TIMEOUT, QuotaAccount, run_checks, store_results
from policy_engine.state import QuotaSnapshot, StateStore

if TYPE_CHECKING:
    from policy_engine.compile.graph import Graph
    from policy_engine.providers.auth import AuthSource
    from policy_engine.quota import QuotaChecker

__all__ = ["QuotaRefresher", "is_fresh", "quota_first_members"]


def is_fresh(snapshot: QuotaSnapshot | None, now: datetime, ttl: timedelta) -> bool:
    """True when ``snapshot`` exists and was fetched within ``ttl`` of ``now``."""
    return snapshot is not None and now - snapshot.fetched_at <= ttl


def quota_first_members(graph: Graph, checkers: Mapping[str, QuotaChecker]) -> tuple[tuple[str, str], ...]:
    """(account, base) of every member of an enabled ``quota-first`` pool whose family has a checker."""
    seen: dict[str, str] = {}
    for pool in graph.pools.values():
        if not pool.enabled or pool.strategy_name != "quota-first":
            continue
        for member in pool.members:
            base = graph.base_of(member)
            if base is not None and base in checkers:
                seen.setdefault(member, base)
    return tuple(seen.items())


class QuotaRefresher:
    """Refreshes stale quota snapshots of the quota-first pools' members on a background thread."""

    def __init__(self, graph: Graph, auth: AuthSource, checkers: Mapping[str, QuotaChecker], store: StateStore,
                 *, env: Mapping[str, str] | None = None, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.graph = graph
        self.auth = auth
        self.checkers = checkers
        self.store = store
        self.env = dict(os.environ if env is None else env)  # endpoint overrides (CHATGPT_BASE_URL, ...)
        self.timeout = timeout
        self.members = quota_first_members(graph, checkers)
        self._tried: dict[str, float] = {}
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None
        self._pid = os.getpid()

    @property
    def ttl(self) -> timedelta:
        """How long a snapshot stays fresh (``settings.quotaTtl``)."""
        return self.graph.settings.quota_ttl

    def stale(self, quota: Mapping[str, QuotaSnapshot], now: datetime) -> list[str]:
        """Logged-in quota-first members whose snapshot is missing or old, not asked within the TTL."""
        ttl = self.ttl
        moment = now.timestamp()
        out = []
        for member, _base in self.members:
            if is_fresh(quota.get(member), now, ttl):
                continue
            if moment - self._tried.get(member, float("-inf")) < ttl.total_seconds():
                continue
            if self.auth.has(member):
                out.append(member)
        return out

    def start(self, names: Sequence[str], now: datetime) -> Future[list[QuotaSnapshot]] | None:
        """Check ``names`` in the background (credentials are read here, in the caller's thread)."""
        bases = dict(self.members)
        reader = getattr(self.auth, "credential", None)
        with self._lock:
            todo = [n for n in names if now.timestamp() - self._tried.get(n, float("-inf"))
                    >= self.ttl.total_seconds()]
            for name in todo:
                self._tried[name] = now.timestamp()
        if not todo:
            return None
        accounts = [QuotaAccount(n, bases[n], self.graph.labels.get(n, n), reader(n) if callable(reader) else None)
                    for n in todo]
        endpoints = self.graph.settings.quota_endpoints
        return self._pool().submit(self._run, accounts, now, endpoints)

    def _run(self, accounts: list[QuotaAccount], now: datetime, endpoints: Mapping[str, Sequence[str]]
             ) -> list[QuotaSnapshot]:
        results = run_checks(accounts, self.checkers, now=now, env=self.env, endpoints=endpoints,
                             timeout=self.timeout)
        return store_results(self.store, results)

    def _pool(self) -> ThreadPoolExecutor:
        if self._executor is None or self._pid != os.getpid():  # threads do not survive a fork
            self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mp-policy-quota")
            self._pid = os.getpid()
        return self._executor

    def refresh(self, quota: Mapping[str, QuotaSnapshot], now: datetime, budget: timedelta) -> bool:
        """Start a refresh of what is stale and wait up to ``budget``; True when new data arrived in time."""
        names = self.stale(quota, now)
        if not names:
            return False
        future = self.start(names, now)
        if future is None:
            return False
        try:
            future.result(timeout=max(budget.total_seconds(), 0.0))
        except FutureTimeout:
            return False
        except Exception:  # a failed background write is retried after the TTL
            return False
        return True

    def close(self) -> None:
        """Stop the background thread (a running check is abandoned)."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

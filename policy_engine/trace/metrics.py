"""Prometheus metrics of a running ``mp-policy serve --metrics HOST:PORT``.

Needs ``prometheus-client`` (mp-policy's extra ``[metrics]``).

Counted as the server decides (labels are policy names and account names, never a credential):

* ``mp_policy_decisions_total{op, route, target, outcome}``: select and fail decisions; ``route`` is
  what the turn asked (``chain:main``, ``pool:claude``, ``provider:anthropic``), ``target`` the
  account chosen (``none`` when the route ran out), ``outcome`` ``target``, ``none`` or ``kept`` (a
  fail that does not rotate);
* ``mp_policy_succeeded_total``: turns that ended well;
* ``mp_policy_failovers_total{kind, account}``: failures that moved a turn on, by classified error kind;
* ``mp_policy_selector_fallbacks_total{pool, strategy}``: a pool's strategy fell back (e.g. a
  selector timed out and round-robin ordered the pool instead);
* ``mp_policy_decision_seconds{op}``: a histogram of the engine's time per decision.

Read from the state store at each scrape: ``mp_policy_accounts_in_cooldown`` and
``mp_policy_quota_remaining_percent{account}``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

__all__ = ["ServeMetrics", "parse_address"]

_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)


def parse_address(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:9464`` for IPv6) as a pair; ``ValueError`` naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:  # 0: any free port
        raise ValueError(f"{text!r} is not HOST:PORT (e.g. 127.0.0.1:9464)")
    return host.strip("[]"), int(port)


def _route(request: Mapping[str, Any]) -> str:
    for kind in ("chain", "preset", "pool", "provider"):
        if request.get(kind):
            return f"{kind}:{request[kind]}"
    return "unknown"


class ServeMetrics:
    """The server's metrics in their own registry; ``state`` returns a store snapshot and the time for a scrape."""

    def __init__(self, state: Callable[[], tuple[Any, datetime]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        self._state = state
        self.decisions = Counter("mp_policy_decisions", "Select and fail decisions.",
                                 ["op", "route", "target", "outcome"], registry=self.registry)
        self.succeeded = Counter("mp_policy_succeeded", "Turns that ended well.", registry=self.registry)
        self.failovers = Counter("mp_policy_failovers", "Failures that moved a turn to another account.",
                                 ["kind", "account"], registry=self.registry)
        self.fallbacks = Counter("mp_policy_selector_fallbacks", "A pool strategy fell back to round-robin.",
                                 ["pool", "strategy"], registry=self.registry)
        self.latency = Histogram("mp_policy_decision_seconds", "Engine time per decision.", ["op"],
                                 buckets=_BUCKETS, registry=self.registry)
        self.registry.register(_StateCollector(state))
        self._http: Any = None

    def observe(self, op: str, request: Mapping[str, Any], decision: Mapping[str, Any], failing: str | None = None
                ) -> None:
        """Count one select or fail from its Decision JSON (``request``: what the turn asked)."""
        target = (decision.get("target") or {}).get("provider") or "none"
        error = decision.get("error") or {}
        outcome = "kept" if error and not error.get("rotate") else ("target" if target != "none" else "none")
        self.decisions.labels(op, _route(request), target, outcome).inc()
        if op == "fail" and error.get("rotate"):
            self.failovers.labels(error.get("kind", "other"), failing or "unknown").inc()
        for note in decision.get("strategy") or ():
            if note.get("fallback"):
                self.fallbacks.labels(note.get("pool", "?"), note.get("name", "?")).inc()
        self.latency.labels(op).observe(float(decision.get("elapsedUs") or 0) / 1e6)

    def start(self, address: tuple[str, int]) -> tuple[str, int]:
        """Serve ``/metrics`` on ``address`` in a background thread; the address actually bound (port 0 picks)."""
        from prometheus_client import start_http_server

        server, _thread = start_http_server(address[1], addr=address[0], registry=self.registry)
        self._http = server
        host, port = server.server_address[:2]
        return str(host), int(port)

    def close(self) -> None:
        """Stop the HTTP endpoint."""
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http = None


class _StateCollector:
    """Gauges read from the state store at scrape time: accounts cooling down, quota remaining per account."""

    def __init__(self, state: Callable[[], tuple[Any, datetime]]) -> None:
        self._state = state

    def describe(self) -> list[Any]:
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        snapshot, now = self._state()
        cooling = GaugeMetricFamily("mp_policy_accounts_in_cooldown", "Accounts cooling down now.")
        cooling.add_metric([], float(len(snapshot.active_cooldowns(now))))
        yield cooling
        quota = GaugeMetricFamily("mp_policy_quota_remaining_percent",
                                  "Quota remaining per account (last snapshot).", labels=["account"])
        for account, snap in sorted(snapshot.quota.items()):
            if snap.remaining is not None:
                quota.add_metric([account], float(snap.remaining))
        yield quota

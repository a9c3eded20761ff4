"""``mp-policy serve --metrics HOST:PORT``: scraped over HTTP and parsed with prometheus_client's own parser."""

from __future__ import annotations

import re
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from policy_engine.state import QuotaSnapshot, SqliteStore, StateChanges
from policy_engine.trace.metrics import parse_address

SERVE_TESTS = Path(__file__).resolve().parents[1] / "serve"
if str(SERVE_TESTS) not in sys.path:
    sys.path.append(str(SERVE_TESTS))
from serve_support import StdioServer, make_agent  # noqa: E402


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    with urllib.request.urlopen(url, timeout=10) as answer:
        text = answer.read().decode()
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append((dict(sample.labels), sample.value))
    return out


def wait_for_address(server: StdioServer) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = re.search(r"metrics on (http://\S+/metrics)", server.stderr)
        if found:
            return found.group(1)
        time.sleep(0.05)
    raise AssertionError(f"serve never said where its metrics are; stderr:\n{server.stderr}")


def test_metrics_are_scraped_over_http_and_parse(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    state = tmp_path / "state.db"
    with SqliteStore(state) as store:
        store.apply(StateChanges(quota=[QuotaSnapshot("anthropic-2", 42.5, datetime.now(UTC))]))
    with StdioServer(agent, state, "--metrics", "127.0.0.1:0") as server:
        url = wait_for_address(server)
        first = server.result("select", chain="main")
        failed = server.result("fail", turn=first["turn"], status=429, headers={"retry-after": "600"})
        assert failed["target"]["provider"] == "anthropic-2"
        server.result("succeed", turn=first["turn"])
        second = server.result("select", chain="main")
        assert second["target"]["provider"] == "anthropic-2"
        metrics = scrape(url)
        assert server.close_input() == 0
    decisions = {(s["op"], s["route"], s["target"], s["outcome"]): v for s, v in metrics["mp_policy_decisions_total"]}
    assert decisions == {("select", "chain:main", "anthropic", "target"): 1.0,
                         ("fail", "chain:main", "anthropic-2", "target"): 1.0,
                         ("select", "chain:main", "anthropic-2", "target"): 1.0}
    assert metrics["mp_policy_failovers_total"] == [({"kind": "rate_limit", "account": "anthropic"}, 1.0)]
    assert metrics["mp_policy_succeeded_total"] == [({}, 1.0)]
    assert metrics["mp_policy_accounts_in_cooldown"] == [({}, 1.0)]
    assert metrics["mp_policy_quota_remaining_percent"] == [({"account": "anthropic-2"}, 42.5)]
    counts = {s["op"]: v for s, v in metrics["mp_policy_decision_seconds_count"]}
    assert counts == {"select": 2.0, "fail": 1.0}


def test_bad_metrics_addresses_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("9464")
    assert parse_address("[::1]:9464") == ("::1", 9464)
    agent = make_agent(tmp_path)
    with StdioServer(agent, tmp_path / "state.db", "--metrics", "localhost") as server:
        assert server.proc.wait(30) == 2
        assert "--metrics" in server.stderr and "HOST:PORT" in server.stderr

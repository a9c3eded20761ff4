"""No runaway work (issue 14, class 8), end to end through ``mp-policy``.

An event script whose repeats multiply into tens of millions of occurrences is refused, with the
total and the cap, before one is expanded: in a child with 1 GiB of address space it answers in
seconds. A per-step listing that would be gigabytes is refused before the simulation runs. A
generated policy of 10,000 pools (with chains and presets that use them) goes through ``validate``,
``explain`` (text, JSON, DOT) and a week of ``simulate``; the bound here only says "does not hang"
(the figures are in ``benchmarks/bench_scale.py``).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import AT, Cli, Run, copy_demo, run_limited
from large_policy import write_large_policy

#: 1 GiB of address space: the CLI needs a tenth of it; expanding the script below would need gigabytes.
AS_LIMIT = 1024 * 1024 * 1024
#: "Does not hang": these commands take seconds; a regression to the old quadratic work took minutes.
TIMEOUT = 120.0


def limited(*args: str | Path, cwd: Path) -> Run:
    """``mp-policy ARGS`` under the address-space limit and a timeout."""
    return run_limited(*args, cwd=cwd, timeout=TIMEOUT, address_space=AS_LIMIT)


def test_an_event_script_of_tens_of_millions_of_occurrences_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    agent = copy_demo(tmp_path / "agent")
    lines = ["events:"] + [f"  - {{at: +{i}s, every: 1s, fail: {{provider: anthropic, status: 429, "
                           f"body: {{error: {{message: {'x' * 200}}}}}}}}}" for i in range(99)]
    lines.append("  - {at: mon 09:00, every: 1d, logout: anthropic-2}")
    (tmp_path / "events.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = limited("simulate", "--agent-dir", agent, "--start", AT, "--events", "events.yaml", cwd=tmp_path)
    assert run.returncode == 1, run.describe()
    assert ("events.yaml:2:22: too-many-events: the event script would apply 59,870,351 events in the simulated "
            "period (Tue 2026-11-24 10:30 to Tue 2026-12-01 10:30); event 0 alone (fail anthropic 429, every 1s) "
            "happens 604,800 times; a simulation applies at most 50,000 (at $.events[0].every)") in run.stderr, \
        run.describe()
    assert "invalid event script: 1 error(s)" in run.stderr
    json_run = limited("simulate", "--agent-dir", agent, "--start", AT, "--events", "events.yaml", "--format", "json",
                       cwd=tmp_path)
    assert json_run.returncode == 1
    (found,) = json.loads(json_run.stdout)["diagnostics"]
    assert (found["code"], found["line"], found["path"]) == ("too-many-events", 2, "$.events[0].every")


def test_a_per_step_listing_of_millions_of_rows_is_a_usage_error(cli: Cli, demo_copy: Path) -> None:
    run = cli("simulate", "--agent-dir", demo_copy, "--start", AT, "--period", "12d", "--step", "1s",
              "--format", "csv", "--per-step", timeout=TIMEOUT)
    assert run.returncode == 2, run.describe()
    assert "listing every step would be 1,036,800 steps x 6 route(s) = 6,220,800 rows (at most 2,000,000)" \
        in run.stderr, run.describe()
    assert run.stdout == ""


@pytest.fixture(scope="module")
def large_agent(tmp_path_factory: pytest.TempPathFactory) -> Path:
    agent = tmp_path_factory.mktemp("large") / "agent"
    write_large_policy(agent)
    return agent


def test_a_10000_pool_policy_goes_through_every_command_without_hanging(cli: Cli, large_agent: Path) -> None:
    calls = [
        (("validate", "--agent-dir", large_agent), {"timeout": TIMEOUT}),
        (("explain", "--agent-dir", large_agent), {"timeout": TIMEOUT}),
        (("explain", "--agent-dir", large_agent, "--format", "json"), {"timeout": TIMEOUT}),
        (("explain", "--agent-dir", large_agent, "--format", "dot"), {"timeout": TIMEOUT}),
        (("simulate", "--agent-dir", large_agent, "--start", "2026-11-23T00:00"), {"timeout": TIMEOUT}),
    ]
    validate, text, as_json, dot, simulate = cli.many(calls)
    for run in (validate, text, as_json, dot, simulate):
        assert run.returncode == 0, run.describe()[:2000]
    assert validate.stdout.endswith(": valid — 0 error(s), 19844 warning(s)\n")  # a member in several pools
    assert "  p9999  (google-gemini-cli) round-robin · cooldown 5m" in text.stdout
    assert len(json.loads(as_json.stdout)["pools"]) == 10_000
    assert dot.stdout.count("subgraph ") == 10_000
    assert simulate.stdout.splitlines()[1].startswith("10200 route(s), 0 event(s), 0 change(s); 10,200 evaluations")
    assert "\npool:p9999  (google-gemini-cli-5 100%)\n" in simulate.stdout

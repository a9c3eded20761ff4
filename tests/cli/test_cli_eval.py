"""End-to-end tests of ``mp-policy eval``: output formats, failures, dry-run guarantees, projects, usage errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from cli_support import (
    AT,
    CORP,
    DEMO,
    STATE_FILE,
    Cli,
    Run,
    file_signature,
    invoke,
    make_cooldown_state,
)

DEMO_ARGS = ("--agent-dir", "policies/demo", "--at", AT)
#: The same for in-process runs, whose current directory is wherever pytest runs.
DEMO_ABS = ("--agent-dir", str(DEMO), "--project", str(DEMO), "--at", AT)
DECISION_KEYS = {"target", "candidates", "skipped", "retryAfter", "strategy", "turn", "at", "policyRevision",
                 "elapsedUs"}


@pytest.fixture(scope="module")
def chain_main(cli: Cli) -> dict[str, Run]:
    """``eval --chain main`` on the demo in text, explained text, JSON and explained JSON (run once)."""
    base = ("eval", *DEMO_ARGS, "--chain", "main")
    variants = {
        "text": (),
        "explain": ("--explain",),
        "json": ("--format", "json"),
        "json-explain": ("--format", "json", "--explain"),
    }
    runs = cli.many([((*base, *extra), {}) for extra in variants.values()])
    return dict(zip(variants, runs, strict=True))


# -- output ----------------------------------------------------------------------------------------


def test_text_output_names_the_target(chain_main: dict[str, Run]) -> None:
    run = chain_main["text"]
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "target: anthropic · claude-sonnet-4-5 (pool claude, chain main#0, via chain)"
    assert run.stderr == ""


def test_explain_shows_route_candidates_skips_and_strategy_notes(chain_main: dict[str, Run]) -> None:
    run = chain_main["explain"]
    assert run.returncode == 0, run.describe()
    out = run.stdout
    assert out.startswith("target: anthropic · claude-sonnet-4-5")
    assert "at 2026-11-24 10:30:00+0100 · turn " in out
    # the route, in order
    for i, pool in enumerate(("claude", "codex", "gemini")):
        assert f"  {i}. [chain main#{i}] pool {pool} (from its cursor)" in out, out
    # strategies with their notes
    assert "strategies:" in out
    assert "  claude: round-robin" in out
    (codex,) = [line for line in out.splitlines() if line.startswith("  codex: scheduled")]
    assert " — " in codex and "openai-codex" in codex.split(" — ", 1)[1], codex  # the strategy's note
    # candidates in order, the first one marked
    candidates = out.split("candidates (in order):\n", 1)[1].split("skipped:", 1)[0].splitlines()
    providers = [line.split("·")[0].strip(" →") for line in candidates if line.strip()]
    assert providers == ["anthropic", "anthropic-2", "openai-codex", "openai-codex-3", "google-gemini-cli"]
    assert candidates[0].startswith("  → anthropic ·")
    # skips with reason and time
    (skip,) = [line for line in out.splitlines() if "✗" in line]
    assert skip.startswith("  ✗ openai-codex-2 [pool codex, chain main#1]: outside-window — "), skip
    assert skip.endswith("; usable again 2026-11-24 17:00:00+0100 (in 6h30m)"), skip


def test_json_is_the_decision(chain_main: dict[str, Run]) -> None:
    run = chain_main["json"]
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert set(data) >= DECISION_KEYS
    assert "trace" not in data
    assert data["target"] == {"provider": "anthropic", "model": "claude-sonnet-4-5", "pool": "claude",
                              "chain": "main", "preset": None, "entry": 0, "via": "chain"}
    assert [c["provider"] for c in data["candidates"]] == [
        "anthropic", "anthropic-2", "openai-codex", "openai-codex-3", "google-gemini-cli"]
    (skip,) = data["skipped"]
    assert isinstance(skip.pop("detail"), str)  # the wording may change; the facts may not
    assert skip == {"provider": "openai-codex-2", "pool": "codex", "chain": "main", "preset": None, "entry": 1,
                    "reason": "outside-window", "until": "2026-11-24T17:00:00+01:00"}
    assert data["retryAfter"] is None
    assert [(s["pool"], s["name"], s["fallback"]) for s in data["strategy"]] == [
        ("claude", "round-robin", False), ("codex", "scheduled", False), ("gemini", "round-robin", False)]
    assert data["at"] == AT
    assert isinstance(data["turn"], str) and data["turn"]
    assert isinstance(data["policyRevision"], str) and data["policyRevision"]
    assert isinstance(data["elapsedUs"], int | float) and data["elapsedUs"] >= 0
    assert run.stderr == ""


def test_json_explain_adds_the_trace(chain_main: dict[str, Run]) -> None:
    data = chain_main["json-explain"].json()
    assert set(data) >= DECISION_KEYS | {"trace"}
    steps = [t["step"] for t in data["trace"]]
    assert steps[0] == "route"
    assert {"strategy", "candidate", "skip"} <= set(steps)
    (skip,) = [t for t in data["trace"] if t["step"] == "skip"]
    assert (skip["provider"], skip["reason"]) == ("openai-codex-2", "outside-window")

    # apart from the trace (and the turn id and timing), the decision is the same as without --explain
    def core(d: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in d.items() if k not in {"trace", "turn", "elapsedUs"}}

    assert core(data) == core(chain_main["json"].json())


def test_two_runs_are_two_turns(chain_main: dict[str, Run]) -> None:
    assert chain_main["json"].json()["turn"] != chain_main["json-explain"].json()["turn"]
    assert chain_main["json"].json()["policyRevision"] == chain_main["json-explain"].json()["policyRevision"]


# -- failures --------------------------------------------------------------------------------------


def test_a_chain_of_failures_in_json(cli: Cli) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--fail", "anthropic:429",
              "--fail", ":429:rate_limit_error: slow down", "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["target"] == {"provider": "openai-codex", "model": "gpt-5", "pool": "codex", "chain": "main",
                              "preset": None, "entry": 1, "via": "chain"}
    assert data["error"]["kind"] == "rate_limit" and data["error"]["rotate"] is True
    assert data["error"]["cooldownUntil"] == "2026-11-24T10:35:00+01:00"
    assert [s["target"]["provider"] for s in data["steps"]] == ["anthropic", "anthropic-2"]
    assert {"provider": "anthropic", "pool": "claude", "chain": "main", "preset": None, "entry": 0,
            "reason": "attempted"} in [{k: v for k, v in s.items() if k not in ("until", "detail")}
                                       for s in data["skipped"]]
    assert data["steps"][0]["turn"] == data["turn"]


def test_a_chain_of_failures_in_text(cli: Cli) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--fail", "anthropic:429", "--fail", ":429:rate_limit_error")
    assert run.returncode == 0, run.describe()
    out = run.stdout
    assert out.index("— select") < out.index("— fail anthropic:429") < out.index("— fail :429:rate_limit_error")
    assert "error: rate_limit (rotates) — HTTP 429" in out
    assert "cooldown until 2026-11-24 10:35:00+0100 (in 5m)" in out
    assert run.last_line == "target: openai-codex · gpt-5 (pool codex, chain main#1, via chain)"


def test_a_quota_message_with_a_retry_time(cli: Cli) -> None:
    message = "You have hit your ChatGPT usage limit (plus plan). Try again in ~42 min."
    run = cli("eval", *DEMO_ARGS, "--provider", "openai-codex", "--model", "gpt-5", "--fail", f":429:{message}",
              "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["error"]["kind"] == "quota_exhausted"
    assert data["error"]["retryAfter"] == "2026-11-24T11:12:00+01:00"
    # openai-codex-2 is outside its window at 10:30, so the overflow account is next.
    assert (data["target"]["provider"], data["target"]["model"], data["target"]["via"]) == (
        "openai-codex-3", "gpt-5", "pool")


def test_a_non_rotating_error_keeps_the_target(cli: Cli) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--fail", ":400", "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["error"]["rotate"] is False and data["error"]["kind"] == "other"
    assert (data["target"]["provider"], data["target"]["model"], data["target"]["via"]) == (
        "anthropic", "claude-sonnet-4-5", "current")


def test_everything_limited_gives_retry_after(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "auth.json").write_text('{"anthropic": {"type": "api_key", "key": "x"}}', encoding="utf-8")
    (tmp_path / "multi-pass.yaml").write_bytes((DEMO / "multi-pass.yaml").read_bytes())
    run = cli("eval", "--agent-dir", tmp_path, "--at", AT, "--provider", "anthropic", "--model", "claude-sonnet-4-5",
              "--fail", ":429:rate_limit_error", "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["target"] is None
    assert data["retryAfter"] == "2026-11-24T10:35:00+01:00"


@pytest.mark.parametrize("start", [("--pool", "claude"), ("--provider", "anthropic")])
def test_two_failures_without_a_model(cli: Cli, start: tuple[str, str]) -> None:
    run = cli("eval", *DEMO_ARGS, *start, "--fail", ":429", "--fail", ":429", "--format", "json")
    assert run.returncode == 0, run.describe()
    data = run.json()
    assert data["target"]["provider"] == "openai-codex"
    assert data["target"]["via"] == "chain" and data["target"]["entry"] == 1


@pytest.mark.parametrize("status", ["400", "429"])
def test_fail_naming_an_unknown_account(cli: Cli, status: str) -> None:
    """An account that does not exist never becomes the target (a usage error, or the target stays)."""
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--fail", f"foo:{status}", "--format", "json")
    if run.returncode == 2:
        assert "foo" in run.stderr and run.stdout == ""
    else:
        assert run.returncode == 0, run.describe()
        assert run.json()["target"]["provider"] == "anthropic", run.describe()


@pytest.mark.parametrize("status", ["4299", "-1"])
def test_fail_with_an_impossible_status_is_a_usage_error(cli: Cli, status: str) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--fail", f"anthropic:{status}")
    assert run.returncode == 2, run.describe()
    assert "--fail" in run.stderr


# -- dry run: reads state, writes nothing -----------------------------------------------------------


def test_eval_never_creates_a_state_file(cli: Cli, agent: Path, tmp_path: Path) -> None:
    explicit = tmp_path / "state" / "s.db"
    runs = cli.many([
        (("eval", "--agent-dir", agent, "--chain", "main", "--state", f"sqlite:///{explicit}",
          "--fail", "anthropic:429"), {}),
        (("eval", "--agent-dir", agent, "--chain", "main", "--fail", "anthropic:429"), {}),
        (("eval", "--chain", "main", "--fail", "anthropic:429", "--format", "json"),
         {"env": {"PI_CODING_AGENT_DIR": str(agent)}}),
    ])
    for run in runs:
        assert run.returncode == 0, run.describe()
    assert not explicit.exists() and not explicit.parent.exists()
    assert not any(p.name.startswith(STATE_FILE) for p in agent.iterdir()), sorted(agent.iterdir())


@pytest.mark.parametrize("how", ["--state", "MP_POLICY_STATE", "default"])
def test_eval_sees_cooldowns_but_leaves_the_state_file_untouched(cli: Cli, agent: Path, tmp_path: Path,
                                                                  how: str) -> None:
    db = agent / STATE_FILE if how == "default" else tmp_path / "s.db"
    make_cooldown_state(db)  # anthropic cooling down until 11:30, cursor claude -> anthropic-2
    before = file_signature(db)
    args: tuple[Any, ...] = ("eval", "--agent-dir", agent, "--chain", "main", "--at", "2026-11-24T10:40:00+01:00",
                             "--fail", ":429:rate_limit_error", "--format", "json")
    env = {}
    if how == "--state":
        args += ("--state", f"sqlite:///{db}")
    elif how == "MP_POLICY_STATE":
        env["MP_POLICY_STATE"] = f"sqlite:///{db}"
    run = cli(*args, env=env)
    assert run.returncode == 0, run.describe()
    data = run.json()
    first = data["steps"][0]
    assert first["target"]["provider"] == "anthropic-2", run.describe()  # the cursor, anthropic cools down
    (skip,) = [s for s in first["skipped"] if s["provider"] == "anthropic"]
    assert skip["reason"] == "cooldown" and skip["until"] == "2026-11-24T11:30:00+01:00"
    assert data["target"]["provider"] == "openai-codex"  # the dry-run failure moved on...
    assert file_signature(db) == before  # ...but nothing was written: same bytes, mtime, no -wal/-journal


def test_without_state_the_same_eval_starts_on_anthropic(cli: Cli, agent: Path) -> None:
    run = cli("eval", "--agent-dir", agent, "--chain", "main", "--at", "2026-11-24T10:40:00+01:00",
              "--state", "memory://", "--format", "json")
    assert run.json()["target"]["provider"] == "anthropic"


# -- projects and the environment -----------------------------------------------------------------


def test_the_project_overlay_is_found_from_the_current_directory(cli: Cli) -> None:
    work, main = cli.many([
        (("eval", "--agent-dir", DEMO, "--at", AT, "--chain", "work"), {"cwd": CORP}),
        (("eval", "--at", AT, "--provider", "anthropic", "--model", "claude-sonnet-4-5", "--format", "json"),
         {"cwd": CORP / ".pi", "env": {"PI_CODING_AGENT_DIR": str(DEMO)}}),
    ])
    assert work.returncode == 0, work.describe()
    assert work.stdout.strip() == "target: openai-codex-2 · gpt-5 (pool work-codex, chain work#0, via chain)"
    assert main.returncode == 0, main.describe()
    data = main.json()
    assert (data["target"]["provider"], data["target"]["pool"]) == ("anthropic-2", "work-claude")
    assert {"provider": "anthropic", "reason": "not-allowed"}.items() <= data["skipped"][0].items()


def test_the_global_chain_is_replaced_inside_the_project(cli: Cli) -> None:
    run = cli("eval", "--agent-dir", DEMO, "--chain", "main", cwd=CORP)
    assert run.returncode == 2, run.describe()
    assert "no chain named 'main'" in run.stderr and "work" in run.stderr


def test_multi_sub_adds_accounts(cli: Cli) -> None:
    without, with_env = cli.many([
        (("eval", *DEMO_ARGS, "--provider", "anthropic-3", "--format", "json"), {}),
        (("eval", *DEMO_ARGS, "--provider", "anthropic-3", "--format", "json"), {"env": {"MULTI_SUB": "anthropic:2"}}),
    ])
    assert without.returncode == 2 and "error: there is no account named 'anthropic-3'" in without.stderr
    assert with_env.json()["skipped"][0]["reason"] == "no-auth"


# -- usage errors and invalid policies -------------------------------------------------------------


@pytest.mark.parametrize("starts", [(), ("--chain", "main", "--pool", "claude"),
                                    ("--provider", "anthropic", "--preset", "coding-premium")])
def test_exactly_one_start_is_required(starts: tuple[str, ...]) -> None:
    run = invoke("eval", *DEMO_ABS, *starts)
    assert run.returncode == 2, run.describe()
    assert "exactly one of --provider, --pool, --chain or --preset" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize(("option", "typo", "right"), [("--pool", "cluade", "claude"),
                                                       ("--chain", "mian", "main"),
                                                       ("--preset", "coding-premum", "coding-premium")])
def test_unknown_names_are_usage_errors_with_did_you_mean(option: str, typo: str, right: str) -> None:
    run = invoke("eval", *DEMO_ABS, option, typo, "--format", "json", "--state", "memory://")
    assert run.returncode == 2, run.describe()
    assert f"did you mean '{right}'?" in run.stderr
    assert run.stdout == ""


@pytest.mark.parametrize("at", ["yesterday", "1700000000", "2026-11-24T10:30:00+25:00"])
def test_a_bad_at_is_a_usage_error(at: str) -> None:
    run = invoke("eval", "--agent-dir", DEMO, "--chain", "main", "--at", at)
    assert run.returncode == 2, run.describe()
    assert "--at" in run.stderr and "ISO-8601" in run.stderr


def test_an_extreme_at_is_not_an_internal_error(cli: Cli) -> None:
    run = cli("eval", "--agent-dir", "policies/demo", "--chain", "main", "--at", "9999-12-31T23:59:59+00:00")
    assert run.returncode in (0, 2), run.describe()
    assert "internal error" not in run.stderr


def test_a_bad_fail_status_is_a_usage_error() -> None:
    run = invoke("eval", *DEMO_ABS, "--chain", "main", "--fail", "anthropic:abc")
    assert run.returncode == 2, run.describe()
    assert "--fail" in run.stderr and "STATUS must be an HTTP status code" in run.stderr


def test_an_invalid_policy_exits_1_with_diagnostics_on_stderr(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("setings: {}\npools:\n  - {name: p, baseProvider: anthropic, members: [anthropic]}\n",
                   encoding="utf-8")
    text, js = cli.many([
        (("eval", "--policy", bad, "--agent-dir", tmp_path, "--pool", "p"), {}),
        (("eval", "--policy", bad, "--agent-dir", tmp_path, "--pool", "p", "--format", "json"), {}),
    ])
    assert text.returncode == 1, text.describe()
    assert text.stdout == ""
    assert f"{bad}:1:1: unknown-key: unknown key 'setings'" in text.stderr
    assert "did you mean 'settings'?" in text.stderr
    assert "invalid policy: 1 error(s)" in text.stderr
    assert js.returncode == 1, js.describe()
    data = js.json()
    assert data["valid"] is False and data["diagnostics"][0]["code"] == "unknown-key"


def test_a_missing_policy_file_exits_1(cli: Cli, tmp_path: Path) -> None:
    run = cli("eval", "--policy", tmp_path / "nope.yaml", "--agent-dir", tmp_path, "--chain", "main")
    assert run.returncode == 1, run.describe()
    assert "file-not-found" in run.stderr


@pytest.mark.parametrize(("option", "value"), [("--policy", DEMO), ("--agent-dir", DEMO / "auth.json")])
def test_wrong_path_types_are_usage_errors(option: str, value: Path) -> None:
    run = invoke("eval", "--chain", "main", option, value)
    assert run.returncode == 2, run.describe()


def test_eval_with_a_project_that_does_not_exist(cli: Cli, tmp_path: Path) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--project", tmp_path / "no-such-project")
    assert run.returncode == 2, run.describe()
    assert "no-such-project" in run.stderr


def test_eval_without_any_policy_says_so(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    run = cli("eval", "--agent-dir", tmp_path / "empty", "--chain", "main", cwd=tmp_path)
    assert run.returncode in (1, 2), run.describe()
    assert "no policy" in run.stderr.lower() and str(tmp_path / "empty") in run.stderr, run.describe()


def test_eval_with_a_provider_typo_hints(cli: Cli) -> None:
    run = cli("eval", *DEMO_ARGS, "--provider", "antropic")
    assert run.returncode in (0, 2), run.describe()
    assert "did you mean 'anthropic'" in run.output, run.describe()


@pytest.mark.parametrize("url", ["bogus", "mongodb://localhost:1/0"])
def test_an_unusable_state_url_is_a_usage_error(cli: Cli, url: str) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--state", url)
    assert run.returncode == 2, run.describe()
    assert "state" in run.stderr


def test_an_unreachable_redis_is_a_clear_error_without_a_traceback(cli: Cli) -> None:
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--state", "redis://:pw-s3cret@127.0.0.1:1/0")
    assert run.returncode == 1, run.describe()
    assert "cannot connect to the Redis state store redis://:***@127.0.0.1:1/0" in run.stderr
    assert "hint:" in run.stderr and "stateFallback" in run.stderr
    assert "pw-s3cret" not in run.output and "Traceback" not in run.output


def test_a_corrupt_state_file_fails_cleanly(cli: Cli, tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    db.write_text("not a database at all", encoding="utf-8")
    run = cli("eval", *DEMO_ARGS, "--chain", "main", "--state", f"sqlite:///{db}")
    assert run.returncode == 1, run.describe()
    assert "corrupt or not a database" in run.stderr and "hint:" in run.stderr
    assert db.read_text(encoding="utf-8") == "not a database at all"


def test_an_agent_dir_that_does_not_exist_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    run = cli("eval", "--agent-dir", tmp_path / "typo", "--chain", "main", cwd=tmp_path)
    assert run.returncode == 2, run.describe()
    assert "does not exist" in run.stderr


def test_a_naive_at_is_read_in_the_policy_time_zone(cli: Cli) -> None:
    run = cli("eval", "--agent-dir", DEMO, "--chain", "main", "--at", "2026-11-24T10:30:00", "--format", "json",
              env={"TZ": "America/New_York"})
    assert run.returncode == 0, run.describe()
    assert run.json()["at"] == "2026-11-24T10:30:00+01:00"


def test_a_fail_without_a_status_is_a_usage_error(cli: Cli) -> None:
    run = cli("eval", "--agent-dir", DEMO, "--chain", "main", "--fail", "anthropic")
    assert run.returncode == 2, run.describe()
    assert "STATUS" in run.stderr

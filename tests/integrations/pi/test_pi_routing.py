"""The extension in the real pi agent, against the real ``mp-policy serve`` as installed by default (one
engine kept running on a socket between runs): failover, memory across runs, re-sent prompts, exhaustion,
passive quota capture, the project allow-list, ``/mp``.

Each test asserts what the fake Anthropic API received, in order (which account was asked, with which
prompt), and every run is checked for leaked credentials (:meth:`PiWorld.assert_no_secrets`).
"""

from __future__ import annotations

import json
import re
from datetime import datetime

from anthropic_server import ok, out_of_extra_usage, rate_limited
from pi_agent import MODEL, PiWorld


def _turn_ended(event: dict) -> bool:
    """An agent_end whose last message is a final answer (not an error pi is about to retry)."""
    if event.get("type") != "agent_end":
        return False
    last = event["messages"][-1]
    return last.get("stopReason") != "error"


def _text(event: dict) -> str:
    last = event["messages"][-1]
    return "".join(part.get("text", "") for part in last.get("content", []) if part.get("type") == "text")


def test_a_429_moves_the_turn_to_account_two_within_one_run(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "answer from anthropic-2"
    assert world.server.accounts() == ["anthropic", "anthropic-2"]
    assert [r.prompt for r in world.server.messages()] == ["say hi", "say hi"]
    assert [r.model for r in world.server.messages()] == [MODEL, MODEL]
    notices = run.notices()
    assert len(notices) == 1, run.describe()
    assert re.fullmatch(r"mp-policy: 429 rate_limit on anthropic; switching to anthropic-2/claude-sonnet-4-5 "
                        r"\(pool claude\)\.", notices[0]), notices


def test_the_next_run_starts_on_account_two_while_account_one_cools_down(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    first = world.print("first")
    assert first.returncode == 0, first.describe()
    cooldown = world.state()["cooldowns"]["anthropic"]
    assert cooldown["source"] == "header retry-after"
    assert 590 <= (datetime.fromisoformat(cooldown["until"]) - datetime.fromisoformat(cooldown["since"])
                   ).total_seconds() <= 610

    second = world.print("second")  # pi is started on account one again (--provider anthropic)
    assert second.returncode == 0, second.describe()
    assert second.stdout.strip() == "answer from anthropic-2"
    assert world.server.accounts() == ["anthropic", "anthropic-2", "anthropic-2"]
    assert [r.prompt for r in world.server.messages()] == ["first", "first", "second"]
    assert second.notices() == [], "a quiet switch: the engine chose before the request went out"


def test_a_400_out_of_extra_usage_is_re_sent_on_account_two_in_rpc_mode(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], out_of_extra_usage())
    with world.rpc() as pi:
        pi.prompt("write a haiku")
        end = pi.wait_for(_turn_ended)
        assert _text(end) == "answer from anthropic-2", pi.transcript()
        notices = pi.notices()
    assert world.server.accounts() == ["anthropic", "anthropic-2"], "re-sent once, not twice"
    assert [r.prompt for r in world.server.messages()] == ["write a haiku", "write a haiku"]
    assert [r.status for r in world.server.messages()] == [400, 200]
    assert any("400 quota_exhausted on anthropic; switching to anthropic-2/claude-sonnet-4-5" in n for n in notices), \
        notices


def test_a_400_in_print_mode_ends_the_run_and_the_next_one_starts_on_account_two(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], out_of_extra_usage())
    first = world.print("first")
    assert first.returncode == 1, first.describe()  # as pi without the extension: -p cannot re-send
    assert "out of extra usage" in first.stderr
    assert any("the next prompt starts on anthropic-2/claude-sonnet-4-5" in n for n in first.notices()), \
        first.describe()
    second = world.print("second")
    assert second.returncode == 0, second.describe()
    assert world.server.accounts() == ["anthropic", "anthropic-2"]


def test_every_account_used_up_ends_with_the_engines_retry_time(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    world.server.script(world.tokens["anthropic-2"], rate_limited(retry_after=1800))
    run = world.print("say hi")
    assert run.returncode == 1, run.describe()
    assert run.stdout == ""
    # Two requests, then nothing: pi's own retries on the used-up account were called off.
    assert world.server.accounts() == ["anthropic", "anthropic-2"]
    state = world.state()
    first_free = min(datetime.fromisoformat(c["until"]) for c in state["cooldowns"].values())
    clock = first_free.astimezone().strftime("%H:%M")
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("mp-policy: every account on this route is used up (the last was anthropic-2); "
                           f"the next account frees up at {clock} (in "), run.describe()


def test_the_success_responses_quota_headers_reach_the_state(world: PiWorld) -> None:
    headers = {
        "anthropic-ratelimit-unified-5h-utilization": "0.42",
        "anthropic-ratelimit-unified-5h-reset": "4102444800",
        "anthropic-ratelimit-unified-7d-utilization": "0.1",
        "anthropic-ratelimit-unified-7d-reset": "4102444800",
        "anthropic-ratelimit-unified-status": "allowed",
    }
    world.server.script(world.tokens["anthropic"], ok(headers=headers))
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    quota = world.state()["quota"]["anthropic"]
    assert quota["source"] == "headers"
    assert round(quota["remaining"]) == 58
    assert "5h 58%" in quota["summary"]
    show = world.mp_policy("state", "show")
    assert "anthropic" in show.stdout and "58" in show.stdout, show.stdout


def test_a_project_allow_list_keeps_pi_on_the_allowed_account(world: PiWorld) -> None:
    project = world.project / "corp"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text("allowedSubs: [anthropic-2]\n")
    run = world.print("say hi", cwd=project)  # pi starts on account one (--provider anthropic)
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "answer from anthropic-2"
    assert world.server.accounts() == ["anthropic-2"]
    world.server.script(world.tokens["anthropic-2"], rate_limited(retry_after=60))
    limited = world.print("again", cwd=project)
    # Account two is alone on this project's route: pi's own retry, on account two; never account one.
    assert limited.returncode == 0, limited.describe()
    assert world.server.accounts() == ["anthropic-2", "anthropic-2", "anthropic-2"]
    assert any("every account on the route is used up" in n for n in limited.notices()), limited.describe()
    outside = world.print("elsewhere")  # outside the project, account one serves again
    assert outside.returncode == 0, outside.describe()
    assert world.server.accounts()[-1] == "anthropic"


def test_a_provider_the_policy_does_not_know_is_left_to_pi(world: PiWorld) -> None:
    (world.agent / "multi-pass.yaml").write_text("settings: {cooldown: 5m}\n")  # no extra accounts, no pools
    world.server.script(world.tokens["anthropic-2"], rate_limited(retry_after=600))
    run = world.print("say hi", extra=("--provider", "anthropic-2"))
    # anthropic-2 is no account of this policy: pi's own retry, no notice, no turn in the state.
    assert run.returncode == 0, run.describe()
    assert world.server.accounts() == ["anthropic-2", "anthropic-2"]
    assert run.notices() == [], run.describe()
    assert world.state()["cooldowns"] == {}


def test_choosing_a_model_the_project_does_not_allow_switches_back(world: PiWorld) -> None:
    project = world.project / "corp"
    (project / ".pi").mkdir(parents=True)
    (project / ".pi" / "multi-pass.yaml").write_text("allowedSubs: [anthropic-2]\n")
    with world.rpc(cwd=project) as pi:
        pi.prompt("hello")
        pi.wait_for(_turn_ended)
        start = len(pi.events)
        pi.send({"type": "set_model", "provider": "anthropic", "modelId": MODEL})
        notice = pi.wait_for(lambda e: e.get("method") == "notify" and "does not allow" in e.get("message", ""),
                             start=start)
        assert notice["message"] == ("mp-policy: this project does not allow anthropic; switching to "
                                     "anthropic-2/claude-sonnet-4-5.")
        pi.send({"type": "get_state"})
        state = pi.wait_for(lambda e: e.get("command") == "get_state", start=start)
        assert state["data"]["model"]["provider"] == "anthropic-2"
        end_count = len(pi.events)
        pi.prompt("and now")
        pi.wait_for(_turn_ended, start=end_count)
    assert world.server.accounts() == ["anthropic-2", "anthropic-2"]


def test_mp_shows_status_and_mp_why_the_last_turns_cascade(world: PiWorld) -> None:
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    with world.rpc() as pi:
        pi.prompt("say hi")
        pi.wait_for(_turn_ended)
        start = len(pi.events)
        pi.prompt("/mp why")
        why = pi.wait_for(lambda e: e.get("method") == "notify" and "turn" in e.get("message", ""), start=start)
        start = len(pi.events)
        pi.prompt("/mp")
        status = pi.wait_for(lambda e: e.get("method") == "notify" and "engine:" in e.get("message", ""), start=start)
    lines = why["message"].splitlines()
    assert re.match(r"mp-policy: turn \S+ \(“say hi”\), from the engine's record", lines[0]), lines
    assert "  select provider anthropic (claude-sonnet-4-5) -> anthropic/claude-sonnet-4-5" in lines
    assert any(line.startswith("  fail 429 rate_limit on anthropic (") and
               line.endswith("-> anthropic-2/claude-sonnet-4-5") for line in lines), lines
    assert any(line.startswith("    the error asked to wait until ") for line in lines), lines
    assert lines[-1] == "  succeed on anthropic-2"
    text = status["message"]
    assert "routing the current model's provider" not in text  # the route is described with the model
    assert "routing provider anthropic-2 (claude-sonnet-4-5)" in text, text
    assert f"engine: connected to {world.socket()} (a server this pi started)" in text, text
    assert re.search(r"  anthropic · cooling down until \S+", text), text
    assert re.search(r"  anthropic-2 · “second”", text), text


def test_mp_in_print_mode_prints_to_stderr(world: PiWorld) -> None:
    run = world.print("/mp")
    assert run.returncode == 0, run.describe()
    assert run.stdout == "", "stdout is pi's (the answer, or the JSON event stream)"
    assert run.stderr.startswith("mp-policy: routing provider anthropic (claude-sonnet-4-5)\n"), run.describe()
    assert "\n  anthropic-2 · “second”\n" in run.stderr
    assert world.server.accounts() == [], "a command is not a prompt"


def test_the_route_can_be_a_chain_named_in_the_environment(world: PiWorld) -> None:
    policy = (world.agent / "multi-pass.yaml").read_text() + (
        "chains:\n  - name: main\n    entries:\n      - {pool: claude, model: claude-haiku-4-5}\n")
    (world.agent / "multi-pass.yaml").write_text(policy)
    world.env_extra["MP_POLICY_ROUTE"] = "chain:main"
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    assert [(r.account, r.model) for r in world.server.messages()] == [("anthropic", "claude-haiku-4-5")]


def test_pi_multi_pass_loaded_too_means_no_routing(world: PiWorld) -> None:
    # A stand-in with pi-multi-pass's commands, at the path its npm package has.
    stub = world.root / "node_modules" / "pi-multi-pass"
    (stub / "extensions").mkdir(parents=True)
    (stub / "package.json").write_text(json.dumps({"name": "pi-multi-pass", "pi": {"extensions": ["./extensions"]}}))
    (stub / "extensions" / "multi-sub.ts").write_text(
        "export default function (pi: any) {\n"
        "  for (const name of ['subs', 'pool', 'mp-preset']) pi.registerCommand(name, { handler: async () => {} });\n"
        "}\n")
    settings = json.loads((world.agent / "settings.json").read_text())
    settings["packages"].append(str(stub))
    (world.agent / "settings.json").write_text(json.dumps(settings, indent=2))
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    assert world.server.accounts() == ["anthropic", "anthropic"], "pi's own retry, on the same account"
    notices = run.notices()
    assert len(notices) == 1 and "pi-multi-pass is loaded too" in notices[0], run.describe()
    assert not (world.agent / "mp-policy-engine.log").exists(), "the engine was never started"

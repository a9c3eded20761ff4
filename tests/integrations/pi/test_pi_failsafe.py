"""Fail-safe: with the engine missing, crashing on its first request, hanging, answering garbage or exiting
at once, the real pi answers and exits as it would without the extension (its own retry on the same
account), within the extension's timeout plus pi's own time, with one notice; both with the kept engine
(the default: a socket server started by pi) and with an engine per session (``--per-session``). The
timeout is 1.5 s for an answer, 5 s for the first answer of an engine just started (it loads Python and
the policy first); a kept server that exits before listening is noticed at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from anthropic_server import rate_limited
from pi_agent import PiWorld

BROKEN = Path(__file__).with_name("broken_engine.py")
#: The extension's timeout for a starting engine's first answer, and generous room for a busy 2-core machine:
#: the bound says "does not hang" (pi's own request timeout is 120 s), not how fast.
START_TIMEOUT = 5.0
SLACK = 30.0
#: What the extension says when it gave up waiting for an answer.
TIMED_OUT = "did not answer"


def _baseline(world: PiWorld) -> float:
    """The same 429-then-retry run without any extension: how long pi alone takes."""
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    run = world.print("say hi", extra=("--no-extensions",))
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "answer from anthropic"
    return run.seconds


def _engine(world: PiWorld, engine: str) -> None:
    """Install the extension with the kept engine (the default) or an engine per session."""
    run = world.mp_policy("pi", "install", *(["--per-session"] if engine == "per-session" else []))
    assert run.returncode == 0, run.stderr
    assert (world.socket() is None) == (engine == "per-session")


ENGINES = ["kept", "per-session"]


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("mode", ["missing", "crash", "hang", "garbage", "exit"])
def test_pi_answers_and_exits_as_without_the_extension(world: PiWorld, tmp_path: Path, mode: str,
                                                       engine: str) -> None:
    _engine(world, engine)
    alone = _baseline(world)
    requests = tmp_path / "requests.log"
    if mode == "missing":
        world.env_extra["MP_POLICY_CMD"] = str(tmp_path / "no-such-dir" / "mp-policy")
    else:
        world.env_extra["MP_POLICY_CMD"] = f"{sys.executable} {BROKEN} {mode}"
        world.env_extra["BROKEN_ENGINE_LOG"] = str(requests)
    world.server.script(world.tokens["anthropic"], rate_limited(retry_after=600))
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "answer from anthropic"
    # pi's own retry on the same account, as without the extension: no routing happened.
    assert world.server.accounts() == ["anthropic", "anthropic", "anthropic", "anthropic"]
    assert run.seconds <= alone + START_TIMEOUT + SLACK, f"{run.seconds:.1f}s against {alone:.1f}s alone"
    notices = run.notices()
    assert len(notices) == 1, run.describe()
    assert notices[0].startswith("mp-policy: the engine is unavailable (")
    assert notices[0].endswith("); pi goes on without routing.")
    if mode in ("crash", "hang", "garbage"):
        ops = [json.loads(line)["op"] for line in requests.read_text().splitlines()]
        assert ops == ["hello"], "the extension asked the broken engine once, then left it alone"
    if mode in ("missing", "exit"):
        # Nothing to wait for (no program, or an engine gone before it answers): the fault is noticed when it
        # happens, not when the 5 s start allowance runs out (the notice names the first fault).
        assert TIMED_OUT not in notices[0], notices
    if mode == "missing":
        assert "was not found" in notices[0], notices
    if mode == "exit":
        gone = "the socket server exited with code 4 before listening" if engine == "kept" else "it exited with code 4"
        assert gone in notices[0], notices


@pytest.mark.parametrize("engine", ENGINES)
def test_a_hanging_engine_costs_one_timeout_not_one_per_request(world: PiWorld, tmp_path: Path, engine: str) -> None:
    _engine(world, engine)
    world.env_extra["MP_POLICY_CMD"] = f"{sys.executable} {BROKEN} hang"
    world.env_extra["BROKEN_ENGINE_LOG"] = str(tmp_path / "requests.log")
    run = world.print("say hi")
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == "answer from anthropic"
    ops = [json.loads(line)["op"] for line in (tmp_path / "requests.log").read_text().splitlines()]
    assert ops == ["hello"], "after the timeout the engine is left alone (back-off), not asked again"


@pytest.mark.parametrize("engine", ENGINES)
def test_an_rpc_session_goes_on_when_the_engine_crashes(world: PiWorld, engine: str) -> None:
    _engine(world, engine)
    world.env_extra["MP_POLICY_CMD"] = f"{sys.executable} {BROKEN} crash"
    with world.rpc() as pi:
        for prompt in ("one", "two"):
            start = len(pi.events)
            pi.prompt(prompt)
            end = pi.wait_for(lambda e: e.get("type") == "agent_end", start=start)
            assert end["messages"][-1]["stopReason"] == "stop", pi.transcript()
        notices = pi.notices()
    assert len(notices) == 1 and notices[0].startswith("mp-policy: the engine is unavailable ("), notices
    assert world.server.accounts() == ["anthropic", "anthropic"]

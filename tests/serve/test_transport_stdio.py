"""``mp-policy serve --stdio`` as a real subprocess: sessions, bad input, reload, signals, end of input."""

from __future__ import annotations

import contextlib
import json
import os
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest
from serve_support import (
    ACCOUNTS,
    POLICY,
    RELOAD_WAIT,
    StdioServer,
    clean_env,
    make_agent,
    make_project,
    rewrite,
    serve_argv,
    write_auth,
)

SPIN_POLICY = """\
settings: {selectorTimeout: 3s}
subscriptions:
  - {provider: anthropic, index: 2}
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2]
    strategy: custom
    selectorScript: selectors/spin.py
"""
SPIN_SCRIPT = "def select(ctx):\n    n = 0\n    while True:\n        n += 1\n    return None\n"


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    return make_agent(tmp_path)


def test_a_session_selects_fails_along_the_turn_succeeds_and_explains(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        hello = server.result("hello", protocol=1, agent="test", session="s1")
        assert hello["protocol"] == 1 and hello["warnings"] == []
        assert {a["provider"]: a["loggedIn"] for a in hello["accounts"]} == dict.fromkeys(ACCOUNTS, True)
        assert {a["provider"]: a["base"] for a in hello["accounts"]}["anthropic-3"] == "anthropic"
        first = server.result("select", chain="main")
        turn = first["turn"]
        assert first["target"]["provider"] == "anthropic" and first["target"]["model"] == "claude-sonnet-4-5"
        second = server.result("fail", turn=turn, status=429, message="rate_limit_error",
                               headers={"retry-after": "120"})
        assert second["turn"] == turn and second["target"]["provider"] == "anthropic-2"
        assert second["error"]["kind"] == "rate_limit" and second["error"]["rotate"] is True
        third = server.result("fail", turn=turn, status=529, body={"type": "error",
                                                                   "error": {"type": "overloaded_error"}})
        assert third["target"]["provider"] == "anthropic-3" and third["error"]["kind"] == "overloaded"
        status = server.result("status")
        assert status["turn"]["turn"] == turn and status["turn"]["attempted"] == ["anthropic", "anthropic-2"]
        cooling = {a["provider"] for a in status["accounts"] if a["cooldown"]}
        assert cooling == {"anthropic", "anthropic-2"}
        assert server.result("succeed", turn=turn) == {"turn": turn}
        explained = server.result("explain", turn=turn)
        assert explained["source"] == "trace" and [s["op"] for s in explained["steps"]] == \
            ["select", "fail", "fail", "succeed"]
        assert [s["failing"] for s in explained["steps"] if s["op"] == "fail"] == ["anthropic", "anthropic-2"]
        assert server.close_input() == 0
        assert "Traceback" not in server.stderr


def test_bad_input_is_answered_and_never_ends_the_server(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        cases: list[tuple[bytes, object, str, str]] = [
            (b"this is not json\n", None, "bad-request", "not JSON"),
            (b"[1, 2, 3]\n", None, "bad-request", "not an array"),
            (b'{"op": "hello", "protocol": 1}\n', None, "bad-request", "has no id"),
            (b'{"id": {"x": 1}, "op": "hello"}\n', None, "bad-request", "an object as its id"),
            (b'{"id": 11, "op": "teleport"}\n', 11, "unknown-op", "unknown op 'teleport'"),
            (b'{"id": 12, "op": "select", "pool": 3}\n', 12, "bad-request", "'pool' must be a string"),
            (b'{"id": 13, "op": "select", "pool": "claude", "chain": "main"}\n', 13, "bad-request",
             "exactly one of provider, pool, chain or preset"),
            (b'{"id": 14, "op": "fail", "turn": "t", "status": "429"}\n', 14, "bad-request",
             "'status' must be an integer"),
            (b'{"id": 15, "op": "fail", "turn": "t", "headers": {"retry-after": [1]}}\n', 15, "bad-request",
             "header 'retry-after'"),
            (b'{"id": 16, "op": "fail", "turn": "no-such-turn"}\n', 16, "bad-route", "unknown or expired"),
            (b'{"id": 17, "op": "select", "pool": "claud"}\n', 17, "not-found", "did you mean 'claude'"),
            (b'{"id": 22, "op": "select", "pool": ""}\n', 22, "bad-request", "select: 'pool' is empty"),
            (b'{"id": 23, "op": "fail", "provider": "anthropic", "model": "\\ud800"}\n', 23, "bad-request",
             "'model' holds a lone surrogate"),
            (b'{"id": 18, "op": "explain", "turn": "nothing"}\n', 18, "not-found", "no turn 'nothing'"),
            (b'{"id": "\xc3\x28", "op": "hello"}\n', None, "bad-request", "not UTF-8"),
            (b'{"id": 19, "op": "hello", "protocol": 2}\n', 19, "unsupported-protocol", "protocol 1, not 2"),
            (b'{"id": 20, "op": "hello"}\n', 20, "bad-request", "'protocol' is required"),
            (b'{"id": 21, "op": "succeed"}\n', 21, "bad-request", "'turn' is required"),
        ]
        for line, ident, code, words in cases:
            server.send_raw(line)
            answer = server.recv()
            assert answer["ok"] is False and answer["id"] == ident, (line, answer)
            assert answer["error"]["code"] == code and words in answer["error"]["message"], (line, answer)
            assert answer["error"]["hint"], answer
        # 2 MiB in one line (sent in pieces), then a good request: the long one is refused, the next answered
        server.send_raw(b'{"id": 30, "op": "select", "prompt": "')
        for _ in range(32):
            server.send_raw(b"x" * (64 * 1024))
        server.send_raw(b'"}\n{"id": 31, "op": "select", "pool": "claude"}\n')
        too_long = server.recv()
        assert too_long["id"] is None and too_long["error"]["code"] == "bad-request"
        assert "1 MiB" in too_long["error"]["message"]
        assert server.recv()["result"]["target"]["provider"] == "anthropic"
        server.send_raw(b"\n   \n")  # blank lines: no answer
        assert server.result("hello", protocol=1)["protocol"] == 1
        assert server.proc.poll() is None
        assert server.close_input() == 0
        assert "Traceback" not in server.stderr


def test_an_edit_is_picked_up_a_broken_edit_warns_in_every_answer_until_fixed(agent: Path, tmp_path: Path) -> None:
    policy = agent / "multi-pass.yaml"
    with StdioServer(agent, tmp_path / "state.db") as server:
        before = server.result("select", pool="claude")
        assert before["target"]["provider"] == "anthropic"
        rewrite(policy, POLICY.replace("[anthropic, anthropic-2, anthropic-3]", "[anthropic-2, anthropic-3]"))
        time.sleep(RELOAD_WAIT)
        edited = server.result("select", pool="claude")
        assert edited["target"]["provider"] == "anthropic-2"
        assert edited["policyRevision"] != before["policyRevision"]
        rewrite(policy, POLICY.replace("pools:", "pools:\n  - {name: broken, members: 7}"))
        time.sleep(RELOAD_WAIT)
        answers = [server.call("select", pool="claude"), server.call("status"), server.call("hello", protocol=1),
                   server.call("select", pool="nope"), server.call("fly")]
        for answer in answers:
            warnings = answer.get("warnings", [])
            assert any("stays in force" in w and edited["policyRevision"] in w for w in warnings), answer
            assert any(w.startswith(f"{policy}:") for w in warnings), warnings
        kept = answers[0]["result"]
        assert kept["policyRevision"] == edited["policyRevision"] and kept["target"]["provider"] == "anthropic-2"
        rewrite(policy, POLICY)
        time.sleep(RELOAD_WAIT)
        fixed = server.call("select", pool="claude")
        assert "warnings" not in fixed and fixed["result"]["policyRevision"] == before["policyRevision"]
        assert server.close_input() == 0


def test_reload_op_forces_the_check(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        before = server.result("hello", protocol=1)["policyRevision"]
        rewrite(agent / "multi-pass.yaml", POLICY.replace("cooldown: 5m", "cooldown: 7m"))
        reloaded = server.result("reload")
        [project] = reloaded["projects"]
        assert project["reloaded"] is True and project["policyRevision"] != before
        assert server.result("hello", protocol=1)["policyRevision"] == project["policyRevision"]


def test_a_new_login_is_seen_without_a_restart(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, accounts=["anthropic-2", "anthropic-3"])
    with StdioServer(agent, tmp_path / "state.db") as server:
        first = server.result("select", provider="anthropic")
        assert first["target"]["provider"] == "anthropic-2"
        assert {s["provider"]: s["reason"] for s in first["skipped"]}["anthropic"] == "no-auth"
        write_auth(agent, ["anthropic", "anthropic-2", "anthropic-3"])
        time.sleep(RELOAD_WAIT)
        logged = {a["provider"]: a["loggedIn"] for a in server.result("hello", protocol=1)["accounts"]}
        assert logged["anthropic"] is True
        assert server.result("select", provider="anthropic")["target"]["provider"] == "anthropic"


def test_cwd_picks_the_project_overlay_per_request(agent: Path, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    with StdioServer(agent, tmp_path / "state.db") as server:
        inside = server.result("select", provider="anthropic", cwd=str(project / "src"))
        assert inside["target"]["provider"] == "anthropic-2"
        assert {s["provider"]: s["reason"] for s in inside["skipped"]} == {"anthropic": "not-allowed"}
        outside = server.result("select", provider="anthropic", cwd=str(tmp_path))
        assert outside["target"]["provider"] == "anthropic" and outside["skipped"] == []
        # fail on the project's turn uses the project's engine even without cwd
        failed = server.result("fail", turn=inside["turn"], status=429)
        assert failed["target"] is None and failed["retryAfter"] is not None


def test_sigterm_mid_request_answers_it_then_exits_0(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, policy=SPIN_POLICY, accounts=["anthropic", "anthropic-2"])
    (agent / "selectors").mkdir()
    (agent / "selectors" / "spin.py").write_text(SPIN_SCRIPT)
    with StdioServer(agent, tmp_path / "state.db") as server:
        server.result("hello", protocol=1)
        server.send({"id": "slow", "op": "select", "pool": "claude"})
        time.sleep(1.0)  # the selector spins for 3 s: the request is in hand
        signalled = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        answer = server.recv()
        assert time.monotonic() - signalled > 0.5  # answered after the signal, not before it
        assert answer["id"] == "slow" and answer["ok"] is True
        assert answer["result"]["target"]["provider"] in ("anthropic", "anthropic-2")
        assert "did not answer within 3 s" in answer["result"]["strategy"][0]["note"]
        assert server.recv_raw() == b""  # then the output ends
        assert server.proc.wait(20) == 0
        assert "Traceback" not in server.stderr


def test_sigterm_while_idle_exits_0(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        server.result("hello", protocol=1)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(20) == 0


def test_eof_answers_a_last_line_without_newline_then_exits_0(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        server.send_raw(b'{"id": 1, "op": "select", "pool": "claude"}\n{"id": 2, "op": "hello", "protocol": 1}')
        assert server.proc.stdin is not None
        server.proc.stdin.close()
        assert server.recv()["id"] == 1 and server.recv()["id"] == 2
        assert server.recv_raw() == b""
        assert server.proc.wait(20) == 0


def test_shutdown_answers_then_exits_0_with_input_still_open(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        assert server.call("shutdown") == {"id": 1, "ok": True, "result": {}}
        assert server.proc.wait(20) == 0


def test_a_reader_that_goes_away_ends_the_server_quietly(agent: Path, tmp_path: Path) -> None:
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(serve_argv(agent, tmp_path / "state.db", "--stdio"), stdin=subprocess.PIPE,
                            stdout=write_end, stderr=subprocess.PIPE, env=clean_env(tmp_path))
    os.close(write_end)
    try:
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(b'{"id": 1, "op": "hello", "protocol": 1}\n')
        proc.stdin.flush()
        ready, _, _ = select.select([read_end], [], [], 20)
        assert ready and b'"id":1' in os.read(read_end, 1 << 16)
        os.close(read_end)  # nobody reads answers any more
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(b'{"id": 2, "op": "status"}\n')
            proc.stdin.flush()
        assert proc.wait(20) == 0
        assert b"Traceback" not in proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_answers_are_single_lines_of_utf8_json(agent: Path, tmp_path: Path) -> None:
    with StdioServer(agent, tmp_path / "state.db") as server:
        server.send({"id": "ünïcødé ✓", "op": "fail", "provider": "anthropic", "status": 429,
                     "message": "línea\nnueva ✓"})
        raw = server.recv_raw()
        assert raw.count(b"\n") == 1
        answer = json.loads(raw.decode("utf-8"))
        assert answer["id"] == "ünïcødé ✓" and answer["result"]["target"]["provider"] == "anthropic-2"

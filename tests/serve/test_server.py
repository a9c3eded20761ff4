"""Server dispatch in-process: ops on real files and a real SQLite store; failures inside ops become answers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from serve_support import make_agent, make_project

from policy_engine.serve.engines import EngineCache, SharedStore
from policy_engine.serve.history import TurnHistory
from policy_engine.serve.server import Connection, Server
from policy_engine.state import StateError, open_store


@pytest.fixture
def server(tmp_path: Path) -> Server:
    agent = make_agent(tmp_path)
    store = SharedStore(open_store(f"sqlite:///{tmp_path / 'state.db'}", agent_dir=agent))
    cache = EngineCache(agent_dir=agent, policy=None, project=None, store=store, quota_refresh=False, cwd=agent)
    yield Server(cache)
    cache.close()
    store.inner.close()


def _ask(server: Server, conn: Connection, request: dict[str, Any] | bytes) -> dict[str, Any]:
    line = request if isinstance(request, bytes) else json.dumps(request).encode()
    answer = server.handle_line(line, conn)
    assert answer is not None and answer.endswith(b"\n")
    return json.loads(answer)


def test_select_fail_succeed_and_explain_from_this_servers_history(server: Server) -> None:
    conn = Connection()
    first = _ask(server, conn, {"id": 1, "op": "select", "chain": "main"})["result"]
    assert first["target"]["provider"] == "anthropic"
    failed = _ask(server, conn, {"id": 2, "op": "fail", "turn": first["turn"], "status": 429,
                                 "message": "rate_limit_error", "headers": {"retry-after": 90}})["result"]
    assert failed["turn"] == first["turn"] and failed["target"]["provider"] == "anthropic-2"
    assert failed["error"]["kind"] == "rate_limit" and failed["error"]["rotate"] is True
    assert _ask(server, conn, {"id": 3, "op": "succeed", "turn": first["turn"]})["result"] == {"turn": first["turn"]}
    explained = _ask(server, conn, {"id": 4, "op": "explain", "turn": first["turn"]})["result"]
    assert explained["source"] == "trace" and explained["ended"] is True
    assert [s["op"] for s in explained["steps"]] == ["select", "fail", "succeed"]
    fail_step = explained["steps"][1]
    assert fail_step["failing"] == "anthropic" and fail_step["request"]["status"] == 429
    assert fail_step["request"]["headers"] == ["retry-after"]  # names only
    assert fail_step["target"]["provider"] == "anthropic-2" and fail_step["error"]["kind"] == "rate_limit"
    assert explained["attempted"] == ["anthropic"]


def test_status_and_explain_read_the_turn_and_the_state_in_one_store_call(server: Server,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    conn = Connection()
    turn = _ask(server, conn, {"id": 1, "op": "select", "pool": "claude"})["result"]["turn"]
    _ask(server, conn, {"id": 2, "op": "fail", "turn": turn, "status": 429})
    store = server.engines.store
    calls: list[str] = []
    for name in ("snapshot", "get_turn", "read"):
        method = getattr(store, name)
        monkeypatch.setattr(store, name, lambda *a, _m=method, _n=name: calls.append(_n) or _m(*a))
    status = _ask(server, conn, {"id": 3, "op": "status"})["result"]
    assert status["turn"]["turn"] == turn and status["turn"]["attempted"] == ["anthropic"]
    assert calls == ["read"]
    calls.clear()
    server.history = TurnHistory()  # as on another server with the trace off: explained from the store
    store.clear(["log"])
    explained = _ask(server, conn, {"id": 4, "op": "explain", "turn": turn})["result"]
    assert explained["source"] == "store" and explained["steps"][1]["error"]["kind"] == "rate_limit"
    assert calls == ["read"]


def test_explain_answers_from_the_trace_for_a_turn_another_server_ran(server: Server, tmp_path: Path) -> None:
    conn = Connection()
    turn = _ask(server, conn, {"id": 1, "op": "select", "pool": "claude"})["result"]["turn"]
    _ask(server, conn, {"id": 2, "op": "fail", "turn": turn, "status": 429, "headers": {"retry-after": "600"}})
    _ask(server, conn, {"id": 3, "op": "succeed", "turn": turn})
    server.history = TurnHistory()  # another server (or this one after a restart) never saw the turn
    explained = _ask(server, conn, {"id": 4, "op": "explain", "turn": turn})["result"]
    assert explained["source"] == "trace" and explained["ended"] is True
    assert [s["op"] for s in explained["steps"]] == ["select", "fail", "succeed"]
    fail_step = explained["steps"][1]
    assert fail_step["request"] == {"provider": "anthropic", "status": 429, "headers": ["retry-after"]}
    assert fail_step["error"]["kind"] == "rate_limit" and fail_step["error"]["retrySource"] == "header retry-after"
    assert fail_step["target"]["provider"] == "anthropic-2"
    assert explained["attempted"] == ["anthropic"]


def test_status_shows_the_cooldown_and_the_connections_current_turn(server: Server) -> None:
    conn = Connection()
    turn = _ask(server, conn, {"id": 1, "op": "select", "pool": "claude"})["result"]["turn"]
    _ask(server, conn, {"id": 2, "op": "fail", "turn": turn, "status": 429, "headers": {"retry-after": "600"}})
    status = _ask(server, conn, {"id": 3, "op": "status"})["result"]
    accounts = {a["provider"]: a for a in status["accounts"]}
    assert accounts["anthropic"]["cooldown"]["reason"].startswith("rate_limit")
    assert accounts["anthropic-2"]["cooldown"] is None and accounts["anthropic-2"]["label"] == "work"
    assert status["turn"]["turn"] == turn and status["turn"]["target"]["provider"] == "anthropic-2"
    assert "segment" not in status["turn"]["target"]  # the store's own part of the target stays inside
    assert status["turn"]["attempted"] == ["anthropic"]
    assert _ask(server, Connection(), {"id": 4, "op": "status"})["result"]["turn"] is None  # another connection


def test_an_exception_inside_an_op_is_an_internal_answer_and_the_server_goes_on(
        server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    conn = Connection()
    engine = server.engines.slot(None).get()

    def broken(*args: object, **kwargs: object) -> None:
        raise KeyError("boom")

    monkeypatch.setattr(engine, "select", broken)
    answer = _ask(server, conn, {"id": "x", "op": "select", "pool": "claude"})
    assert answer["id"] == "x" and answer["ok"] is False
    assert answer["error"]["code"] == "internal" and "KeyError" in answer["error"]["message"]
    assert "mp-policy serve: internal error: KeyError" in capsys.readouterr().err
    monkeypatch.undo()
    assert _ask(server, conn, {"id": "y", "op": "select", "pool": "claude"})["ok"] is True


def test_a_state_store_failure_is_a_state_error_answer(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(*args: object, **kwargs: object) -> None:
        raise StateError("state store is locked", hint="try again")

    monkeypatch.setattr(server.engines.store.inner, "apply", locked)
    answer = _ask(server, Connection(), {"id": 1, "op": "select", "pool": "claude"})
    assert answer["error"] == {"code": "state-error", "message": "state store is locked", "hint": "try again"}


def test_hello_remembers_cwd_session_and_refuses_other_protocols(server: Server, tmp_path: Path) -> None:
    project = make_project(tmp_path)
    conn = Connection()
    refused = _ask(server, conn, {"id": 1, "op": "hello", "protocol": 2})
    assert refused["error"]["code"] == "unsupported-protocol" and "protocol 1, not 2" in refused["error"]["message"]
    hello = _ask(server, conn, {"id": 2, "op": "hello", "protocol": 1, "cwd": str(project / "src"),
                                "session": "s1", "agent": "pi"})["result"]
    assert hello["protocol"] == 1 and hello["version"] and "select" in hello["ops"]
    assert (conn.cwd, conn.session, conn.agent) == (str(project / "src"), "s1", "pi")
    # the project allows only anthropic-2: the connection's later requests use the overlay
    assert _ask(server, conn, {"id": 3, "op": "select", "pool": "claude"})["result"]["target"]["provider"] == \
        "anthropic-2"


def test_cwd_must_be_an_existing_absolute_directory(server: Server, tmp_path: Path) -> None:
    for cwd, words in (("relative/dir", "not an absolute path"), (str(tmp_path / "nope"), "not a directory")):
        answer = _ask(server, Connection(), {"id": 1, "op": "select", "pool": "claude", "cwd": cwd})
        assert answer["error"]["code"] == "bad-request" and words in answer["error"]["message"]


def test_blank_lines_get_no_answer(server: Server) -> None:
    assert server.handle_line(b"", Connection()) is None
    assert server.handle_line(b"  \t", Connection()) is None


def test_shutdown_answers_then_sets_stopping(server: Server) -> None:
    assert _ask(server, Connection(), {"id": 9, "op": "shutdown"}) == {"id": 9, "ok": True, "result": {}}
    assert server.stopping.is_set()

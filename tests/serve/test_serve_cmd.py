"""``mp-policy serve`` start-up: usage errors exit 2, an invalid policy exits 1 and leaves no socket behind."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from serve_support import ANSWER_TIMEOUT, POLICY, clean_env, make_agent, serve_argv


def _run(agent: Path, tmp_path: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(serve_argv(agent, tmp_path / "state.db", *args), capture_output=True, text=True,
                          env=clean_env(tmp_path), timeout=ANSWER_TIMEOUT * 3, stdin=subprocess.DEVNULL, check=False)


def test_one_transport_must_be_named(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    for args in ((), ("--stdio", "--socket", str(tmp_path / "s.sock"))):
        run = _run(agent, tmp_path, *args)
        assert run.returncode == 2 and "name exactly one of --stdio or --socket PATH" in run.stderr
        assert run.stdout == ""


def test_an_invalid_policy_exits_1_with_its_diagnostics_and_no_socket(tmp_path: Path) -> None:
    agent = make_agent(tmp_path, policy=POLICY.replace("cooldown: 5m", "cooldown: soon"))
    sock = tmp_path / "s.sock"
    run = _run(agent, tmp_path, "--socket", sock)
    assert run.returncode == 1, run.stderr
    assert f"{agent / 'multi-pass.yaml'}:3:" in run.stderr and "invalid policy" in run.stderr
    assert not sock.exists()
    as_json = _run(agent, tmp_path, "--stdio", "--format", "json")
    assert as_json.returncode == 1 and json.loads(as_json.stdout)["valid"] is False


def test_idle_exit_is_for_a_socket_server_and_must_be_a_positive_duration(tmp_path: Path) -> None:
    agent = make_agent(tmp_path)
    with_stdio = _run(agent, tmp_path, "--stdio", "--idle-exit", "30m")
    assert with_stdio.returncode == 2, with_stdio.stderr
    assert "--idle-exit applies to a socket server (--socket PATH)" in with_stdio.stderr
    sock = tmp_path / "s.sock"
    for value, message in (("soon", "expected a duration such as 90s, 5m, 1h30m or 2d, got 'soon'"),
                           ("0s", "must be longer than 0, got '0s'")):
        run = _run(agent, tmp_path, "--socket", sock, "--idle-exit", value)
        assert run.returncode == 2, run.stderr
        assert f"Invalid value for --idle-exit: {message}" in run.stderr
        assert not sock.exists()

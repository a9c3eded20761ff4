"""``examples/openai_failover.py`` run as the README says: the fake provider and the example as processes."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy_engine.state import open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "openai_failover.py"


class Server:
    """``python -m tests.integrations.fake_llm_server`` as the README starts it; its request lines as they come."""

    def __init__(self, *scripts: str) -> None:
        command = [sys.executable, "-m", "tests.integrations.fake_llm_server", "--port", "0"]
        for script in scripts:
            command += ["--script", script]
        self.process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        first = self.lines.get(timeout=30)  # "fake LLM server on http://127.0.0.1:PORT ..."
        match = re.search(r"(http://127\.0\.0\.1:\d+)", first)
        assert match, first
        self.url = match.group(1)

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.strip())

    def requests(self, count: int) -> list[str]:
        """The next ``count`` request lines (waiting up to 10 s for each); no other line comes within 0.5 s."""
        got = [self.lines.get(timeout=10) for _ in range(count)]
        with contextlib.suppress(queue.Empty):
            got.append(self.lines.get(timeout=0.5))
        return got

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


@pytest.fixture
def server() -> Iterator[Server]:
    """The README's fake provider: the first Codex key rate-limited, the second overloaded, Copilot fine."""
    running = Server("sk-one=rate-limit:90", "sk-two=overloaded", "sk-three=ok")
    try:
        yield running
    finally:
        running.stop()


def run_example(url: str, state: str, keys: dict[str, str], agent_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(keys, PI_CODING_AGENT_DIR=str(agent_dir))  # nothing of the user's pi setup is read
    return subprocess.run([sys.executable, str(EXAMPLE), "--base-url", f"{url}/v1", "--state", state, "Say hello"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_example_fails_over_to_the_next_chain_entry(server: Server, tmp_path: Path) -> None:
    state = f"sqlite:///{tmp_path / 'demo.db'}"
    keys = {"OPENAI_CODEX_API_KEY": "sk-one", "OPENAI_CODEX_2_API_KEY": "sk-two", "GITHUB_COPILOT_API_KEY": "sk-three"}
    first = run_example(server.url, state, keys, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "[github-copilot gpt-4.1] Hello from the fake provider."
    assert "openai-codex (gpt-5): rate_limit" in first.stderr
    assert "openai-codex-2 (gpt-5): overloaded" in first.stderr
    # One request per attempt (the SDK's retries are off), each with its chain entry's model.
    assert server.requests(3) == ["POST /v1/chat/completions key=sk-one model=gpt-5 -> 429",
                                  "POST /v1/chat/completions key=sk-two model=gpt-5 -> 529",
                                  "POST /v1/chat/completions key=sk-three model=gpt-4.1 -> 200"]
    cooldowns = open_store(state, agent_dir=tmp_path).snapshot().cooldowns
    assert sorted(cooldowns) == ["openai-codex", "openai-codex-2"]

    # The cooldowns are in the state file: the next run goes straight to Copilot.
    second = run_example(server.url, state, keys, tmp_path)
    assert second.returncode == 0 and second.stderr == ""
    assert server.requests(1) == ["POST /v1/chat/completions key=sk-three model=gpt-4.1 -> 200"]

    # Without the Copilot key nothing is left: no request, exit 1, and the example says when to retry.
    third = run_example(server.url, state, {k: v for k, v in keys.items() if not k.startswith("GITHUB")}, tmp_path)
    assert third.returncode == 1
    assert "no account left" in third.stderr and "retry after" in third.stderr
    assert server.requests(0) == []

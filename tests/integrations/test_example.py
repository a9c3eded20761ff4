"""``examples/openai_failover.py`` run as the README says: the fake provider and the example as processes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from policy_engine.state import open_store

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "openai_failover.py"


@pytest.fixture
def server() -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m tests.integrations.fake_llm_server`` with the README's scripts, on a free port."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.integrations.fake_llm_server", "--port", "0",
         "--script", "sk-one=rate-limit:90", "--script", "sk-two=overloaded", "--script", "sk-three=ok"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # "fake LLM server on http://127.0.0.1:PORT ..."
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        assert match, line + (process.stderr.read() if process.stderr else "")
        yield match.group(1), process
    finally:
        process.terminate()
        process.wait(timeout=10)


def run_example(url: str, state: str, keys: dict[str, str], agent_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_API_KEY", "_BASE_URL"))}
    env.update(keys, PI_CODING_AGENT_DIR=str(agent_dir))  # nothing of the user's pi setup is read
    return subprocess.run([sys.executable, str(EXAMPLE), "--base-url", f"{url}/v1", "--state", state, "Say hello"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def test_the_example_fails_over_to_the_next_chain_entry(server: tuple[str, subprocess.Popen[str]],
                                                        tmp_path: Path) -> None:
    url, _ = server
    state = f"sqlite:///{tmp_path / 'demo.db'}"
    keys = {"OPENAI_CODEX_API_KEY": "sk-one", "OPENAI_CODEX_2_API_KEY": "sk-two", "GITHUB_COPILOT_API_KEY": "sk-three"}
    first = run_example(url, state, keys, tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "[github-copilot gpt-4.1] Hello from the fake provider."
    assert "openai-codex (gpt-5): rate_limit" in first.stderr
    assert "openai-codex-2 (gpt-5): overloaded" in first.stderr
    cooldowns = open_store(state, agent_dir=tmp_path).snapshot().cooldowns
    assert sorted(cooldowns) == ["openai-codex", "openai-codex-2"]

    # The cooldowns are in the state file: the next run goes straight to Copilot, without a message.
    second = run_example(url, state, keys, tmp_path)
    assert second.returncode == 0 and second.stderr == ""

    # Without the Copilot key nothing is left: exit 1, and the example says when to retry.
    third = run_example(url, state, {k: v for k, v in keys.items() if not k.startswith("GITHUB")}, tmp_path)
    assert third.returncode == 1
    assert "no account left" in third.stderr and "retry after" in third.stderr

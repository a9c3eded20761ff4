"""Extra accounts of any provider pi knows, in the real pi agent (issue 15 item 1): a ``models.json`` custom
provider (here one speaking the Anthropic Messages API, pointed at the fake server) and its extra account
``<provider>-2``, each with an API key in ``auth.json``. The extension registers the extra account as a pi
provider, and a 429 on the first moves the turn to the second."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from anthropic_server import AnthropicServer, rate_limited
from pi_agent import MODEL, RUN_TIMEOUT, PiWorld, Run, token

PROVIDER = "claude-proxy"
POLICY = f"""\
subscriptions:
  - {{provider: {PROVIDER}, index: 2}}
pools:
  - name: proxy
    baseProvider: {PROVIDER}
    members: [{PROVIDER}, {PROVIDER}-2]
"""


@pytest.fixture
def proxy_world(pi: Path, tmp_path: Path) -> Iterator[PiWorld]:
    """Two API-key accounts of a models.json custom provider, behind the fake Messages API."""
    tokens = {PROVIDER: token("proxy-one"), f"{PROVIDER}-2": token("proxy-two")}
    labels = {access: name for name, access in tokens.items()}
    with AnthropicServer(labels, log=tmp_path / "fake-anthropic.log") as server:
        built = PiWorld(pi, tmp_path, server, tokens)
        try:
            built.build(policy=POLICY)
            (built.agent / "auth.json").write_text(json.dumps(
                {name: {"type": "api_key", "key": key} for name, key in tokens.items()}, indent=2))
            model = {"id": MODEL, "name": "Claude via proxy", "reasoning": False, "input": ["text"],
                     "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
                     "contextWindow": 200000, "maxTokens": 8192}
            (built.agent / "models.json").write_text(json.dumps({"providers": {PROVIDER: {
                "baseUrl": server.url, "api": "anthropic-messages", "apiKey": "CLAUDE_PROXY_UNUSED_KEY",
                "models": [model]}}}, indent=2))
            yield built
        finally:
            left = built.close()
        assert not left, f"processes outlived the test (killed now): {left}"


def _print(world: PiWorld, prompt: str) -> Run:
    started = time.monotonic()
    args = [str(world.pi), "--no-session", "--no-tools", "-nc", "--provider", PROVIDER, "--model", MODEL,
            "-p", prompt]
    done = subprocess.run(args, capture_output=True, text=True, timeout=RUN_TIMEOUT, check=False,
                          env=world.env(), cwd=world.project)
    run = Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    world.assert_no_secrets(run)
    return run


def test_a_custom_providers_extra_account_takes_over_after_a_429(proxy_world: PiWorld) -> None:
    world = proxy_world
    check = world.mp_policy("validate")
    assert check.returncode == 0 and "not a known account" not in check.stdout, check.stdout + check.stderr
    world.server.script(world.tokens[PROVIDER], rate_limited(retry_after=600))
    run = _print(world, "say hi")
    assert run.returncode == 0, run.describe()
    assert run.stdout.strip() == f"answer from {PROVIDER}-2"
    assert world.server.accounts() == [PROVIDER, f"{PROVIDER}-2"]
    assert world.state()["cooldowns"][PROVIDER]["source"] == "header retry-after"

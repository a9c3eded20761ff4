"""Fixtures of the pi tests: the real pi agent from npm (installed once, cached), a fake Anthropic API per
test, and an isolated pi world around both.

Without node/npm or network the pi tests skip with the reason, except when ``MP_POLICY_REQUIRE_PI=1``
(set by ``.ci/run``), where they fail: CI must run them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from anthropic_server import AnthropicServer
from pi_agent import MP_POLICY, PiWorld, pi_binary, require_pi, token


@pytest.fixture(scope="session")
def pi() -> Path:
    """The pi script of ``@mariozechner/pi-coding-agent@0.73.1`` (installed with npm into the test cache)."""
    script, why = pi_binary()
    if script is None:
        if require_pi():
            pytest.fail(f"the pi agent is needed (MP_POLICY_REQUIRE_PI is set): {why}")
        pytest.skip(why)
    if not MP_POLICY.exists():
        pytest.skip(f"the mp-policy console script is not installed next to the interpreter ({MP_POLICY})")
    return script


@pytest.fixture
def world(pi: Path, tmp_path: Path) -> Iterator[PiWorld]:
    """Two Claude accounts (anthropic, anthropic-2) with canary tokens, a fake API that tells them apart,
    the pool ``claude`` of both, and the extension registered with ``mp-policy pi install`` (the default:
    one engine kept running on a socket). At teardown the kept engine is stopped, and no process of the
    world (pi, the engine, the kept server) may still run after that."""
    tokens = {"anthropic": token("one"), "anthropic-2": token("two")}
    labels = {access: name for name, access in tokens.items()}
    with AnthropicServer(labels, log=tmp_path / "fake-anthropic.log") as server:
        built = PiWorld(pi, tmp_path, server, tokens)
        try:
            built.build()
            yield built
        finally:
            left = built.close()
        assert not left, f"processes outlived the test (killed now): {left}"

"""Fixtures of the integration tests: one fake LLM provider for the session, reset for each test."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# LiteLLM fetches its model price map from the network when imported; these tests stay on loopback.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from fake_llm_server import FakeLLMServer


@pytest.fixture(scope="session")
def fake_llm_session() -> Iterator[FakeLLMServer]:
    """The session's fake provider (tests use :func:`fake_llm`)."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def fake_llm(fake_llm_session: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The fake provider with no scripts and no recorded requests; the test fails on a server error."""
    fake_llm_session.reset()
    yield fake_llm_session
    errors = list(fake_llm_session.errors)
    fake_llm_session.reset()
    assert errors == [], errors

"""Fixtures of the quota tests: one local provider server for the session, reset for each test that asks."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from provider_server import ProviderServer


@pytest.fixture(scope="session")
def provider_server() -> Iterator[ProviderServer]:
    """The session's :class:`ProviderServer`, started once (tests that use it directly reset it themselves)."""
    with ProviderServer() as server:
        yield server


@pytest.fixture
def quota_server(provider_server: ProviderServer) -> Iterator[ProviderServer]:
    """The session's server with no recorded requests and only the default (happy-path) replies."""
    provider_server.reset()
    provider_server.use_defaults()
    yield provider_server
    provider_server.reset()

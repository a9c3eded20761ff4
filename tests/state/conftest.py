"""Fixtures of the state tests: a real ``redis-server`` for the whole session (or a skip with the reason)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_server import RedisServer, redis_server_binary, require_redis


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """A redis-server on a free loopback port, shared by the session (tests use distinct namespaces)."""
    if redis_server_binary() is None:
        if require_redis():
            pytest.fail("redis-server is not installed, and MP_POLICY_REQUIRE_REDIS is set")
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server

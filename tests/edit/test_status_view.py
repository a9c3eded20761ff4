"""Status views: a credential whose expiry is no real time (from any auth source) is shown as unknown."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policy_engine.edit.status import account_status
from policy_engine.engine import Engine
from policy_engine.providers.families import Credential

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


class _Source:
    """An auth source (as a plugin or an embedding program may give) with fixed expiries."""

    def __init__(self, expiries: dict[str, float | None]) -> None:
        self.expiries = expiries

    def has(self, provider: str) -> bool:
        return provider in self.expiries

    def providers(self) -> frozenset[str]:
        return frozenset(self.expiries)

    def credential(self, provider: str) -> Credential | None:
        return Credential("oauth", self.expiries[provider]) if provider in self.expiries else None


@pytest.mark.parametrize("expires", [float("nan"), float("inf"), float("-inf"), 9223372036854775.808, 1e300])
def test_an_expiry_that_is_no_time_is_unknown_not_a_crash(expires: float) -> None:
    policy = {"pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"]}]}
    engine = Engine.from_documents(policy, auth=_Source({"anthropic": expires}), clock=lambda: NOW)
    [row] = account_status(engine)
    assert row["loggedIn"] is True and row["expiresAt"] is None
    assert row["auth"] == "logged in (token expiry unknown)"


def test_a_real_expiry_is_shown() -> None:
    policy = {"pools": [{"name": "claude", "baseProvider": "anthropic", "members": ["anthropic"]}]}
    engine = Engine.from_documents(policy, auth=_Source({"anthropic": NOW.timestamp() + 3600}), clock=lambda: NOW)
    [row] = account_status(engine)
    assert row["auth"] == "logged in (expires in 1h)" and row["expiresAt"] is not None

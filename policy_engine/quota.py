"""The quota-checker interface that plugins implement (hook ``mp_policy_quota_checkers``).

A quota checker asks one provider family's usage endpoint how much quota an account has left
and answers with a :class:`policy_engine.state.QuotaSnapshot`; the engine stores snapshots in
the state store, where ``quota-first`` reads them. Checkers are asynchronous and receive the
``httpx.AsyncClient`` to use, so tests hand them a local server or a mock transport.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    import httpx

    from policy_engine.providers import Credential
    from policy_engine.state import QuotaSnapshot

__all__ = ["QuotaChecker"]


@runtime_checkable
class QuotaChecker(Protocol):
    """Checks the remaining quota of accounts of one base provider (``base``)."""

    base: str

    async def check(self, account: str, credential: Credential | None, client: httpx.AsyncClient, *,
                    now: datetime) -> QuotaSnapshot:
        """The snapshot for ``account``; failures are a snapshot with status ``error`` or ``missing-auth``."""
        ...

"""Quota checkers: how much quota each account has left (hook ``mp_policy_quota_checkers``).

A quota checker asks one provider family's usage endpoint how much quota an account has left and
answers with a :class:`policy_engine.state.QuotaSnapshot` (windows, the bottleneck as
``remaining``, a status and a one-line summary). The engine keeps snapshots in the state store's
quota cache, where ``quota-first`` reads them; ``mp-policy limits`` shows them. Checkers are
asynchronous and get a :class:`CheckContext` with the ``httpx.AsyncClient`` to use, so tests hand
them a local server. Built in (:mod:`policy_engine.quota.builtin`): ``openai-codex``,
``google-gemini-cli``, ``google-antigravity``, ``anthropic`` and ``github-copilot``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from policy_engine.quota.context import CheckContext, QuotaCheckError

if TYPE_CHECKING:
    from policy_engine.providers.families import Credential
    from policy_engine.state import QuotaSnapshot

__all__ = ["CheckContext", "QuotaCheckError", "QuotaChecker"]


@runtime_checkable
class QuotaChecker(Protocol):
    """Checks the remaining quota of accounts of one base provider (``base``)."""

    base: str

    async def check(self, account: str, credential: Credential | None, ctx: CheckContext) -> QuotaSnapshot:
        """The snapshot for ``account``.

        A missing or unusable credential is a snapshot with status ``missing-auth``; an HTTP or
        parsing problem may raise :class:`QuotaCheckError` (or let httpx errors through): the
        runner turns it into an ``error`` snapshot. Never put a token in a message.
        """
        ...

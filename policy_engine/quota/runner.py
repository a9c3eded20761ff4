"""Running quota checks: which accounts to check, all of them in parallel, and writing the results to the cache.

Every check runs concurrently on one ``httpx.AsyncClient`` with a per-request timeout, so ten
accounts take about as long as the slowest one. A check never raises: timeouts, network errors,
bad JSON and HTTP errors become ``error`` snapshots whose summary says what happened (and never
holds a token). Results go to the state store's quota cache; a failed check does not replace a
good snapshot (the last known value stays, older, and ``quota-first`` says it is stale).
"""

from __future__ import annotations

import asyncio
import functools
import os
import ssl
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING

import httpx

from policy_engine.common.records import dataclass
from policy_engine.quota.context import CheckContext, QuotaCheckError
from policy_engine.quota.status import failed_snapshot
from policy_engine.state import QuotaSnapshot, StateChanges, StateStore

if TYPE_CHECKING:
    from policy_engine.compile.graph import Graph
    from policy_engine.providers.auth import AuthSource
    from policy_engine.providers.families import Credential
    from policy_engine.quota import QuotaChecker

__all__ = ["DEFAULT_TIMEOUT", "QuotaAccount", "check_accounts", "collect_accounts", "run_checks", "store_results",
           "unchecked_accounts"]

DEFAULT_TIMEOUT = 10.0  # seconds per HTTP request


@dataclass(frozen=True)
class QuotaAccount:
    """One account to check: its name, family, display name and stored credential (never printed)."""

    name: str
    base: str
    display_name: str
    credential: Credential | None = field(default=None, repr=False, compare=False)


def _credential(auth: AuthSource, name: str) -> Credential | None:
    reader = getattr(auth, "credential", None)
    return reader(name) if callable(reader) else None


def _listed_accounts(graph: Graph, auth: AuthSource, names: Iterable[str] | None) -> Iterator[tuple[str, str]]:
    """``(account, base)`` for the accounts ``limits`` lists, checker or not: as pi-multi-pass, each
    logged-in base provider and every configured extra subscription (logged in or not, so a missing
    login shows); only accounts the project allows; ``names`` narrows it to those accounts."""
    wanted = set(names) if names is not None else None
    for name in sorted(graph.accounts):
        base = graph.base_of(name)
        if base is None:
            continue
        if graph.allowed is not None and name not in graph.allowed:
            continue
        if wanted is not None and name not in wanted:
            continue
        if name == base and not auth.has(name) and wanted is None:
            continue
        yield name, base


def collect_accounts(graph: Graph, auth: AuthSource, checkers: Mapping[str, QuotaChecker],
                     names: Iterable[str] | None = None) -> list[QuotaAccount]:
    """The accounts ``limits`` checks: those it lists (:func:`_listed_accounts`) whose family has a
    quota checker. ``names`` narrows it to those accounts."""
    return [QuotaAccount(name, base, graph.labels.get(name, name), _credential(auth, name))
            for name, base in _listed_accounts(graph, auth, names) if base in checkers]


def unchecked_accounts(graph: Graph, auth: AuthSource, checkers: Mapping[str, QuotaChecker],
                       names: Iterable[str] | None = None) -> list[str]:
    """The accounts ``limits`` cannot check because their family has no quota checker (``openai``,
    ``openrouter``, a ``models.json`` provider, ...): by the same rules as :func:`collect_accounts`,
    so ``limits`` can say so instead of staying silent."""
    return [name for name, base in _listed_accounts(graph, auth, names) if base not in checkers]


async def _check_one(account: QuotaAccount, checker: QuotaChecker, ctx: CheckContext) -> QuotaSnapshot:
    secret = account.credential.secret if account.credential is not None else {}
    scrub = ctx.with_secrets(v for v in secret.values() if isinstance(v, str))
    try:
        snap = await checker.check(account.name, account.credential, ctx)
    except QuotaCheckError as exc:
        return failed_snapshot(account.name, "error", scrub.scrub(str(exc)), now=ctx.now, source=account.base)
    except httpx.TimeoutException as exc:
        where = scrub.scrub(str(exc.request.url)) if _has_request(exc) else "the quota endpoint"
        return failed_snapshot(account.name, "error", f"timed out after {ctx.timeout:g}s ({where})",
                               now=ctx.now, source=account.base)
    except httpx.TransportError as exc:
        where = scrub.scrub(exc.request.url.host) if _has_request(exc) else "the quota endpoint"
        return failed_snapshot(account.name, "error", f"cannot reach {where}: {type(exc).__name__}",
                               now=ctx.now, source=account.base)
    except Exception as exc:  # a checker plugin's bug must not break the others
        return failed_snapshot(account.name, "error", scrub.scrub(f"{type(exc).__name__}: {exc}"),
                               now=ctx.now, source=account.base)
    if not isinstance(snap, QuotaSnapshot):
        return failed_snapshot(account.name, "error", f"the {account.base} checker returned "
                               f"{type(snap).__name__}, not a QuotaSnapshot", now=ctx.now, source=account.base)
    return snap


def _has_request(exc: httpx.RequestError) -> bool:
    try:
        exc.request  # noqa: B018 - raises RuntimeError when the error was raised without a request
    except RuntimeError:
        return False
    return True


@functools.lru_cache(maxsize=4)
def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """httpx's default TLS context (certifi, or ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``), built once per process.

    Building one loads the whole CA bundle: about 30-50 ms, more than the checks themselves take.
    """
    return httpx.create_ssl_context()


def shared_tls_context() -> ssl.SSLContext:
    """The cached TLS context for the current ``SSL_CERT_FILE`` / ``SSL_CERT_DIR``."""
    return _tls_context(os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)


async def check_accounts(accounts: Sequence[QuotaAccount], checkers: Mapping[str, QuotaChecker], *,
                         now: datetime, env: Mapping[str, str] | None = None,
                         endpoints: Mapping[str, Sequence[str]] | None = None, timeout: float = DEFAULT_TIMEOUT,
                         client: httpx.AsyncClient | None = None,
                         on_result: Callable[[QuotaSnapshot], None] | None = None) -> list[QuotaSnapshot]:
    """Check every account concurrently; results in the order of ``accounts``."""
    own = client is None
    http = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=shared_tls_context())
    ctx = CheckContext(http, now, dict(env or {}), dict(endpoints or {}), timeout)

    async def one(account: QuotaAccount) -> QuotaSnapshot:
        snap = await _check_one(account, checkers[account.base], ctx)
        if on_result is not None:
            on_result(snap)
        return snap

    try:
        return list(await asyncio.gather(*(one(a) for a in accounts)))
    finally:
        if own:
            await http.aclose()


def run_checks(accounts: Sequence[QuotaAccount], checkers: Mapping[str, QuotaChecker], **kwargs: object
               ) -> list[QuotaSnapshot]:
    """:func:`check_accounts` from synchronous code (its own event loop, in this thread)."""
    return asyncio.run(check_accounts(accounts, checkers, **kwargs))  # type: ignore[arg-type]


def store_results(store: StateStore, results: Iterable[QuotaSnapshot]) -> list[QuotaSnapshot]:
    """Write results to the quota cache; an ``error`` never replaces a snapshot that has a value.

    Returns what was written.
    """
    results = list(results)
    if not results:
        return []
    cached = store.snapshot().quota
    keep = [r for r in results
            if not (r.status == "error" and (old := cached.get(r.provider)) is not None and old.remaining is not None)]
    if keep:
        store.apply(StateChanges(quota=keep))
    return keep

"""Routing state shared by processes: cooldowns, round-robin cursors, turn cascades, quota snapshots.

Open a store by URL with :func:`open_store`:

* ``memory://`` — a fresh in-process store; ``memory://NAME`` — one in-process store shared per name;
* ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db`` (relative to the current directory),
  or a plain path ending in ``.db``, ``.sqlite`` or ``.sqlite3``;
* ``None`` — the default SQLite file ``<agent_dir>/mp-policy-state.db``.

Plugins add schemes (e.g. ``redis``) with :func:`register_store`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from .base import (
    LOG_LIMIT,
    STATE_PARTS,
    Cooldown,
    QuotaSnapshot,
    QuotaWindow,
    StateChanges,
    StateError,
    StateReadOnlyError,
    StateSnapshot,
    StateStore,
    StateURLError,
    TurnRecord,
)
from .memory import MemoryStore, reset_shared_memory
from .sqlite import DEFAULT_STATE_FILENAME, SQLITE_SUFFIXES, SqliteStore, sqlite_path_from_url

__all__ = [
    "DEFAULT_STATE_FILENAME",
    "LOG_LIMIT",
    "STATE_PARTS",
    "STORE_FACTORIES",
    "Cooldown",
    "MemoryStore",
    "QuotaSnapshot",
    "QuotaWindow",
    "SqliteStore",
    "StateChanges",
    "StateError",
    "StateReadOnlyError",
    "StateSnapshot",
    "StateStore",
    "StateURLError",
    "StoreFactory",
    "TurnRecord",
    "check_store_url",
    "open_store",
    "redact_url",
    "register_store",
    "reset_shared_memory",
]

#: ``factory(url, *, agent_dir, readonly, namespace) -> StateStore``
StoreFactory = Callable[..., StateStore]

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")


def _memory_factory(url: str, *, agent_dir: Path, readonly: bool, namespace: str) -> StateStore:
    return MemoryStore(url.split("://", 1)[1], readonly=readonly, namespace=namespace)


def _sqlite_factory(url: str, *, agent_dir: Path, readonly: bool, namespace: str) -> StateStore:
    return SqliteStore(sqlite_path_from_url(url), readonly=readonly, namespace=namespace)


#: Store factories by URL scheme (lower case). Plugins add theirs with :func:`register_store`.
STORE_FACTORIES: dict[str, StoreFactory] = {"memory": _memory_factory, "sqlite": _sqlite_factory}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``scheme://…`` URLs open with ``factory(url, agent_dir=…, readonly=…, namespace=…)``."""
    scheme = scheme.lower().removesuffix("://")
    if not _SCHEME.match(scheme + "://"):
        raise ValueError(f"not a URL scheme: {scheme!r}")
    STORE_FACTORIES[scheme] = factory


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for messages and logs)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)


def check_store_url(url: str) -> None:
    """Raise :class:`StateURLError` when ``url`` names no known kind of store (nothing is opened)."""
    url = url.strip()
    match = _SCHEME.match(url)
    if match is None:
        if url.lower().endswith(SQLITE_SUFFIXES):
            return
        raise StateURLError(
            f"cannot tell which state store {redact_url(url)!r} names",
            hint=f"use {_known()}, or a file path ending in {', '.join(SQLITE_SUFFIXES)}",
        )
    scheme = match.group(1).lower()
    if scheme not in STORE_FACTORIES:
        raise StateURLError(
            f"unknown state store scheme {scheme + '://'!r} in {redact_url(url)!r}",
            hint=f"known schemes: {_known()}; a file path ending in {', '.join(SQLITE_SUFFIXES)} also works",
        )


def open_store(url: str | None, *, agent_dir: Path, readonly: bool = False, namespace: str = "default") -> StateStore:
    """Open the state store named by ``url`` (``None``: ``<agent_dir>/mp-policy-state.db``).

    Raises :class:`StateError` for an unknown scheme or a store that cannot be opened.
    """
    if url is None or not url.strip():
        return SqliteStore(Path(agent_dir) / DEFAULT_STATE_FILENAME, readonly=readonly, namespace=namespace)
    url = url.strip()
    check_store_url(url)
    match = _SCHEME.match(url)
    if match is None:
        return SqliteStore(sqlite_path_from_url(url), readonly=readonly, namespace=namespace)
    factory = STORE_FACTORIES[match.group(1).lower()]
    return factory(url, agent_dir=Path(agent_dir), readonly=readonly, namespace=namespace)


def _known() -> str:
    return ", ".join(f"{s}://" for s in sorted(STORE_FACTORIES))

"""Routing state shared by processes: cooldowns, round-robin cursors, turn cascades, quota snapshots.

Open a store by URL with :func:`open_store`:

* ``memory://`` — a fresh in-process store; ``memory://NAME`` — one in-process store shared per name;
* ``sqlite:///absolute/path.db`` or ``sqlite://relative/path.db`` (relative to the current directory),
  or a plain path ending in ``.db``, ``.sqlite`` or ``.sqlite3``;
* ``None`` — the default SQLite file ``<agent_dir>/mp-policy-state.db``.

Plugins add schemes through the ``mp_policy_state_stores`` hook (a :class:`StoreSpec` per scheme);
this package never reads the plugin registry itself: whoever holds the registry hands its stores in
(``stores=``, a mapping or a function that returns one, called only for a scheme that is not built
in). Code that embeds the engine can also call :func:`register_store`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from pathlib import Path

from policy_engine.common.records import dataclass

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
    StateUnavailableError,
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
    "PluginStores",
    "QuotaSnapshot",
    "QuotaWindow",
    "SqliteStore",
    "StateChanges",
    "StateError",
    "StateReadOnlyError",
    "StateSnapshot",
    "StateStore",
    "StateURLError",
    "StateUnavailableError",
    "StoreFactory",
    "StoreSpec",
    "TurnRecord",
    "check_store_url",
    "open_state",
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


def _redis_factory(url: str, *, agent_dir: Path, readonly: bool, namespace: str) -> StateStore:
    from policy_engine.state.redis_store import RedisStore  # needs the optional 'redis' package

    return RedisStore(url, readonly=readonly, namespace=namespace)


@dataclass(frozen=True)
class StoreSpec:
    """A kind of state store a plugin registers: its URL scheme, the factory that opens it, a description."""

    scheme: str
    factory: StoreFactory
    description: str = ""


#: The built-in stores (registered as a default plugin by :mod:`policy_engine.state.builtin`).
BUILTIN_STORES = (
    StoreSpec("memory", _memory_factory, "in-process store (tests, embedding); memory://NAME shares one per name"),
    StoreSpec("sqlite", _sqlite_factory, "SQLite file (the default: <agent dir>/mp-policy-state.db)"),
    StoreSpec("redis", _redis_factory, "Redis server, shared by a fleet (extra mp-policy[redis], docs/install.md)"),
    StoreSpec("rediss", _redis_factory, "Redis server over TLS"),
    StoreSpec("unix", _redis_factory, "Redis server on a Unix socket: unix:///path/redis.sock?db=0"),
)

#: The built-in schemes and those added with :func:`register_store`, by scheme. They take precedence
#: over plugin stores (a plugin cannot take ``sqlite://`` over), and built-in URLs open without
#: building the plugin registry.
STORE_FACTORIES: dict[str, StoreFactory] = {spec.scheme: spec.factory for spec in BUILTIN_STORES}


#: Plugin stores by scheme, as handed in: the mapping itself, or a function that returns it (so that
#: the plugin registry is built only when a URL needs a plugin's scheme).
PluginStores = Mapping[str, StoreFactory] | Callable[[], Mapping[str, StoreFactory]]


def _factories(stores: PluginStores | None) -> dict[str, StoreFactory]:
    """The plugin stores handed in (none when ``None``) plus the built-in and registered ones."""
    plugin_stores = stores() if callable(stores) else stores
    return {**(plugin_stores or {}), **STORE_FACTORIES}


def register_store(scheme: str, factory: StoreFactory) -> None:
    """Make ``scheme://…`` URLs open with ``factory(url, agent_dir=…, readonly=…, namespace=…)``."""
    scheme = scheme.lower().removesuffix("://")
    if not _SCHEME.match(scheme + "://"):
        raise ValueError(f"not a URL scheme: {scheme!r}")
    STORE_FACTORIES[scheme] = factory


def redact_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe for messages and logs)."""
    url = re.sub(r"^([A-Za-z][A-Za-z0-9+.\-]*://[^/@:]*):[^/@]*@", r"\1:***@", url)
    return re.sub(r"([?&]password=)[^&#]*", r"\1***", url, flags=re.IGNORECASE)


def check_store_url(url: str, stores: PluginStores | None = None) -> None:
    """Raise :class:`StateURLError` when ``url`` names no known kind of store (nothing is opened).

    ``stores`` are the plugin stores by scheme (:data:`PluginStores`; default: none).
    """
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
    factories = _factories(stores)
    if scheme not in factories:
        raise StateURLError(
            f"unknown state store scheme {scheme + '://'!r} in {redact_url(url)!r}",
            hint=f"known schemes: {_known(factories)}; a file path ending in {', '.join(SQLITE_SUFFIXES)} also "
            "works; a plugin package may add more (see mp-policy plugins)",
        )


def open_store(url: str | None, *, agent_dir: Path, readonly: bool = False, namespace: str = "default",
               stores: PluginStores | None = None) -> StateStore:
    """Open the state store named by ``url`` (``None``: ``<agent_dir>/mp-policy-state.db``).

    ``stores`` are the plugin stores by scheme (:data:`PluginStores`; default: none). Raises
    :class:`StateError` for an unknown scheme or a store that cannot be opened.
    """
    if url is None or not url.strip():
        return SqliteStore(Path(agent_dir) / DEFAULT_STATE_FILENAME, readonly=readonly, namespace=namespace)
    url = url.strip()
    match = _SCHEME.match(url)
    if match is None or match.group(1).lower() in STORE_FACTORIES:
        factories: dict[str, StoreFactory] = STORE_FACTORIES  # built-in schemes need no plugin registry
    else:
        factories = _factories(stores)
    check_store_url(url, factories)
    if match is None:
        return SqliteStore(sqlite_path_from_url(url), readonly=readonly, namespace=namespace)
    factory = factories[match.group(1).lower()]
    return factory(url, agent_dir=Path(agent_dir), readonly=readonly, namespace=namespace)


def open_state(url: str | None, *, agent_dir: Path, readonly: bool = False, namespace: str = "default",
               stores: PluginStores | None = None, fallback: str = "error") -> StateStore:
    """:func:`open_store`, plus ``fallback="local"`` (``settings.stateFallback``): a remote store that
    cannot be reached, at start or later, is replaced by the local SQLite file until it is back
    (see :mod:`policy_engine.state.fallback`). Local stores (memory, SQLite) never fall back."""
    def primary() -> StateStore:
        return open_store(url, agent_dir=agent_dir, readonly=readonly, namespace=namespace, stores=stores)

    match = _SCHEME.match(url.strip()) if url else None
    if fallback != "local" or match is None or match.group(1).lower() in {"memory", "sqlite"}:
        return primary()
    from policy_engine.state.fallback import FallbackStore

    def local() -> StateStore:
        return open_store(None, agent_dir=agent_dir, readonly=readonly, namespace=namespace)

    return FallbackStore(primary, local, primary_url=redact_url(url or ""), readonly=readonly, namespace=namespace)


def _known(factories: Mapping[str, StoreFactory] | None = None) -> str:
    return ", ".join(f"{s}://" for s in sorted(factories if factories is not None else STORE_FACTORIES))

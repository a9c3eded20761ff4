"""One engine per project overlay, all on one state store, rebuilt when their files change.

``cwd`` in a request picks the project overlay exactly as the command line does from its working
directory (:func:`policy_engine.policy.locations.find_project_file`, searching up); requests without
one use the server's default (``--project``, else the server's own working directory). Engines
are kept per overlay file (:class:`EngineCache`, at most :data:`MAX_ENGINES`, least recently used
first out), so every agent in one project shares one compiled policy.

Reload: before a request uses an engine, and at most once per :data:`RECHECK` seconds, the
stat signatures (mtime_ns, size, inode) of the global policy (every name it may have), the
overlay, ``auth.json`` and ``models.json`` are compared with those of the last load. On a change the engine is
rebuilt (compiled graphs are cached by content, so an unchanged policy costs a parse). A build
that fails keeps the last good engine in force and its diagnostics become warnings of every
answer until the files change again; a project whose files never loaded answers
``invalid-policy``. A change of ``auth.json`` rebuilds the engine too, so a new login counts
at once (:class:`~policy_engine.providers.auth.AuthFile` alone would notice within a second, but only by
mtime and size), and so does a change of ``models.json``: a custom provider declared there is an account.

All engines share one :class:`SharedStore`: the store opened at start, whose ``close`` is a
no-op for the engines (the server closes the real store when it exits). Turn ids are global.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from collections.abc import Collection, Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from policy_engine.common.diagnostics import PolicyError
from policy_engine.policy.locations import GLOBAL_NAMES, find_project_file, global_policy_file
from policy_engine.policy.locations import agent_dir as default_agent_dir
from policy_engine.providers.pi_providers import MODELS_FILE
from policy_engine.serve.protocol import ProtocolError
from policy_engine.state import StateChanges, StateSnapshot, StateStore, TurnRecord

if TYPE_CHECKING:
    from policy_engine.engine import Engine

__all__ = ["MAX_ENGINES", "RECHECK", "EngineCache", "EngineSlot", "SharedStore"]

#: Seconds between two checks of one engine's files (DESIGN §5.1: at most one check a second).
RECHECK = 1.0
#: Engines kept (one per project overlay in use); the least recently used one goes first.
MAX_ENGINES = 32
#: Working directories whose overlay lookup is remembered (each rechecked after RECHECK seconds).
MAX_CWDS = 256

Signature = tuple[tuple[str, tuple[int, int, int] | None], ...]


class SharedStore(StateStore):
    """The server's one state store as the engines see it: every call forwarded, ``close`` ignored."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner
        self.url = inner.url
        self.readonly = inner.readonly
        self.namespace = inner.namespace

    @property
    def warnings(self) -> list[str]:
        """What the store had to say (e.g. that a fallback store stands in)."""
        return list(getattr(self.inner, "warnings", ()))

    def snapshot(self) -> StateSnapshot:
        """See :meth:`StateStore.snapshot`."""
        return self.inner.snapshot()

    def get_turn(self, turn_id: str, now: datetime) -> TurnRecord | None:
        """See :meth:`StateStore.get_turn`."""
        return self.inner.get_turn(turn_id, now)

    def read(self, turn_id: str, now: datetime) -> tuple[TurnRecord | None, StateSnapshot]:
        """See :meth:`StateStore.read`."""
        return self.inner.read(turn_id, now)

    def apply(self, changes: StateChanges) -> None:
        """See :meth:`StateStore.apply`."""
        self.inner.apply(changes)

    def purge(self, now: datetime) -> int:
        """See :meth:`StateStore.purge`."""
        return self.inner.purge(now)

    def clear(self, parts: Collection[str] | None = None) -> None:
        """See :meth:`StateStore.clear`."""
        self.inner.clear(parts)

    def dump(self) -> dict[str, Any]:
        """See :meth:`StateStore.dump`."""
        return self.inner.dump()

    def close(self) -> None:
        """Nothing: the server closes the real store when it exits."""


def _working_directory(cwd: str) -> Path:
    """A request's ``cwd`` as a path, once it is checked to be an absolute path to a directory."""
    path = Path(cwd)
    if not path.is_absolute():
        raise ProtocolError("bad-request", f"cwd {cwd!r} is not an absolute path",
                            "send the agent's working directory as an absolute path")
    if not path.is_dir():
        raise ProtocolError("bad-request", f"cwd {cwd!r} is not a directory",
                            "send the agent's working directory (it picks the project overlay)")
    return path


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        info = path.stat()
    except OSError:
        return None
    return (info.st_mtime_ns, info.st_size, info.st_ino)


class EngineSlot:
    """The engine of one project overlay (``key``: the overlay file, ``None`` for none) and its reload state."""

    def __init__(self, cache: EngineCache, key: str | None) -> None:
        self.cache = cache
        self.key = key
        self.engine: Engine | None = None
        self.problems: list[str] = []  # diagnostics of files that do not load (the last good engine stays)
        self.signature: Signature | None = None
        self.checked = float("-inf")
        self.lock = threading.Lock()

    def files(self) -> list[Path]:
        """The files whose change rebuilds this engine: global policy names, the overlay, ``auth.json`` and
        pi's ``models.json`` (its custom providers are accounts)."""
        out = list(self.cache.global_candidates)
        if self.key is not None:
            out.append(Path(self.key))
        out.append(self.cache.agent_dir / "auth.json")
        out.append(self.cache.agent_dir / MODELS_FILE)
        return out

    def _signature(self) -> Signature:
        return tuple((str(p), _stat(p)) for p in self.files())

    def refresh(self, *, force: bool = False) -> bool:
        """Rebuild the engine when its files changed (checked at most once per RECHECK seconds, unless
        ``force``); True when a new engine was built. Never raises for a broken policy."""
        now = time.monotonic()
        if not force and now - self.checked < RECHECK and self.signature is not None:
            return False
        if not self.lock.acquire(blocking=self.engine is None or force):
            return False  # another thread is checking; use the engine in force meanwhile
        try:
            if not force and now - self.checked < RECHECK and self.signature is not None:
                return False
            self.checked = time.monotonic()
            signature = self._signature()
            if signature == self.signature and not force:
                return False
            self.signature = signature
            return self._build()
        finally:
            self.lock.release()

    def _build(self) -> bool:
        try:
            engine = self.cache.build(self.key)
        except PolicyError as exc:
            self.problems = [d.format() for d in exc.diagnostics if d.severity == "error"] or [str(exc)]
            return False
        except (OSError, ValueError) as exc:  # a file that vanished between the stat and the read, ...
            self.problems = [f"{self.key or 'policy'}: cannot load: {exc}"]
            return False
        old, self.engine, self.problems = self.engine, engine, []
        if old is not None:
            old.close()  # stops its background quota refresh; the shared store stays open
        return True

    def get(self) -> Engine:
        """The engine in force (after a due check); ``invalid-policy`` when the files never loaded."""
        self.refresh()
        engine = self.engine
        if engine is None:
            detail = "; ".join(p.splitlines()[0] for p in self.problems[:3])
            raise ProtocolError("invalid-policy", f"the policy for this project does not load: {detail}",
                                "fix the files (`mp-policy validate` lists every problem); the server picks the "
                                "fix up on the next request")
        return engine

    def warnings(self) -> list[str]:
        """What every answer that used this engine carries: a broken edit, auth and state problems."""
        out: list[str] = []
        engine = self.engine
        if self.problems and engine is not None:
            out.append(f"the policy files changed and do not load; the last good policy (revision "
                       f"{engine.graph.revision}) stays in force until they are fixed")
        out += self.problems
        if engine is not None:
            out += engine.auth_warnings + engine.state_warnings
        return out


class EngineCache:
    """Engines by project overlay, on one shared store (see the module docstring)."""

    def __init__(self, *, agent_dir: Path | None, policy: Path | None, project: Path | None,
                 store: SharedStore, quota_refresh: bool, env: Mapping[str, str] | None = None,
                 cwd: Path | None = None) -> None:
        self.env = dict(os.environ if env is None else env)
        self.agent_dir = default_agent_dir(agent_dir, self.env)
        self.agent_dir_option = agent_dir
        self.policy = policy
        self.project = project
        self.store = store
        self.quota_refresh = quota_refresh
        self.cwd = cwd or Path.cwd()
        self._slots: OrderedDict[str | None, EngineSlot] = OrderedDict()
        self._cwds: OrderedDict[str | None, tuple[str | None, float]] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def global_candidates(self) -> list[Path]:
        """Where the global policy is (``--policy``) or may appear (every name in the agent directory)."""
        if self.policy is not None:
            return [self.policy]
        return [self.agent_dir / name for name in GLOBAL_NAMES]

    def build(self, key: str | None) -> Engine:
        """A new engine for the overlay ``key`` (``None``: no overlay) on the shared store."""
        from policy_engine.engine import Engine

        return Engine.load(agent_dir=self.agent_dir_option, project=Path(key) if key else None,
                           policy=self.policy, state=self.store, env=self.env, search_project=False,
                           quota_refresh=self.quota_refresh)

    def adopt(self, key: str | None, engine: Engine) -> EngineSlot:
        """Take an engine loaded elsewhere (the one the command line built at start) as ``key``'s."""
        slot = EngineSlot(self, key)
        slot.engine = engine
        slot.signature = slot._signature()
        slot.checked = time.monotonic()
        with self._lock:
            self._slots[key] = slot
        return slot

    def overlay_for(self, cwd: str | None) -> str | None:
        """The overlay file (resolved) that applies in ``cwd`` (``None``: the server's default).

        Looked up at most once per :data:`RECHECK` seconds for each ``cwd``, and so is the check that
        ``cwd`` is an absolute path to a directory (a ``bad-request`` :class:`ProtocolError` otherwise):
        a request costs no file-system call of its own.
        """
        now = time.monotonic()
        with self._lock:
            known = self._cwds.get(cwd)
        if known is not None and now - known[1] < RECHECK:
            return known[0]
        if cwd is None:
            start, search = (self.project, False) if self.project is not None else (self.cwd, True)
        else:
            start, search = _working_directory(cwd), True
        global_path = global_policy_file(self.agent_dir) if self.policy is None else self.policy
        found = find_project_file(start, search_up=search, exclude=global_path)
        key = str(found.resolve()) if found is not None else None
        with self._lock:
            self._cwds[cwd] = (key, now)
            self._cwds.move_to_end(cwd)
            while len(self._cwds) > MAX_CWDS:
                self._cwds.popitem(last=False)
        return key

    def slot(self, cwd: str | None) -> EngineSlot:
        """The slot for requests from ``cwd`` (created, and its engine built, on first use); a ``bad-request``
        :class:`ProtocolError` for a ``cwd`` that is not an absolute path to a directory."""
        return self.slot_for_key(self.overlay_for(cwd))

    def slot_for_key(self, key: str | None) -> EngineSlot:
        """The slot of the overlay ``key`` (created on first use)."""
        evicted: list[EngineSlot] = []
        with self._lock:
            slot = self._slots.get(key)
            if slot is None:
                slot = self._slots[key] = EngineSlot(self, key)
            self._slots.move_to_end(key)
            while len(self._slots) > MAX_ENGINES:
                evicted.append(self._slots.popitem(last=False)[1])
        for old in evicted:
            if old.engine is not None:
                old.engine.close()
        return slot

    def slots(self) -> list[EngineSlot]:
        """The slots in use, most recently used last."""
        with self._lock:
            return list(self._slots.values())

    def forget_cwds(self) -> None:
        """Look every working directory's overlay up again on next use (``reload``)."""
        with self._lock:
            self._cwds.clear()

    def close(self) -> None:
        """Stop every engine's background work (the shared store is closed by its owner)."""
        for slot in self.slots():
            if slot.engine is not None:
                slot.engine.close()

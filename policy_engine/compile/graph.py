"""The compiled evaluation graph: immutable pools, chains and presets with lookup indexes.

Built by :func:`policy_engine.compile.compiler.compile_policy`; evaluated by :mod:`policy_engine.evaluate.walk`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import timedelta, tzinfo
from functools import cached_property
from typing import TYPE_CHECKING, Any

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.records import dataclass
from policy_engine.providers.families import base_of

if TYPE_CHECKING:
    from policy_engine.classify import Classifier, PolicyErrorRule, ProviderRule

__all__ = ["CompiledChain", "CompiledEntry", "CompiledPool", "CompiledPreset", "Graph", "Settings", "TraceSettings"]

DEFAULT_ROTATE_ON = frozenset({"rate_limit", "quota_exhausted", "overloaded"})


@dataclass(frozen=True, slots=True)
class TraceSettings:
    """``settings.trace``: whether decisions are traced, and how much of the trace the store keeps."""

    enabled: bool = True
    entries: int | None = 10_000
    age: timedelta | None = timedelta(days=7)
    max_bytes: int | None = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Settings:
    """Effective settings with defaults applied."""

    cooldown: timedelta = timedelta(minutes=5)
    timezone: tzinfo | None = None
    timezone_name: str | None = None
    selector_timeout: timedelta = timedelta(milliseconds=250)
    turn_ttl: timedelta = timedelta(hours=1)
    quota_ttl: timedelta = timedelta(seconds=60)
    quota_budget: timedelta = timedelta(milliseconds=50)
    rotate_on: frozenset[str] = DEFAULT_ROTATE_ON
    state: str | None = None
    state_fallback: str = "error"  # "local": use the local SQLite state while a remote store is unreachable
    quota_endpoints: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # base -> quota endpoint URLs
    trace: TraceSettings = TraceSettings()


@dataclass(eq=False, slots=True)
class CompiledPool:
    """A pool: its members as allowed (rotation order) and as written, strategy and schedule data."""

    name: str
    base: str
    members: tuple[str, ...]
    written_members: tuple[str, ...]
    enabled: bool
    strategy_name: str
    # A :class:`policy_engine.strategies.base.Strategy`; typed loosely here because strategies take
    # compiled pools (the strategy interface stands on this module, not the other way round).
    strategy: Any
    cooldown: timedelta
    tz: tzinfo
    member_schedule: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    selector_script: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    quota_ttl: timedelta | None = None
    selector_timeout: timedelta = timedelta(milliseconds=250)
    source_dir: str | None = None  # the folder of the file that declares the pool (relative script paths)
    dropped: bool = False  # every member removed by the project allow-list
    prepared: Any = None
    position: Mapping[str, int] = field(default_factory=dict)  # written member -> index
    member_set: frozenset[str] = frozenset()
    pi_tolerant: bool = False  # declared in a multi-pass.json: schedules read with pi's tolerance (DESIGN §3)

    def rotation_from(self, start: str | None) -> list[str]:
        """Members in rotation order starting at ``start`` (the cursor), else at the first member."""
        members = self.members
        if not members:
            return []
        if start is not None and start in self.member_set:
            i = members.index(start)
            return list(members[i:] + members[:i])
        if start is not None and start in self.position:
            return self.rotation_after(start)
        return list(members)

    def rotation_after(self, provider: str) -> list[str]:
        """Members in rotation order after ``provider`` (wrapping), without it."""
        written = self.written_members
        pos = self.position.get(provider)
        if pos is None:
            return [m for m in self.members if m != provider]
        order = written[pos + 1 :] + written[:pos]
        allowed = self.member_set
        seen: set[str] = set()
        out = []
        for m in order:
            if m in allowed and m != provider and m not in seen:
                seen.add(m)
                out.append(m)
        return out


@dataclass(frozen=True, slots=True)
class CompiledEntry:
    """A chain entry (``pool``) or preset entry (``provider``), with its written 0-based index."""

    index: int
    model: str | None
    enabled: bool
    pool: str | None = None
    provider: str | None = None
    dropped: bool = False  # a chain entry into a pool the allow-list emptied


@dataclass(frozen=True, slots=True)
class CompiledChain:
    """An ordered list of (pool, model) entries."""

    name: str
    enabled: bool
    entries: tuple[CompiledEntry, ...]


@dataclass(frozen=True, slots=True)
class CompiledPreset:
    """An ordered list of (provider, model) entries."""

    name: str
    enabled: bool
    entries: tuple[CompiledEntry, ...]


@dataclass(frozen=True)
class Graph:
    """Everything needed to evaluate requests against one effective policy."""

    revision: str
    settings: Settings
    tz: tzinfo
    accounts: frozenset[str]
    bases: frozenset[str]
    allowed: frozenset[str] | None
    pools: Mapping[str, CompiledPool]
    chains: Mapping[str, CompiledChain]
    presets: Mapping[str, CompiledPreset]
    provider_pool: Mapping[str, str]  # provider -> first enabled pool (as written) listing it
    pool_chain: Mapping[str, tuple[str, int]]  # pool -> (first enabled chain containing it, entry index)
    error_rules: tuple[PolicyErrorRule, ...]  # the policy's own errorRules, compiled
    provider_rules: Mapping[str, tuple[ProviderRule, ...]]  # base provider -> its plugin's rules
    models: Mapping[str, frozenset[str]]  # base provider -> model catalogue (when known)
    labels: Mapping[str, str]  # account -> label
    diagnostics: tuple[Diagnostic, ...] = ()
    base_dir: str | None = None

    @cached_property
    def classifier(self) -> Classifier:
        """The error classifier (policy rules, then provider rules), built on the first failure."""
        from policy_engine.classify import Classifier

        return Classifier(policy_rules=self.error_rules, provider_rules=self.provider_rules)

    def base_of(self, provider: str) -> str | None:
        """The base provider of an account name."""
        return base_of(provider, self.bases)

    def pool_of(self, provider: str) -> CompiledPool | None:
        """The pool a provider belongs to (first enabled pool listing it, before the allow-list)."""
        name = self.provider_pool.get(provider)
        return self.pools[name] if name is not None else None

    @property
    def warnings(self) -> list[Diagnostic]:
        """Compile warnings."""
        return [d for d in self.diagnostics if d.severity == "warning"]

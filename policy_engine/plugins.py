"""The plugin manager, and the registry of what plugins contribute.

Built-in strategies, providers and state stores are plugins registered by default
(:data:`DEFAULT_PLUGINS`) through the same hooks (:mod:`policy_engine.hookspecs`) as third-party
packages, which are discovered through the ``mp_policy`` entry-point group.

Discovery is controlled by two environment variables:

- ``MP_POLICY_DISABLE_PLUGIN_AUTOLOAD`` (any non-empty value): load no third-party plugin.
- ``MP_POLICY_LOAD_PLUGINS``: an allow-list; only entry points (or distributions) named in this
  comma-separated list are loaded. Set but empty: none.

A plugin that fails to import is reported (:class:`PluginProblem`), never fatal. Two
distributions declaring the same entry-point name are reported with both names (only the
first is loaded); so are two plugins claiming one strategy name, quota-checker base or URL scheme.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import field
from functools import cache
from typing import TYPE_CHECKING, Any

import pluggy

from policy_engine import hookspecs
from policy_engine.common.records import dataclass
from policy_engine.hookspecs import PluginHooks
from policy_engine.providers.families import CredentialReader, ProviderSpec
from policy_engine.strategies.base import Strategy

if TYPE_CHECKING:
    from policy_engine.quota import QuotaChecker
    from policy_engine.state import StoreFactory, StoreSpec

__all__ = [
    "ALLOW_ENV",
    "DEFAULT_PLUGINS",
    "DISABLE_ENV",
    "PluginInfo",
    "PluginProblem",
    "Registry",
    "build_registry",
    "entry_points",
    "get_registry",
    "make_plugin_manager",
    "plugin_stores",
    "registry_for",
]

DISABLE_ENV = "MP_POLICY_DISABLE_PLUGIN_AUTOLOAD"
ALLOW_ENV = "MP_POLICY_LOAD_PLUGINS"

DEFAULT_PLUGINS = (
    "policy_engine.strategies.round_robin",
    "policy_engine.strategies.quota_first",
    "policy_engine.strategies.scheduled",
    "policy_engine.strategies.custom",
    "policy_engine.providers.builtin",
    "policy_engine.state.builtin",
    "policy_engine.quota.builtin",
)


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded or that conflicts with another one."""

    plugin: str
    message: str


@dataclass(frozen=True)
class PluginInfo:
    """Where a loaded plugin comes from: its name, module, distribution and version."""

    name: str
    module: str
    builtin: bool
    distribution: str | None = None
    version: str | None = None
    entry_point: str | None = None
    location: str | None = None  # the file the plugin module was loaded from


@dataclass(frozen=True)
class Registry:
    """What the loaded plugins register: strategies by name, providers by base key, quota checkers
    by base, state stores by URL scheme; who registered each; and the problems found."""

    strategies: Mapping[str, Strategy]
    providers: Mapping[str, ProviderSpec]
    strategy_owner: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[PluginProblem, ...] = ()
    quota_checkers: Mapping[str, QuotaChecker] = field(default_factory=dict)
    stores: Mapping[str, StoreSpec] = field(default_factory=dict)
    owners: Mapping[tuple[str, str], str] = field(default_factory=dict)  # (kind, key) -> plugin
    plugins: tuple[PluginInfo, ...] = ()
    conflicts: Mapping[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (kind, key) -> plugins

    @property
    def bases(self) -> frozenset[str]:
        """The base provider keys."""
        return frozenset(self.providers)

    @property
    def store_factories(self) -> dict[str, Any]:
        """The state stores as ``scheme -> factory`` (what :func:`policy_engine.state.open_store` takes)."""
        return {scheme: spec.factory for scheme, spec in self.stores.items()}

    @property
    def credential_readers(self) -> dict[str, CredentialReader]:
        """The credential reader of each provider family."""
        return {base: spec.read_credential for base, spec in self.providers.items()}

    def with_providers(self, names: Iterable[str], owner: str = "models.json") -> Registry:
        """This registry plus a generic family (no error rules, no model catalogue) for each of ``names``
        it does not know yet (pi's ``models.json`` custom providers); itself when there is none."""
        extra = [n for n in dict.fromkeys(names) if n not in self.providers]
        if not extra:
            return self
        providers = {**self.providers, **{n: ProviderSpec(base=n, display_name=f"{n} ({owner})") for n in extra}}
        owners = {**self.owners, **{("providers", n): owner for n in extra}}
        return dataclasses.replace(self, providers=providers, owners=owners)

    def contributions(self, plugin: str) -> dict[str, list[str]]:
        """What ``plugin`` registers: ``{"strategies": [...], "providers": [...], ...}`` (empty kinds left out)."""
        out: dict[str, list[str]] = {}
        for (kind, key), owner in self.owners.items():
            if owner == plugin:
                out.setdefault(kind, []).append(key)
        return {kind: sorted(keys) for kind, keys in sorted(out.items())}


def entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group``: without importing importlib.metadata when none is
    declared, or when nothing was installed or changed since the last start (a cache file)."""
    from policy_engine.common.entry_points import find_entry_points
    from policy_engine.policy.validation_cache import cache_dir

    folder = cache_dir()
    return find_entry_points(group, folder / "entry-points" / f"{group}.json" if folder else None)


def _distribution(ep: Any) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    try:
        return dist.metadata["Name"], dist.version
    except Exception:  # a broken METADATA file must not stop the listing
        return getattr(dist, "name", None), None


def _allowed(ep: Any, allow: set[str] | None) -> bool:
    if allow is None:
        return True
    dist, _ = _distribution(ep)
    return ep.name in allow or (dist is not None and dist in allow)


def make_plugin_manager(autoload: bool | None = None) -> tuple[pluggy.PluginManager, list[PluginProblem]]:
    """A plugin manager with the built-in plugins and (unless disabled) the installed ones.

    Also returns the problems met while loading. Where each plugin came from is kept on the
    manager (``pm.mp_policy_info``: name -> :class:`PluginInfo`) for :func:`build_registry`.
    """
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    problems: list[PluginProblem] = []
    info: dict[str, PluginInfo] = {}
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
        info[name] = PluginInfo(name=name, module=name, builtin=True, distribution="mp-policy")
    if autoload is None:
        autoload = not os.environ.get(DISABLE_ENV)
    if autoload:
        raw_allow = os.environ.get(ALLOW_ENV)
        allow = None if raw_allow is None else {p.strip() for p in raw_allow.split(",") if p.strip()}
        for ep in entry_points(group=hookspecs.PROJECT):
            if not _allowed(ep, allow):
                continue
            dist, version = _distribution(ep)
            if ep.name in info:
                first = info[ep.name]
                if first.entry_point != ep.value or first.distribution != dist:
                    problems.append(PluginProblem(ep.name, (
                        f"two plugins are named {ep.name!r}: {first.distribution or first.module} "
                        f"({first.entry_point or first.module}) and {dist or '?'} ({ep.value}); "
                        f"only the first is loaded — uninstall one of them"
                    )))
                continue
            if pm.is_blocked(ep.name):
                continue
            try:
                plugin = ep.load()
                pm.register(plugin, name=ep.name)
            except Exception as exc:  # a broken plugin must never take the engine down
                where = f" (from {dist})" if dist else ""
                problems.append(PluginProblem(ep.name, f"failed to load {ep.value}{where}: {exc!r}"))
                continue
            info[ep.name] = PluginInfo(name=ep.name, module=ep.value, builtin=False, distribution=dist,
                                       version=version, entry_point=ep.value,
                                       location=getattr(plugin, "__file__", None))
    pm.mp_policy_info = info  # type: ignore[attr-defined]
    return pm, problems


@cache
def get_registry() -> Registry:
    """The process-wide registry (built once, with the installed plugins)."""
    return build_registry(*make_plugin_manager())


def plugin_stores() -> Mapping[str, StoreFactory]:
    """The installed plugins' state stores by scheme, for ``open_store(..., stores=plugin_stores)``.

    Handed to :mod:`policy_engine.state` as a function, so the registry is built only for a URL
    whose scheme is not built in (the state package never imports the registry itself).
    """
    return get_registry().store_factories


_AGENT_REGISTRIES: dict[tuple[int, tuple[str, ...]], tuple[Registry, Registry]] = {}


def registry_for(agent_dir: str | os.PathLike[str] | None, registry: Registry | None = None) -> Registry:
    """``registry`` (default: :func:`get_registry`) plus the custom providers of ``<agent_dir>/models.json``.

    Every provider pi knows is an account family (DESIGN §3): pi's built-in providers are registered
    by the built-in plugin; the custom ones depend on the agent directory, so they are added here.
    """
    from policy_engine.providers.pi_providers import custom_providers

    base = registry or get_registry()
    if agent_dir is None:
        return base
    names = custom_providers(agent_dir)
    if not names:
        return base
    key = (id(base), names)
    found = _AGENT_REGISTRIES.get(key)
    if found is None or found[0] is not base:
        found = (base, base.with_providers(names))
        _AGENT_REGISTRIES[key] = found
    return found[1]


def build_registry(pm: pluggy.PluginManager, problems: list[PluginProblem] | None = None) -> Registry:
    """Collect what the plugins registered on ``pm`` contribute.

    Two plugins registering one strategy name, quota-checker base or store scheme is a problem that
    names both (the first one wins). For a provider base key the plugin registered last wins, so a
    plugin can refine a built-in family.
    """
    problems = list(problems or [])
    hooks = PluginHooks(pm)
    owners: dict[tuple[str, str], str] = {}
    conflicts: dict[tuple[str, str], tuple[str, ...]] = {}

    def claim(kind: str, key: str, plugin: str, label: str) -> bool:
        first = owners.get((kind, key))
        if first is not None and first != plugin:
            problems.append(PluginProblem(plugin, f"{label} {key!r} is registered by both {first} and {plugin}; "
                                                  f"{first}'s is used"))
            conflicts[(kind, key)] = (*conflicts.get((kind, key), (first,)), plugin)
            return False
        owners[(kind, key)] = plugin
        return True

    strategies: dict[str, Strategy] = {}
    for plugin, strategy in hooks.strategies():
        if claim("strategies", strategy.name, plugin, "strategy"):
            strategies[strategy.name] = strategy
    providers: dict[str, ProviderSpec] = {}
    for plugin, spec in hooks.providers():
        providers[spec.base] = spec
        owners[("providers", spec.base)] = plugin
    checkers: dict[str, QuotaChecker] = {}
    for plugin, checker in hooks.quota_checkers():
        if claim("quota-checkers", checker.base, plugin, "quota checker for"):
            checkers[checker.base] = checker
    stores: dict[str, StoreSpec] = {}
    for plugin, spec in hooks.state_stores():
        scheme = spec.scheme.lower()
        if claim("state-stores", scheme, plugin, "state store scheme"):
            stores[scheme] = spec
    info: dict[str, PluginInfo] = dict(getattr(pm, "mp_policy_info", {}))
    for name, plugin_obj in pm.list_name_plugin():
        if name not in info:
            module = getattr(plugin_obj, "__name__", repr(plugin_obj))
            info[name] = PluginInfo(name=name, module=module, builtin=False)
    return Registry(
        strategies=strategies, providers=providers,
        strategy_owner={key: owner for (kind, key), owner in owners.items() if kind == "strategies"},
        problems=tuple(problems), quota_checkers=checkers, stores=stores, owners=owners, conflicts=conflicts,
        plugins=tuple(info[name] for name, _ in pm.list_name_plugin() if name in info),
    )

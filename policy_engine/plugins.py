"""The plugin manager and the registry of what plugins contribute.

Built-in strategies and providers are plugins registered by default through the same hooks
(:mod:`policy_engine.hookspecs`) as third-party packages, which are discovered through the
``mp_policy`` entry-point group. A plugin that fails to import is reported, not fatal; setting
``MP_POLICY_DISABLE_PLUGIN_AUTOLOAD`` skips discovery of third-party plugins.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import pluggy

from policy_engine import hookspecs
from policy_engine.providers import ProviderSpec
from policy_engine.strategies.base import Strategy

__all__ = ["DEFAULT_PLUGINS", "PluginProblem", "Registry", "build_registry", "get_registry", "make_plugin_manager"]

DEFAULT_PLUGINS = (
    "policy_engine.strategies.round_robin",
    "policy_engine.strategies.quota_first",
    "policy_engine.strategies.scheduled",
    "policy_engine.strategies.custom",
    "policy_engine.builtin_providers",
)


@dataclass(frozen=True)
class PluginProblem:
    """A plugin that could not be loaded or that conflicts with another one."""

    plugin: str
    message: str


@dataclass(frozen=True)
class Registry:
    """What the loaded plugins register: strategies by name, providers by base key."""

    strategies: Mapping[str, Strategy]
    providers: Mapping[str, ProviderSpec]
    strategy_owner: Mapping[str, str] = field(default_factory=dict)
    problems: tuple[PluginProblem, ...] = ()

    @property
    def bases(self) -> frozenset[str]:
        """The base provider keys."""
        return frozenset(self.providers)


def _may_have_entry_points(group: str) -> bool:
    """A cheap look for ``[group]`` in installed packages' ``entry_points.txt`` (no importlib.metadata).

    Importing :mod:`importlib.metadata` costs tens of milliseconds at every start; this scan of the
    path's ``*.dist-info`` / ``*.egg-info`` folders decides whether that is needed at all.
    """
    import sys

    needle = f"[{group}]"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for name in names:
            if not name.endswith((".dist-info", ".egg-info")):
                continue
            try:
                with open(os.path.join(entry or ".", name, "entry_points.txt"), encoding="utf-8") as handle:
                    if needle in handle.read():
                        return True
            except OSError:
                continue
    return False


def entry_points(group: str) -> list[Any]:
    """The installed entry points of ``group`` (empty without importing importlib.metadata when none)."""
    if not _may_have_entry_points(group):
        return []
    from importlib.metadata import entry_points as find

    return list(find(group=group))


def make_plugin_manager(autoload: bool | None = None) -> tuple[pluggy.PluginManager, list[PluginProblem]]:
    """A plugin manager with the built-in plugins and (unless disabled) the installed ones."""
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    problems: list[PluginProblem] = []
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if autoload is None:
        autoload = not os.environ.get("MP_POLICY_DISABLE_PLUGIN_AUTOLOAD")
    if autoload:
        for ep in entry_points(group=hookspecs.PROJECT):
            if pm.get_plugin(ep.name) is not None or pm.is_blocked(ep.name):
                continue
            try:
                pm.register(ep.load(), name=ep.name)
            except Exception as exc:  # a broken plugin must never take the engine down
                problems.append(PluginProblem(ep.name, f"failed to load {ep.value}: {exc!r}"))
    return pm, problems


def _plugin_name(pm: pluggy.PluginManager, impl: Any) -> str:
    return pm.get_name(impl.plugin) or repr(impl.plugin)


@cache
def get_registry() -> Registry:
    """The process-wide registry (built once, with the installed plugins)."""
    return build_registry(*make_plugin_manager())


def build_registry(pm: pluggy.PluginManager, problems: list[PluginProblem] | None = None) -> Registry:
    """Collect what the plugins registered on ``pm`` contribute.

    Two plugins registering one strategy name is a problem that names both (the first one wins).
    """
    problems = list(problems or [])
    strategies: dict[str, Strategy] = {}
    owner: dict[str, str] = {}
    for impl in pm.hook.mp_policy_strategies.get_hookimpls():
        plugin = _plugin_name(pm, impl)
        for strategy in impl.function() or ():
            if strategy.name in strategies:
                problems.append(PluginProblem(
                    plugin, f"strategy {strategy.name!r} is registered by both {owner[strategy.name]} and {plugin}"
                ))
                continue
            strategies[strategy.name] = strategy
            owner[strategy.name] = plugin
    providers: dict[str, ProviderSpec] = {}
    for specs in reversed(pm.hook.mp_policy_providers()):
        for spec in specs or ():
            providers.setdefault(spec.base, spec)
    return Registry(strategies=strategies, providers=providers, strategy_owner=owner, problems=tuple(problems))

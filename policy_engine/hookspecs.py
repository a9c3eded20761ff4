"""Hook specifications of the ``mp_policy`` plugin project (pluggy), and a typed facade over them.

Built-in strategies, providers and state stores are registered through these same hooks, as a
third-party package registers its own: it declares an entry point in the group ``mp_policy``
(``[project.entry-points.mp_policy] name = "pkg.module"``) and the module defines functions
decorated with :data:`hookimpl`. Each hook takes no arguments and returns a list; the plugin
manager merges the lists of every plugin (call sites go through :class:`PluginHooks`).

Hooks, by what they contribute:

- :func:`mp_policy_strategies` — pool strategies, by name (``round-robin``, ``weighted``, ...).
- :func:`mp_policy_providers` — provider families: base key, display name, error-classification
  rules, credential reading, model catalogue.
- :func:`mp_policy_quota_checkers` — quota checkers, by base provider.
- :func:`mp_policy_state_stores` — state stores, by URL scheme (``sqlite``, ``redis``, ...).

Conflicts are reported, never silently resolved: two plugins registering one strategy name, one
quota checker base or one URL scheme is a problem that names both (the first one registered wins).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from policy_engine.providers.families import ProviderSpec
    from policy_engine.quota import QuotaChecker
    from policy_engine.state import StoreSpec
    from policy_engine.strategies.base import Strategy

__all__ = [
    "PROJECT",
    "PluginHooks",
    "hookimpl",
    "hookspec",
    "mp_policy_providers",
    "mp_policy_quota_checkers",
    "mp_policy_state_stores",
    "mp_policy_strategies",
]

PROJECT = "mp_policy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mp_policy_strategies() -> Sequence[Strategy]:
    """Return strategy objects (:class:`policy_engine.strategies.base.Strategy`) to register.

    Each has a unique ``name`` used by ``pools[].strategy`` and may carry an ``options_schema``
    (JSON Schema for ``pools[].options``), checked when a policy is compiled.
    """


@hookspec
def mp_policy_providers() -> Sequence[ProviderSpec]:
    """Return provider families (:class:`policy_engine.providers.families.ProviderSpec`) to register.

    A provider's error rules are consulted after a policy's own ``errorRules`` and before the
    generic rules; its credential reader decides which ``auth.json`` entries count as a login;
    its model catalogue (when given) drives the ``no-model`` skip. For one base key the plugin
    registered last wins, so a plugin can refine a built-in family.
    """


@hookspec
def mp_policy_quota_checkers() -> Sequence[QuotaChecker]:
    """Return quota checkers (:class:`policy_engine.quota.QuotaChecker`), one per base provider."""


@hookspec
def mp_policy_state_stores() -> Sequence[StoreSpec]:
    """Return state stores (:class:`policy_engine.state.StoreSpec`), one per URL scheme."""


class PluginHooks:
    """A typed facade over the hooks: one method per hook, each returning ``(plugin name, item)`` pairs.

    Call sites use these methods instead of ``pm.hook.<name>(...)`` so that a misspelt hook is a
    type error, and every item keeps the name of the plugin that registered it (for conflicts and
    for ``mp-policy plugins``). Plugins are visited in registration order (built-ins first).
    """

    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    def _collect(self, hook: Any) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for impl in hook.get_hookimpls():  # registration order
            name = self.pm.get_name(impl.plugin) or repr(impl.plugin)
            for item in impl.function() or ():
                out.append((name, item))
        return out

    def strategies(self) -> list[tuple[str, Strategy]]:
        """Every registered strategy with its plugin."""
        return self._collect(self.pm.hook.mp_policy_strategies)

    def providers(self) -> list[tuple[str, ProviderSpec]]:
        """Every registered provider family with its plugin."""
        return self._collect(self.pm.hook.mp_policy_providers)

    def quota_checkers(self) -> list[tuple[str, QuotaChecker]]:
        """Every registered quota checker with its plugin."""
        return self._collect(self.pm.hook.mp_policy_quota_checkers)

    def state_stores(self) -> list[tuple[str, StoreSpec]]:
        """Every registered state store with its plugin."""
        return self._collect(self.pm.hook.mp_policy_state_stores)

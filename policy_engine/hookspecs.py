"""Hook specifications of the ``mp_policy`` plugin project (pluggy).

Built-in strategies and providers are registered through these same hooks, as a third-party
package would register its own (entry-point group ``mp_policy``). Each hook returns a list; the
plugin manager merges the lists of every plugin.

Hooks, by what they contribute:

- :func:`mp_policy_strategies` — pool strategies, by name (``round-robin``, ``quota-first``, ...).
- :func:`mp_policy_providers` — provider families: base key, display name, error rules, models.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from policy_engine.providers import ProviderSpec
    from policy_engine.strategies.base import Strategy

__all__ = ["PROJECT", "hookimpl", "hookspec", "mp_policy_providers", "mp_policy_strategies"]

PROJECT = "mp_policy"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mp_policy_strategies() -> Sequence[Strategy]:
    """Return strategy objects to register; each has a unique ``name`` used by ``pools[].strategy``.

    Two plugins registering the same name is an error that names both.
    """


@hookspec
def mp_policy_providers() -> Sequence[ProviderSpec]:
    """Return provider families (:class:`policy_engine.providers.ProviderSpec`) to register.

    A provider's error rules are consulted after a policy's own ``errorRules`` and before the
    generic rules; its model catalogue (when given) drives the ``no-model`` skip.
    """

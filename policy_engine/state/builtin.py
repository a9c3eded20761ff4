"""The built-in state stores (``memory://``, ``sqlite://``), registered as a default plugin."""

from __future__ import annotations

from policy_engine.hookspecs import hookimpl
from policy_engine.state import BUILTIN_STORES, StoreSpec

__all__ = ["mp_policy_state_stores"]


@hookimpl
def mp_policy_state_stores() -> list[StoreSpec]:
    """memory and sqlite."""
    return list(BUILTIN_STORES)

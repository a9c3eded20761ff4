"""The embedding API (DESIGN §5): :class:`Engine` and :class:`AsyncEngine`, the public face of the pipeline.

Takes in the files (or documents), a state store URL and credentials; gives out Decisions for
``select`` / ``fail`` / ``succeed`` and commits their state changes. It ties the stages together:
:mod:`policy_engine.policy` reads and validates, :mod:`policy_engine.compile` compiles,
:mod:`policy_engine.evaluate` decides, :mod:`policy_engine.state` remembers. The failover loop on top
of it is :mod:`policy_engine.engine.attempts`.
"""

from __future__ import annotations

from policy_engine.engine.async_engine import AsyncEngine
from policy_engine.engine.core import Engine
from policy_engine.evaluate.route import RouteError
from policy_engine.policy.sources import PolicySources

__all__ = ["AsyncEngine", "Engine", "PolicySources", "RouteError"]  # PolicySources, RouteError: re-exported

"""mp-policy: decide which AI account and model a coding agent uses, and where it goes when rate-limited.

The embedding API (DESIGN §5)::

    from policy_engine import Engine
    engine = Engine.load()                        # or Engine.from_documents(policy_dict, ...)
    d = engine.select(pool="codex", model="gpt-5")
    d = engine.fail(d.turn, status=429, headers={...})
    engine.succeed(d.turn)

    for attempt in engine.attempts(chain="main"):    # the failover loop (policy_engine.engine.attempts)
        with attempt:
            reply = clients[attempt.provider].chat.completions.create(model=attempt.model, ...)

Names are imported lazily, so ``import policy_engine`` stays cheap for the CLI.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

#: This mp-policy's version: the one source of the package metadata (pyproject.toml reads it),
#: ``mp-policy --version``, ``mp-policy plugins`` and serve's ``hello``.
__version__ = "0.2.0"

if TYPE_CHECKING:
    from policy_engine.classify import Classification, ErrorInfo
    from policy_engine.common.diagnostics import Diagnostic, PolicyError
    from policy_engine.engine import AsyncEngine, Engine
    from policy_engine.engine.attempts import (
        AsyncAttempt,
        AsyncAttempts,
        Attempt,
        AttemptError,
        AttemptRejected,
        Attempts,
        AttemptsExhausted,
    )
    from policy_engine.evaluate.decision import Decision, ErrorOutcome, SkipRecord, StrategyNote, Target
    from policy_engine.evaluate.route import RouteError
    from policy_engine.state import StateError, StateStore

__all__ = [
    "AsyncAttempt",
    "AsyncAttempts",
    "AsyncEngine",
    "Attempt",
    "AttemptError",
    "AttemptRejected",
    "Attempts",
    "AttemptsExhausted",
    "Classification",
    "Decision",
    "Diagnostic",
    "Engine",
    "ErrorInfo",
    "ErrorOutcome",
    "PolicyError",
    "RouteError",
    "SkipRecord",
    "StateError",
    "StateStore",
    "StrategyNote",
    "Target",
]

_WHERE = {
    "AsyncAttempt": "policy_engine.engine.attempts",
    "AsyncAttempts": "policy_engine.engine.attempts",
    "Attempt": "policy_engine.engine.attempts",
    "AttemptError": "policy_engine.engine.attempts",
    "AttemptRejected": "policy_engine.engine.attempts",
    "Attempts": "policy_engine.engine.attempts",
    "AttemptsExhausted": "policy_engine.engine.attempts",
    "AsyncEngine": "policy_engine.engine",
    "Engine": "policy_engine.engine",
    "Classification": "policy_engine.classify",
    "ErrorInfo": "policy_engine.classify",
    "Decision": "policy_engine.evaluate.decision",
    "ErrorOutcome": "policy_engine.evaluate.decision",
    "SkipRecord": "policy_engine.evaluate.decision",
    "StrategyNote": "policy_engine.evaluate.decision",
    "Target": "policy_engine.evaluate.decision",
    "Diagnostic": "policy_engine.common.diagnostics",
    "PolicyError": "policy_engine.common.diagnostics",
    "RouteError": "policy_engine.evaluate.route",
    "StateError": "policy_engine.state",
    "StateStore": "policy_engine.state",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'policy_engine' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted(__all__)

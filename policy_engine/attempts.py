"""Re-export: the failover loop lives in :mod:`policy_engine.engine.attempts` (the documented path stays)."""

from __future__ import annotations

from policy_engine.engine.attempts import (
    AsyncAttempt,
    AsyncAttempts,
    Attempt,
    AttemptError,
    AttemptRejected,
    Attempts,
    AttemptsExhausted,
)

__all__ = ["AsyncAttempt", "AsyncAttempts", "Attempt", "AttemptError", "AttemptRejected", "Attempts",
           "AttemptsExhausted"]

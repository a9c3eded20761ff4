"""A per-selector circuit breaker: stop paying the timeout for a script that keeps failing.

After :attr:`CircuitBreaker.threshold` costly failures in a row (timeouts, crashes, a worker that
cannot start) the breaker *opens*: calls are skipped, and the pool falls back to rotation order at
once, for :attr:`CircuitBreaker.base_pause` seconds. Then one trial call is let through
(*half-open*): success closes the breaker, another failure opens it again for twice as long (up to
:attr:`CircuitBreaker.max_pause`). Cheap failures (an exception, a wrong answer) do not count:
they cost no waiting. Time is the process's monotonic clock, never the policy clock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["CircuitBreaker"]


@dataclass
class CircuitBreaker:
    """Consecutive costly failures of one selector, and whether calls are paused."""

    threshold: int = 3
    base_pause: float = 30.0
    max_pause: float = 600.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    last_failure: str = ""
    open_until: float | None = None
    pause: float = 0.0
    _trial: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def allow(self) -> str | None:
        """``None`` when a call may go ahead; else why it is skipped (for the decision's note)."""
        with self._lock:
            if self.open_until is None:
                return None
            now = self.clock()
            if now >= self.open_until and not self._trial:
                self._trial = True  # half-open: one trial call
                return None
            wait = max(0.0, self.open_until - now)
            return (f"selector paused after {self.failures} failures in a row (last: {self.last_failure}); "
                    f"next try in {wait:.0f} s" if wait else
                    f"selector paused after {self.failures} failures in a row (last: {self.last_failure}); "
                    "a trial call is running")

    def success(self) -> None:
        """A call answered: close the breaker."""
        with self._lock:
            self.failures = 0
            self.open_until = None
            self.pause = 0.0
            self._trial = False

    def failure(self, reason: str, costly: bool) -> None:
        """A call failed; ``costly`` failures (time spent waiting) count towards opening."""
        with self._lock:
            if not costly:
                if self._trial:  # the trial answered, if badly: the script runs again
                    self.failures = 0
                    self.open_until = None
                    self.pause = 0.0
                    self._trial = False
                return
            self.failures += 1
            self.last_failure = reason
            if self._trial or self.failures >= self.threshold:
                self.pause = min(self.max_pause, self.pause * 2 if self.pause else self.base_pause)
                self.open_until = self.clock() + self.pause
                self._trial = False

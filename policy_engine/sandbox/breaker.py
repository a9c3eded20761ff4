"""A per-selector circuit breaker: stop paying the timeout for a script that keeps failing.

The breaker remembers the last :attr:`CircuitBreaker.window` calls of one selector. When
:attr:`CircuitBreaker.threshold` of them were costly failures (timeouts, crashes, a worker that
cannot start), it *opens*: calls are skipped, and the pool falls back to rotation order at once,
for :attr:`CircuitBreaker.base_pause` seconds. Then one trial call is let through (*half-open*):
an answer closes the breaker, another costly failure opens it again for twice as long (up to
:attr:`CircuitBreaker.max_pause`). Cheap failures (an exception, a wrong answer) cost no waiting:
they are remembered as calls, not counted as failures.

Successes do not wipe the record: a script that answers every other call and times out on the
others still reaches the threshold within the window (a success used to reset the count, so such
a script was never paused). The pause length only drops back to :attr:`base_pause` after a whole
window of calls without a costly failure. Time is the process's monotonic clock, never the
policy clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import field

from policy_engine.common.records import dataclass

__all__ = ["CircuitBreaker"]


@dataclass
class CircuitBreaker:
    """Recent calls of one selector (costly failure or not), and whether calls are paused."""

    threshold: int = 3
    window: int = 10
    base_pause: float = 30.0
    max_pause: float = 600.0
    clock: Callable[[], float] = field(default=time.monotonic, repr=False)
    last_failure: str = ""
    open_until: float | None = None
    pause: float = 0.0
    _trial: bool = False
    _recent: deque[bool] = field(default_factory=deque, repr=False)  # True: a costly failure
    _clean: int = 0  # calls in a row without a costly failure
    _opened_after: tuple[int, int] = (0, 0)  # (costly failures, calls) that opened the breaker last
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def failures(self) -> int:
        """Costly failures among the remembered calls."""
        return sum(self._recent)

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
            failed, calls = self._opened_after
            head = f"selector paused after {failed} failures in its last {calls} calls (last: {self.last_failure})"
            return f"{head}; next try in {wait:.0f} s" if wait else f"{head}; a trial call is running"

    def success(self) -> None:
        """A call answered (a trial that answers closes the breaker)."""
        self._record(costly=False)

    def failure(self, reason: str, costly: bool) -> None:
        """A call failed; ``costly`` failures (time spent waiting) count towards opening."""
        if costly:
            with self._lock:
                self.last_failure = reason
        self._record(costly)

    def _record(self, costly: bool) -> None:
        with self._lock:
            self._recent.append(costly)
            while len(self._recent) > self.window:
                self._recent.popleft()
            if not costly:
                self._clean += 1
                if self._trial:  # the trial answered (if badly): the script runs again, its record starts afresh
                    self._trial = False
                    self.open_until = None
                    self._recent.clear()
                if self._clean >= self.window:  # a whole window without trouble: forget the pauses
                    self.pause = 0.0
                return
            self._clean = 0
            if self._trial or self.failures >= self.threshold:
                self._opened_after = (self.failures, len(self._recent))
                self.pause = min(self.max_pause, self.pause * 2 if self.pause else self.base_pause)
                self.open_until = self.clock() + self.pause
                self._trial = False
                self._recent.clear()

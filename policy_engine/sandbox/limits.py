"""The limits on selector scripts that the compiler checks, apart from the runners (a light import)."""

from __future__ import annotations

from datetime import timedelta

__all__ = ["MAX_PYTHON_SOURCE_CHARS", "MAX_SELECTOR_TIMEOUT"]

#: The longest ``settings.selectorTimeout`` a policy may set. A selector runs on the decision path
#: of every turn of the pool: a call costs well under a millisecond (60-100 µs measured), so 5 s is
#: 20 times the 250 ms default and thousands of times what a few lines of code need, while a script
#: that keeps timing out costs its pool at most 3 x 5 s before the circuit breaker pauses it. Longer
#: would let a script from a cloned repository hold every decision for as long as it likes.
MAX_SELECTOR_TIMEOUT = timedelta(seconds=5)

#: The longest Python selector (characters) that is compiled at all; see
#: :mod:`policy_engine.sandbox.python_compile` (kept here so the engine's process need not import
#: RestrictedPython, which only workers use).
MAX_PYTHON_SOURCE_CHARS = 64 * 1024

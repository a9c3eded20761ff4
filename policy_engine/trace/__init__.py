"""The decision trace: one entry per state-writing ``select``, ``fail`` and ``succeed`` (see ``docs/trace.md``).

* :mod:`.entry` builds the entries (version :data:`TRACE_VERSION`) the engine appends to its store's log;
* :mod:`.read` finds, filters and follows them in a store or a JSONL export;
* :mod:`.story` renders them as a table or as one turn's story;
* :mod:`.replay` feeds a recorded trace to another policy; :mod:`.metrics` exposes Prometheus metrics.
"""

from __future__ import annotations

from policy_engine.trace.entry import TRACE_VERSION, decision_entry, succeed_entry

__all__ = ["TRACE_VERSION", "decision_entry", "succeed_entry"]

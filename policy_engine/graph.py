"""Re-export: the compiled graph lives in :mod:`policy_engine.compile.graph` (plugins type against this path)."""

from __future__ import annotations

from policy_engine.compile.graph import (
    CompiledChain,
    CompiledEntry,
    CompiledPool,
    CompiledPreset,
    Graph,
    Settings,
    TraceSettings,
)

__all__ = ["CompiledChain", "CompiledEntry", "CompiledPool", "CompiledPreset", "Graph", "Settings", "TraceSettings"]

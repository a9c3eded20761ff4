"""The ground floor every stage stands on: located diagnostics and the small value formats of policies.

Takes in nothing of the pipeline; gives out :class:`~policy_engine.common.diagnostics.Diagnostic` and
:class:`~policy_engine.common.diagnostics.PolicyError` (errors users see, with file, line and JSON path),
durations (``5m``, ``1h30m``) and time zones as policies write them, text safe to print on a terminal,
JSON with finite numbers only, the stores' fast JSON (``fast_json``), one bounded reader for every file
the engine reads, bounded line framing for the sandbox's pipes, SHA-256 without OpenSSL (``digests``) and
the cached plugin entry points (``entry_points``). Nothing here imports another part of ``policy_engine``.
"""

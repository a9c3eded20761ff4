"""The ground floor every stage stands on: located diagnostics and the small value formats of policies.

Takes in nothing of the pipeline; gives out :class:`~policy_engine.common.diagnostics.Diagnostic` and
:class:`~policy_engine.common.diagnostics.PolicyError` (errors users see, with file, line and JSON path),
durations (``5m``, ``1h30m``) and time zones as policies write them, text safe to print on a terminal,
JSON with finite numbers only, one bounded reader for every file the engine reads, and bounded line
framing for the sandbox's pipes. Nothing here imports another part of ``policy_engine``.
"""

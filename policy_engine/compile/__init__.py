"""Stage 2 of DESIGN §2, compile: from the merged policy document to an immutable evaluation graph.

Takes in the merged policy (:mod:`policy_engine.policy`) and the plugin registry's strategies,
provider families and stores; gives out a :class:`~policy_engine.compile.graph.Graph` (pools,
chains, presets, settings, error rules, with lookup indexes) plus compile diagnostics
(:func:`~policy_engine.compile.compiler.compile_policy`). :mod:`~policy_engine.compile.check` runs
the whole-policy checks of ``mp-policy validate``.
"""

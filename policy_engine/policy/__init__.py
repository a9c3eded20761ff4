"""Stage 1 of DESIGN §2, read → validate → merge: from files on disk to one effective policy document.

Takes in the agent directory, the project directory and the environment (``MULTI_SUB``); gives out
:class:`~policy_engine.policy.sources.PolicySources` (the loaded documents with their source
positions, validated against the JSON Schemas with domain checks, results cached by content) and,
through :func:`~policy_engine.policy.merge.merge_policy`, the merged global + project policy that
:mod:`policy_engine.compile` compiles. :mod:`~policy_engine.policy.locations` says where the files
live; :mod:`~policy_engine.policy.schedule` reads the time windows that ``scheduled`` pools use.
"""

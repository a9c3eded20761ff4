"""Stage 3 of DESIGN §2, evaluate: from a request and the state to a Decision.

Takes in the compiled :class:`~policy_engine.compile.graph.Graph`, a request (provider, pool,
chain or preset, model) and a snapshot of the state; :mod:`~policy_engine.evaluate.route` expands
the request into a route of segments, :mod:`~policy_engine.evaluate.walk` walks it member by member
(credentials, cooldowns, models, strategies), and gives out a
:class:`~policy_engine.evaluate.decision.Decision` with its skip records and the state changes to
commit. :mod:`~policy_engine.evaluate.graph_view` follows every route of the graph at once (``mp-policy
explain``). Nothing here writes state: :mod:`policy_engine.engine` does.
"""

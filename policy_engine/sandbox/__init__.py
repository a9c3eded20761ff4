"""The selector sandbox: untrusted selector scripts run in persistent, limited worker processes.

- :mod:`policy_engine.sandbox.base` — the runner interface (:class:`Runner`, :class:`Outcome`).
- :mod:`policy_engine.sandbox.process` — worker processes and pools (deadlines, kill, restart).
- :mod:`policy_engine.sandbox.python_runner` — Python selectors (RestrictedPython in a worker).
- :mod:`policy_engine.sandbox.node_runner` — JavaScript selectors (a ``node`` worker, ``vm`` contexts).

Nothing is imported here, so the worker processes start fast.
"""

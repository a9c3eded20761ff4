"""Policy tests (``*.test.yaml``, ``mp-policy test``): drive real engines through scripted steps.

Takes in test files (a world: clock, auth, cooldowns, quota, models; and steps of ``select`` /
``fail`` / ``succeed`` with expectations); gives out a result per case with readable failure lines
(:mod:`~policy_engine.testing.policy_tests`). It sits above the engine and uses only its public face.
"""

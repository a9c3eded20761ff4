"""The ``mp-policy`` command line (click). Exit codes: 0 ok, 1 failing check or invalid policy,
2 usage error, 3 internal error."""

from policy_engine.cli.main import cli, main

__all__ = ["cli", "main"]

"""Re-export: the policy-test runner lives in :mod:`policy_engine.testing.policy_tests`."""

from __future__ import annotations

from policy_engine.testing.policy_tests import CaseResult, FileResult, discover, match, run_file, run_paths

__all__ = ["CaseResult", "FileResult", "discover", "match", "run_file", "run_paths"]

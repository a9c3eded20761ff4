"""The built-in quota checkers, registered through the same hook as plugins'."""

from __future__ import annotations

from policy_engine.hookspecs import hookimpl
from policy_engine.quota import QuotaChecker
from policy_engine.quota.anthropic import AnthropicChecker
from policy_engine.quota.codex import CodexChecker
from policy_engine.quota.copilot import CopilotChecker
from policy_engine.quota.google import AntigravityChecker, GeminiCliChecker

__all__ = ["mp_policy_quota_checkers"]


@hookimpl
def mp_policy_quota_checkers() -> list[QuotaChecker]:
    """Register the five built-in checkers."""
    return [CodexChecker(), GeminiCliChecker(), AntigravityChecker(), AnthropicChecker(), CopilotChecker()]

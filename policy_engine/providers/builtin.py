"""The five built-in provider families, registered as a default plugin."""

from __future__ import annotations

from policy_engine.classify.provider_rules import BASE_PROVIDERS, BUILTIN_PROVIDER_RULES
from policy_engine.hookspecs import hookimpl
from policy_engine.providers.families import ProviderSpec

__all__ = ["mp_policy_providers"]


@hookimpl
def mp_policy_providers() -> list[ProviderSpec]:
    """anthropic, openai-codex, github-copilot, google-gemini-cli, google-antigravity."""
    return [
        ProviderSpec(base=base, display_name=name, error_rules=BUILTIN_PROVIDER_RULES.get(base, ()))
        for base, name in BASE_PROVIDERS.items()
    ]

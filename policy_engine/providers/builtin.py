"""The built-in provider families, registered as a default plugin: the five pi-multi-pass families
(with their own error rules) and pi's other built-in providers (generic rules only)."""

from __future__ import annotations

from policy_engine.classify.provider_rules import BASE_PROVIDERS, BUILTIN_PROVIDER_RULES
from policy_engine.hookspecs import hookimpl
from policy_engine.providers.families import ProviderSpec
from policy_engine.providers.pi_providers import PI_PROVIDERS

__all__ = ["mp_policy_providers"]


@hookimpl
def mp_policy_providers() -> list[ProviderSpec]:
    """anthropic, openai-codex, github-copilot, google-gemini-cli, google-antigravity, then every other
    provider pi has built in (openai, openrouter, zai, ...), whose errors go through the generic rules."""
    five = [ProviderSpec(base=base, display_name=name, error_rules=BUILTIN_PROVIDER_RULES.get(base, ()))
            for base, name in BASE_PROVIDERS.items()]
    return five + [ProviderSpec(base=base, display_name=name) for base, name in PI_PROVIDERS.items()]

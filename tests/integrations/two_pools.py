"""The policy and accounts the SDK and LiteLLM tests call through the fake provider.

A chain ``main`` of two pools: ``claude`` (``anthropic``, ``anthropic-2``; 2-minute cooldowns),
called with the Anthropic API, then ``codex`` (``openai-codex``, ``openai-codex-2``; 3 minutes),
called with the OpenAI API; each account has its own API key, which the fake provider scripts.
"""

from __future__ import annotations

from typing import Any

__all__ = ["CLAUDE_MODEL", "CODEX_MODEL", "KEYS", "POLICY"]

CLAUDE_MODEL, CODEX_MODEL = "claude-sonnet-4-5", "gpt-5"
#: Account name -> its API key at the fake provider.
KEYS = {"anthropic": "sk-ant-1", "anthropic-2": "sk-ant-2", "openai-codex": "sk-oai-1", "openai-codex-2": "sk-oai-2"}
POLICY: dict[str, Any] = {
    "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "openai-codex", "index": 2}],
    "pools": [
        {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"], "cooldown": "2m"},
        {"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex", "openai-codex-2"],
         "cooldown": "3m"},
    ],
    "chains": [{"name": "main", "entries": [{"pool": "claude", "model": CLAUDE_MODEL},
                                            {"pool": "codex", "model": CODEX_MODEL}]}],
}

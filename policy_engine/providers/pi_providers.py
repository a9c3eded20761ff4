"""Every provider pi knows is an account family (DESIGN §3, "Accounts are pi provider names").

Three kinds of family:

- the five pi-multi-pass families (:data:`policy_engine.provider_rules.BASE_PROVIDERS`), with built-in
  error rules, quota checkers and model knowledge;
- pi's other built-in providers (:data:`PI_PROVIDERS`, as ``@mariozechner/pi-ai`` 0.73 lists them in
  ``KnownProvider``), whose errors go through the generic rules and which have no quota checker;
- the custom providers of pi's ``<agentDir>/models.json`` (``{"providers": {NAME: {...}}}``), read by
  :func:`custom_providers`, treated like the second kind.

Extra accounts ``<provider>-<N>`` work for every family alike.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import MappingProxyType

__all__ = ["MODELS_FILE", "PI_PROVIDERS", "custom_providers"]

MODELS_FILE = "models.json"
"""pi's file of custom providers and model overrides, in the agent directory."""

PI_PROVIDERS: MappingProxyType[str, str] = MappingProxyType(
    {
        "openai": "OpenAI (API key)",
        "azure-openai-responses": "Azure OpenAI",
        "google": "Google Gemini (API key)",
        "google-vertex": "Google Vertex AI",
        "amazon-bedrock": "Amazon Bedrock",
        "xai": "xAI",
        "groq": "Groq",
        "cerebras": "Cerebras",
        "deepseek": "DeepSeek",
        "mistral": "Mistral",
        "openrouter": "OpenRouter",
        "vercel-ai-gateway": "Vercel AI Gateway",
        "cloudflare-workers-ai": "Cloudflare Workers AI",
        "cloudflare-ai-gateway": "Cloudflare AI Gateway",
        "zai": "Z.AI",
        "minimax": "MiniMax",
        "minimax-cn": "MiniMax (China)",
        "moonshotai": "Moonshot AI",
        "moonshotai-cn": "Moonshot AI (China)",
        "kimi-coding": "Kimi For Coding",
        "huggingface": "Hugging Face",
        "fireworks": "Fireworks",
        "opencode": "OpenCode Zen",
        "opencode-go": "OpenCode Go",
        "xiaomi": "Xiaomi MiMo",
        "xiaomi-token-plan-cn": "Xiaomi token plan (China)",
        "xiaomi-token-plan-ams": "Xiaomi token plan (Amsterdam)",
        "xiaomi-token-plan-sgp": "Xiaomi token plan (Singapore)",
    }
)
"""pi's built-in providers besides the five pi-multi-pass families: base key -> display name."""

_CACHE: dict[str, tuple[tuple[int, int], tuple[str, ...]]] = {}
_MAX_BYTES = 4 * 1024 * 1024


def custom_providers(agent_dir: str | os.PathLike[str]) -> tuple[str, ...]:
    """The provider names that ``<agent_dir>/models.json`` declares under ``providers``, in file order.

    Built-in names (an override of a built-in provider's URL) are included too; callers keep the
    ones they do not know yet. A missing, unreadable, oversized or malformed file gives ``()``: pi
    itself reports a broken ``models.json`` and falls back to its built-in models. Names that
    cannot be account names (empty, or with whitespace or control characters) are left out.
    """
    path = Path(agent_dir) / MODELS_FILE
    try:
        stat = path.stat()
    except OSError:
        return ()
    key = str(path)
    stamp = (stat.st_mtime_ns, stat.st_size)
    cached = _CACHE.get(key)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    names: tuple[str, ...] = ()
    if path.is_file() and stat.st_size <= _MAX_BYTES:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = None
        providers = data.get("providers") if isinstance(data, dict) else None
        if isinstance(providers, dict):
            names = tuple(n for n in providers if isinstance(n, str) and n and n.isprintable() and not any(
                c.isspace() for c in n))
    _CACHE[key] = (stamp, names)
    return names

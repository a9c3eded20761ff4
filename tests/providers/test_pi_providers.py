"""pi's providers as account families: the built-in list and the custom providers of ``models.json``."""

from __future__ import annotations

import json
from pathlib import Path

from policy_engine.plugins import get_registry, registry_for
from policy_engine.providers.pi_providers import PI_PROVIDERS, custom_providers


def test_custom_providers_come_from_models_json(tmp_path: Path) -> None:
    assert custom_providers(tmp_path) == ()
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"providers": {"ollama": {}, "anthropic": {"baseUrl": "x"}, "bad name": {}}}))
    assert custom_providers(tmp_path) == ("ollama", "anthropic")
    models.write_text("{not json")
    assert custom_providers(tmp_path) == ()


def test_registry_for_adds_only_unknown_names(tmp_path: Path) -> None:
    base = get_registry()
    assert registry_for(tmp_path) is base
    (tmp_path / "models.json").write_text(json.dumps({"providers": {"lmstudio": {}, "openai": {}}}))
    extended = registry_for(tmp_path)
    assert set(extended.providers) - set(base.providers) == {"lmstudio"}
    assert extended.providers["lmstudio"].error_rules == ()
    assert extended.owners[("providers", "lmstudio")] == "models.json"
    assert "lmstudio" not in extended.quota_checkers
    assert {"openai", "openrouter", "zai", "xai", "groq"} <= set(PI_PROVIDERS) <= set(base.providers)

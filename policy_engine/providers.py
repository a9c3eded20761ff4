"""Provider families (base providers) and the registry entry a plugin contributes for each."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from policy_engine.classify import ProviderRule

__all__ = ["ProviderSpec", "base_of", "subscription_name"]

_INDEX_SUFFIX = re.compile(r"^(.*)-(\d+)$")


@dataclass(frozen=True)
class ProviderSpec:
    """A provider family: its base key (``anthropic``), display name, error rules and models.

    ``models`` is the model catalogue when one is known (``None`` = unknown: no ``no-model``
    skips for this family).
    """

    base: str
    display_name: str
    error_rules: Sequence[ProviderRule] = field(default_factory=tuple)
    models: frozenset[str] | None = None


def base_of(name: str, bases: frozenset[str] | set[str] | dict[str, object]) -> str | None:
    """The base provider of an account name (``openai-codex-2`` -> ``openai-codex``), or None."""
    if name in bases:
        return name
    match = _INDEX_SUFFIX.match(name)
    if match and match.group(1) in bases:
        return match.group(1)
    return None


def subscription_name(base: str, index: int) -> str:
    """The account name of an extra subscription: ``<base>-<index>``."""
    return f"{base}-{index}"

"""Merge the global policy, a project overlay and ``MULTI_SUB`` into the effective policy (DESIGN §3).

- Accounts: the base providers, the global ``subscriptions`` and ``MULTI_SUB``, which guarantees
  at least N extra accounts per provider (final count = max(saved, env); new indexes are the
  smallest free >= 2). Env entries are never written anywhere.
- A project overlay's ``pools``, ``chains``, ``presets`` and ``errorRules`` replace the global ones
  whole when present. Its ``settings`` override the global settings key by key (so a project can
  change the cooldown without losing the global time zone). The compiler keeps one exception:
  ``selectorTimeout`` may be lowered by a project, never raised above the global value, which is
  why the global and project settings are kept apart too (:attr:`EffectivePolicy.global_settings`,
  :attr:`EffectivePolicy.project_settings`), with the document each effective key came from.
  ``allowedSubs`` (trimmed, deduplicated;
  empty = no restriction) is an exact allow-list, applied by the compiler.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.policy.document import LoadedDocument
from policy_engine.providers.families import subscription_name

__all__ = ["MAX_EXTRA_ACCOUNTS", "EffectivePolicy", "Subscription", "merge_policy", "parse_multi_sub"]

#: The most extra accounts MULTI_SUB may ask for per part.
MAX_EXTRA_ACCOUNTS = 100


@dataclass(frozen=True)
class Subscription:
    """An extra account: ``<provider>-<index>``, with its label and where it was declared."""

    provider: str
    index: int
    label: str | None = None
    source: str = "policy"  # "policy" or "env"
    position: int | None = None  # index in the policy's subscriptions list

    @property
    def name(self) -> str:
        """The account name (``openai-codex-2``)."""
        return subscription_name(self.provider, self.index)


@dataclass(frozen=True)
class EffectivePolicy:
    """The merged policy, with each section's source document for diagnostics."""

    settings: Mapping[str, Any]
    subscriptions: tuple[Subscription, ...]
    pools: tuple[Mapping[str, Any], ...]
    chains: tuple[Mapping[str, Any], ...]
    presets: tuple[Mapping[str, Any], ...]
    error_rules: tuple[Mapping[str, Any], ...]
    allowed: tuple[str, ...] | None
    sources: Mapping[str, LoadedDocument | None] = field(default_factory=dict)
    env_multi_sub: str | None = None
    unknown_env: tuple[str, ...] = ()
    global_settings: Mapping[str, Any] = field(default_factory=dict)  # the global document's own settings
    project_settings: Mapping[str, Any] = field(default_factory=dict)  # the overlay's own settings
    settings_sources: Mapping[str, LoadedDocument | None] = field(default_factory=dict)  # key -> its document

    def source_of(self, section: str) -> LoadedDocument | None:
        """The document that supplied ``section`` (``pools``, ``chains``, ...)."""
        return self.sources.get(section)


def parse_multi_sub(value: str | None, bases: frozenset[str]) -> tuple[dict[str, int], list[str]]:
    """Parse ``MULTI_SUB`` (``openai-codex:2,anthropic``) into counts; also return ignored parts.

    As in pi-multi-pass: parts are ``provider[:count]``, the count defaults to 1 when there is no
    colon and is read like ``parseInt`` (leading digits; ``"2abc"`` is 2, ``""`` is no number), and
    parts naming an unknown provider or without a count >= 1 are ignored; so are counts above
    :data:`MAX_EXTRA_ACCOUNTS` (a typo such as ``anthropic:100000`` would otherwise create that many).
    """
    counts: dict[str, int] = {}
    ignored: list[str] = []
    if not value:
        return counts, ignored
    for part in value.split(","):
        part = part.strip()
        if not part:
            continue
        provider, colon, count_text = part.partition(":")
        provider = provider.strip()
        digits = ""
        for ch in count_text.strip() if colon else "1":  # "anthropic:" is parseInt("") = NaN: ignored
            if not ch.isdigit():
                break
            digits += ch
        count = int(digits) if digits else 0
        if provider not in bases or not 1 <= count <= MAX_EXTRA_ACCOUNTS:
            ignored.append(part)
            continue
        counts[provider] = counts.get(provider, 0) + count
    return counts, ignored


def _subscriptions(raw: Any, env_counts: Mapping[str, int]) -> list[Subscription]:
    items: list[tuple[str, int | None, str | None, int]] = []
    if isinstance(raw, list):
        for position, entry in enumerate(raw):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("provider"), str):
                continue
            index = entry.get("index")
            label = entry.get("label")
            label = label.strip() or None if isinstance(label, str) else None
            items.append((entry["provider"], index if isinstance(index, int) and index > 0 else None, label, position))
    used: dict[str, set[int]] = {}
    for provider, index, _, _ in items:
        if index is not None:
            used.setdefault(provider, set()).add(index)
    result: list[Subscription] = []
    for provider, index, label, position in items:
        if index is None:
            index = _next_free(used.setdefault(provider, set()))
            used[provider].add(index)
        result.append(Subscription(provider, index, label, "policy", position))
    for provider, wanted in env_counts.items():
        have = sum(1 for s in result if s.provider == provider)
        while have < wanted:
            index = _next_free(used.setdefault(provider, set()))
            used[provider].add(index)
            result.append(Subscription(provider, index, None, "env"))
            have += 1
    return result


def _next_free(used: set[int]) -> int:
    index = 2
    while index in used:
        index += 1
    return index


def _allowed(project: Mapping[str, Any] | None) -> tuple[str, ...] | None:
    if not project or not isinstance(project.get("allowedSubs"), list):
        return None
    seen: dict[str, None] = {}
    for name in project["allowedSubs"]:
        if isinstance(name, str) and name.strip():
            seen.setdefault(name.strip(), None)
    return tuple(seen) or None


def _section(name: str, global_doc: LoadedDocument | None, project_doc: LoadedDocument | None) -> tuple[
    tuple[Mapping[str, Any], ...], LoadedDocument | None
]:
    for doc in (project_doc, global_doc):
        if doc is not None and isinstance(doc.data, Mapping) and isinstance(doc.data.get(name), list):
            return tuple(x for x in doc.data[name] if isinstance(x, Mapping)), doc
    return (), global_doc


def merge_policy(
    global_doc: LoadedDocument | None,
    project_doc: LoadedDocument | None,
    env: Mapping[str, str],
    bases: frozenset[str],
) -> EffectivePolicy:
    """Build the effective policy from already-validated documents."""
    global_data = global_doc.data if global_doc is not None and isinstance(global_doc.data, Mapping) else {}
    project_data = project_doc.data if project_doc is not None and isinstance(project_doc.data, Mapping) else None
    multi_sub = env.get("MULTI_SUB")
    env_counts, ignored = parse_multi_sub(multi_sub, bases)
    global_settings = global_data.get("settings") if isinstance(global_data.get("settings"), Mapping) else {}
    project_settings = (project_data.get("settings") if project_data and isinstance(project_data.get("settings"),
                                                                                   Mapping) else {})
    settings = {**global_settings, **project_settings}
    settings_sources = {key: project_doc if key in project_settings else global_doc for key in settings}
    pools, pools_doc = _section("pools", global_doc, project_doc)
    chains, chains_doc = _section("chains", global_doc, project_doc)
    presets, presets_doc = _section("presets", global_doc, project_doc)
    rules, rules_doc = _section("errorRules", global_doc, project_doc)
    settings_doc = project_doc if project_data and "settings" in project_data else global_doc
    return EffectivePolicy(
        settings=settings,
        subscriptions=tuple(_subscriptions(global_data.get("subscriptions"), env_counts)),
        pools=pools,
        chains=chains,
        presets=presets,
        error_rules=rules,
        allowed=_allowed(project_data),
        sources={
            "pools": pools_doc,
            "chains": chains_doc,
            "presets": presets_doc,
            "errorRules": rules_doc,
            "settings": settings_doc,
            "subscriptions": global_doc,
            "allowedSubs": project_doc,
        },
        env_multi_sub=multi_sub,
        unknown_env=tuple(ignored),
        global_settings=dict(global_settings),
        project_settings=dict(project_settings),
        settings_sources=settings_sources,
    )

"""Edits of chains and presets: create, remove, enable and disable them (``mp-policy chain``, ``mp-policy preset``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy_engine.edit.document import BlockList, BlockMap, FlowMap, PolicyDocument
from policy_engine.edit.operations import (
    NOUN,
    Changes,
    EditContext,
    EditError,
    add_item,
    check_accounts,
    check_name,
    find_item,
    hint_for,
    own_section,
    section_of,
    toggle_item,
    where_of,
)
from policy_engine.providers.families import base_of

__all__ = [
    "create_chain",
    "create_preset",
    "remove_chain",
    "remove_preset",
    "toggle_chain",
    "toggle_preset",
]


def _parse_entries(entries: Sequence[str | tuple[str, str]], left: str) -> list[tuple[str, str]]:
    parsed: list[tuple[str, str]] = []
    for raw in entries:
        if isinstance(raw, tuple):
            parsed.append(raw)
            continue
        first, sep, model = raw.partition(":")
        if not sep or not first.strip() or not model.strip():
            raise EditError(f"cannot read the entry {raw!r}", f"write {left}:MODEL, e.g. claude:claude-sonnet-4-5")
        parsed.append((first.strip(), model.strip()))
    if not parsed:
        raise EditError(f"give at least one --entry {left}:MODEL")
    return parsed


def create_chain(doc: PolicyDocument, ctx: EditContext, name: str, entries: Sequence[str | tuple[str, str]], *,
                 enabled: bool = True, replace: bool = False) -> Changes:
    """Add a chain of ``POOL:MODEL`` entries (or replace one with ``replace``)."""
    name = check_name(name, "chain")
    parsed = _parse_entries(entries, "POOL")
    pools = {str(p.get("name")): p for p in section_of(doc, ctx, "pools")}
    for pool, model in parsed:
        if pool not in pools:
            raise EditError(f"chain {name}: there is no pool {pool!r} in {where_of(doc, 'pools')}",
                            hint_for(pool, sorted(pools), "pools"))
        base = str(pools[pool].get("baseProvider"))
        _check_model(ctx, base, model, f"chain {name}: {base}")
    return _create_list_item(doc, ctx, "chains", name, "pool", parsed, enabled=enabled, replace=replace)


def _check_model(ctx: EditContext, base: str, model: str, who: str) -> None:
    """Refuse a model the catalogue of ``base`` does not list (when the catalogue is known)."""
    catalogue = ctx.models.get(base)
    if catalogue is not None and model not in catalogue:
        raise EditError(f"{who} has no model {model!r}", hint_for(model, sorted(catalogue), "models"))


def _create_list_item(doc: PolicyDocument, ctx: EditContext, section: str, name: str, key: str,
                      parsed: Sequence[tuple[str, str]], *, enabled: bool, replace: bool) -> Changes:
    """Add (or with ``replace``, replace in place) the chain or preset ``name`` of ``(key, model)`` entries."""
    noun = NOUN[section]
    item = BlockMap(name=name, enabled=enabled,
                    entries=BlockList([FlowMap({key: first, "model": model, "enabled": True})
                                       for first, model in parsed]))
    shown = " → ".join(f"{first}:{model}" for first, model in parsed)
    changes = Changes()
    existing = section_of(doc, ctx, section)
    state = "" if enabled else " (disabled)"
    if any(x.get("name") == name for x in existing):
        if not replace:
            raise EditError(f"a {noun} named {name!r} already exists in {where_of(doc, section)}",
                            f"add --replace to overwrite it, or `mp-policy {noun} remove {name}` first")
        index = find_item(existing, name, noun, doc.source)
        own_section(doc, ctx, section, changes)
        _replace_item(doc, section, index, item)
        changes.say(f"replaced {noun} {name}: {shown}{state}")
        return changes
    add_item(doc, ctx, section, item, changes)
    changes.say(f"created {noun} {name}: {shown}{state}")
    return changes


def _replace_item(doc: PolicyDocument, section: str, index: int, item: Mapping[str, Any]) -> None:
    """Replace an item in place, key by key (its position and comment lines stay)."""
    current = doc.get((section, index))
    for key in [k for k in current if k not in item]:
        doc.delete((section, index, key))
    for key, value in item.items():
        doc.set((section, index), key, value, order=list(item))


def remove_chain(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove a chain."""
    return _remove_item(doc, ctx, "chains", name)


def _remove_item(doc: PolicyDocument, ctx: EditContext, section: str, name: str) -> Changes:
    noun = NOUN[section]
    index = find_item(section_of(doc, ctx, section), name, noun, where_of(doc, section))
    changes = Changes()
    own_section(doc, ctx, section, changes)
    doc.delete((section, index))
    changes.say(f"removed {noun} {name}")
    return changes


def toggle_chain(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None, *,
                 entry: int | None = None) -> Changes:
    """Flip a chain's ``enabled`` (or one entry's, 0-based), or set it to ``state``."""
    return toggle_item(doc, ctx, "chains", name, state, entry)


def create_preset(doc: PolicyDocument, ctx: EditContext, name: str, entries: Sequence[str | tuple[str, str]], *,
                  enabled: bool = True, replace: bool = False) -> Changes:
    """Add a preset of ``PROVIDER:MODEL`` entries (or replace one with ``replace``)."""
    name = check_name(name, "preset")
    parsed = _parse_entries(entries, "PROVIDER")
    check_accounts(doc, ctx, [p for p, _ in parsed], f"preset {name}")
    for provider, model in parsed:
        _check_model(ctx, base_of(provider, frozenset(ctx.providers)) or provider, model, f"preset {name}: {provider}")
    return _create_list_item(doc, ctx, "presets", name, "provider", parsed, enabled=enabled, replace=replace)


def remove_preset(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove a preset."""
    return _remove_item(doc, ctx, "presets", name)


def toggle_preset(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None, *,
                  entry: int | None = None) -> Changes:
    """Flip a preset's ``enabled`` (or one entry's, 0-based), or set it to ``state``."""
    return toggle_item(doc, ctx, "presets", name, state, entry)

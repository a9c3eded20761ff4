"""Edits of subscriptions (accounts): add one, remove one with every reference to it (``mp-policy subs``)."""

from __future__ import annotations

from collections.abc import Mapping

from policy_engine.edit.document import FlowMap, PolicyDocument
from policy_engine.edit.operations import (
    Changes,
    EditContext,
    EditError,
    add_item,
    hint_for,
    no_project,
    plural,
    subscriptions_of,
)
from policy_engine.edit.pool_edits import delete_pool, drop_schedule, prune_entries
from policy_engine.providers.families import base_of

__all__ = [
    "add_subscription",
    "remove_subscription",
]


def add_subscription(doc: PolicyDocument, ctx: EditContext, provider: str, *, label: str | None = None,
                     index: int | None = None) -> tuple[str, Changes]:
    """Add an extra account of ``provider``; returns its name (``openai-codex-2``) and the changes."""
    no_project(doc)
    if provider not in ctx.providers:
        base = base_of(provider, frozenset(ctx.providers))
        if base is not None:
            raise EditError(f"{provider!r} is an account name; give its provider ({base}) and the index is chosen",
                            f"mp-policy subs add {base}")
        raise EditError(f"unknown provider {provider!r}", hint_for(provider, sorted(ctx.providers), "providers"))
    subs = subscriptions_of(doc, ctx)
    used = {s.index for s in subs if s.provider == provider}
    saved = {s.index for s in subs if s.provider == provider and s.source == "policy"}
    free = 2
    while free in used:
        free += 1
    if index is not None:
        if index < 2:
            raise EditError(f"--index {index}: an extra account is number 2 or more (the base account is number 1)",
                            f"the next free index of {provider} is {free}")
        if index in saved:
            raise EditError(f"{provider}-{index} already exists in {doc.source}",
                            f"the next free index of {provider} is {free}")
    chosen = free if index is None else index
    entry = FlowMap(provider=provider, index=chosen)
    clean_label = label.strip() if label else ""
    if clean_label:
        entry["label"] = clean_label
    changes = Changes()
    add_item(doc, ctx, "subscriptions", entry, changes)
    name = f"{provider}-{chosen}"
    shown = f"{name} ({clean_label})" if clean_label else name
    changes.say(f"added subscription {shown}: {ctx.providers[provider]} #{chosen}")
    changes.note(f"log in to {name} in pi (/login) before it can be used")
    return name, changes


def remove_subscription(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove an extra account (by name, or by a label only it has) and every use of it (see the module)."""
    no_project(doc)
    subs = subscriptions_of(doc, ctx)
    matches = [s for s in subs if s.source == "policy" and s.name == name]
    if not matches:
        labelled = [s for s in subs if s.source == "policy" and s.label == name]
        if len({s.name for s in labelled}) == 1:
            matches = labelled
    if not matches:
        if name in ctx.providers:
            raise EditError(f"{name} is a base account: it is implicit and cannot be removed",
                            f"take it out of a pool with `mp-policy pool members POOL --remove {name}`")
        if any(s.name == name and s.source == "env" for s in subs):
            raise EditError(f"{name} comes from MULTI_SUB={ctx.env.get('MULTI_SUB')!r}, not from {doc.source}",
                            "change the MULTI_SUB environment variable")
        names = [s.name for s in subs if s.source == "policy"]
        raise EditError(f"there is no subscription {name!r} in {doc.source}", hint_for(name, names, "subscriptions"))
    account = matches[0].name
    changes = Changes()
    for position in sorted({s.position for s in matches if s.position is not None}, reverse=True):
        doc.delete(("subscriptions", position))
    shown = f"{account} ({matches[0].label})" if matches[0].label else account
    changes.say(f"removed subscription {shown}")
    changes.extend(_drop_account(doc, ctx, account))
    return changes


def _drop_account(doc: PolicyDocument, ctx: EditContext, account: str) -> Changes:
    """Take ``account`` out of every pool and preset of the document (empty ones go too)."""
    changes = Changes()
    pools = doc.data.get("pools") if isinstance(doc.data.get("pools"), list) else []
    left: list[str] = []
    for i in range(len(pools) - 1, -1, -1):
        pool = pools[i]
        members = pool.get("members") if isinstance(pool, Mapping) else None
        if not isinstance(members, list) or account not in members:
            continue
        rest = [m for m in members if m != account]
        if not rest:
            changes.say(f"removed pool {pool.get('name')} (it had no other member)")
            changes.extend(delete_pool(doc, ctx, i))
            continue
        doc.set(("pools", i), "members", rest)
        drop_schedule(doc, i, [account])
        left.append(str(pool.get("name")))
    if left:
        changes.say(f"removed {account} from pool{'s' if len(left) > 1 else ''} {', '.join(reversed(left))}")
    presets = doc.data.get("presets") if isinstance(doc.data.get("presets"), list) else []
    for preset, hits, whole in prune_entries(doc, "presets", presets, "provider", account):
        if whole:
            changes.say(f"removed preset {preset.get('name')} (all its entries used {account})")
        else:
            changes.say(f"removed {plural(len(hits), 'entry')} using {account} from preset {preset.get('name')}")
    return changes



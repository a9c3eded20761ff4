"""Edits of pools: create, remove, rename, enable and disable them, set their members, strategy and
member schedules (``mp-policy pool``)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from policy_engine.edit.document import BlockMap, FlowList, FlowMap, PolicyDocument
from policy_engine.edit.operations import (
    POOL_ORDER,
    ROLES,
    SCHEDULE_NOTE,
    Changes,
    EditContext,
    EditError,
    add_item,
    check_accounts,
    check_name,
    find_item,
    hint_for,
    own_section,
    plural,
    section_of,
    toggle_item,
    where_of,
)
from policy_engine.providers.families import base_of

__all__ = [
    "create_pool",
    "delete_pool",
    "drop_schedule",
    "prune_entries",
    "remove_pool",
    "rename_pool",
    "set_member_schedule",
    "set_pool_members",
    "set_pool_strategy",
    "toggle_pool",
]


def _check_strategy(ctx: EditContext, strategy: str) -> None:
    if strategy not in ctx.strategies:
        raise EditError(f"unknown strategy {strategy!r}", hint_for(strategy, sorted(ctx.strategies), "strategies"))


def create_pool(doc: PolicyDocument, ctx: EditContext, name: str, *, provider: str, members: Sequence[str],
                strategy: str | None = None, enabled: bool = True, selector_script: str | None = None) -> Changes:
    """Add a pool at the end of the pools."""
    name = check_name(name, "pool")
    if provider not in ctx.providers:
        raise EditError(f"unknown provider {provider!r}", hint_for(provider, sorted(ctx.providers), "providers"))
    wanted = [m.strip() for m in members if m.strip()]
    if not wanted:
        raise EditError("Pool needs at least 1 member.",
                        "give --members with account names, e.g. anthropic,anthropic-2")
    repeated = sorted({m for m in wanted if wanted.count(m) > 1})
    if repeated:
        raise EditError(f"{', '.join(repeated)} listed twice in --members")
    check_accounts(doc, ctx, wanted, f"pool {name}")
    if strategy is not None:
        _check_strategy(ctx, strategy)
    if strategy == "custom" and not selector_script:
        raise EditError("the custom strategy needs a selector script", "add --selector-script selectors/NAME.py")
    if selector_script and strategy != "custom":
        raise EditError("--selector-script only goes with --strategy custom")
    existing = section_of(doc, ctx, "pools")
    if any(p.get("name") == name for p in existing):
        raise EditError(f"a pool named {name!r} already exists in {where_of(doc, 'pools')}",
                        f"choose another name, or change it with `mp-policy pool members {name} ...`")
    item = BlockMap(name=name, baseProvider=provider, members=FlowList(wanted), enabled=enabled)
    if strategy and strategy != "round-robin":
        item["strategy"] = strategy
    if selector_script:
        item["selectorScript"] = selector_script
    changes = Changes()
    add_item(doc, ctx, "pools", item, changes)
    state = "" if enabled else ", disabled"
    changes.say(f"created pool {name} ({provider}: {', '.join(wanted)}; {strategy or 'round-robin'}{state})")
    others = [m for m in wanted if base_of(m, frozenset(ctx.providers)) != provider]
    if others:
        changes.note(f"{', '.join(others)} {'is not an account' if len(others) == 1 else 'are not accounts'} of "
                     f"{provider}; a pool's members stand in for each other with the same model")
    if strategy == "scheduled":
        changes.note(SCHEDULE_NOTE.format(name=name))
    return changes


def delete_pool(doc: PolicyDocument, ctx: EditContext, index: int) -> Changes:
    """Delete pool ``index`` and the chain and preset entries that use it."""
    name = str(doc.get(("pools", index, "name")))
    doc.delete(("pools", index))
    return _prune_chains(doc, ctx, name)


def _chains_for(doc: PolicyDocument, ctx: EditContext, pool: str, changes: Changes) -> list[Mapping[str, Any]]:
    """The document's chains when some entry uses ``pool`` (a project copies the global chains first)."""
    chains = section_of(doc, ctx, "chains")
    uses = any(isinstance(e, Mapping) and e.get("pool") == pool
               for c in chains for e in (c.get("entries") or []))
    if not uses:
        return []
    return own_section(doc, ctx, "chains", changes)


def _prune_chains(doc: PolicyDocument, ctx: EditContext, pool: str) -> Changes:
    changes = Changes()
    chains = _chains_for(doc, ctx, pool, changes)
    pruned: list[str] = []
    for chain, hits, whole in prune_entries(doc, "chains", chains, "pool", pool):
        pruned[:0] = [f"{chain.get('name')}#{j}" for j in hits]
        if whole:
            changes.say(f"removed chain {chain.get('name')} (all its entries used pool {pool})")
    if pruned:
        changes.messages.insert(0, f"pruned the chain entries that used pool {pool}: {', '.join(pruned)}")
    return changes


def remove_pool(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove a pool (its accounts stay) and prune the chain entries into it."""
    changes = Changes()
    index = find_item(section_of(doc, ctx, "pools"), name, "pool", where_of(doc, "pools"))
    own_section(doc, ctx, "pools", changes)
    changes.say(f"removed pool {name}")
    changes.extend(delete_pool(doc, ctx, index))
    return changes


def rename_pool(doc: PolicyDocument, ctx: EditContext, old: str, new: str) -> Changes:
    """Rename a pool and every chain entry that uses it."""
    new = check_name(new, "pool")
    pools = section_of(doc, ctx, "pools")
    index = find_item(pools, old, "pool", where_of(doc, "pools"))
    if new == old:
        raise EditError(f"pool {old!r} already has that name")
    if any(p.get("name") == new for p in pools):
        raise EditError(f"a pool named {new!r} already exists in {where_of(doc, 'pools')}")
    changes = Changes()
    own_section(doc, ctx, "pools", changes)
    doc.set(("pools", index), "name", new)
    changes.say(f"renamed pool {old} to {new}")
    chains = _chains_for(doc, ctx, old, changes)
    updated: list[str] = []
    for i, chain in enumerate(chains):
        for j, entry in enumerate(chain.get("entries") or []):
            if isinstance(entry, Mapping) and entry.get("pool") == old:
                doc.set(("chains", i, "entries", j), "pool", new)
                updated.append(f"{chain.get('name')}#{j}")
    if updated:
        changes.say(f"updated {plural(len(updated), 'chain entry')}: {', '.join(updated)}")
    changes.note(f"the round-robin cursor of {old} does not carry over; {new} starts at its first member")
    return changes


def toggle_pool(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None) -> Changes:
    """Flip a pool's ``enabled`` (or set it to ``state``)."""
    return toggle_item(doc, ctx, "pools", name, state, None)


def set_pool_members(doc: PolicyDocument, ctx: EditContext, name: str, *, members: Sequence[str] | None = None,
                     add: Sequence[str] = (), remove: Sequence[str] = ()) -> Changes:
    """Replace (``members``), extend (``add``) or shrink (``remove``) a pool's members, in rotation order."""
    pools = section_of(doc, ctx, "pools")
    index = find_item(pools, name, "pool", where_of(doc, "pools"))
    current = [m for m in (pools[index].get("members") or []) if isinstance(m, str)]
    wanted = list(current) if members is None else [m.strip() for m in members if m.strip()]
    for member in add:
        if member in wanted:
            raise EditError(f"{member} is already a member of pool {name}")
        wanted.append(member)
    for member in remove:
        if member not in wanted:
            raise EditError(f"{member!r} is not a member of pool {name}", hint_for(member, wanted, "members"))
        wanted.remove(member)
    if not wanted:
        raise EditError("Pool needs at least 1 member.", f"remove the pool instead: `mp-policy pool remove {name}`")
    repeated = sorted({m for m in wanted if wanted.count(m) > 1})
    if repeated:
        raise EditError(f"{', '.join(repeated)} listed twice")
    check_accounts(doc, ctx, [m for m in wanted if m not in current], f"pool {name}")
    changes = Changes()
    if wanted == current:
        changes.say(f"pool {name} already has the members {', '.join(current)}")
        return changes
    own_section(doc, ctx, "pools", changes)
    doc.set(("pools", index), "members", wanted)
    changes.say(f"pool {name} members: {', '.join(wanted)}")
    gone = drop_schedule(doc, index, [m for m in current if m not in wanted])
    if gone:
        changes.say(f"dropped the schedule of {', '.join(gone)}")
    return changes


def set_pool_strategy(doc: PolicyDocument, ctx: EditContext, name: str, strategy: str, *,
                      selector_script: str | None = None) -> Changes:
    """Set a pool's strategy (round-robin is written by leaving ``strategy`` out)."""
    _check_strategy(ctx, strategy)
    pools = section_of(doc, ctx, "pools")
    index = find_item(pools, name, "pool", where_of(doc, "pools"))
    pool = pools[index]
    if selector_script and strategy != "custom":
        raise EditError("--selector-script only goes with the custom strategy")
    if strategy == "custom" and not (selector_script or pool.get("selectorScript")):
        raise EditError("the custom strategy needs a selector script", "add --selector-script selectors/NAME.py")
    changes = Changes()
    own_section(doc, ctx, "pools", changes)
    if strategy == "round-robin":
        if "strategy" in pool:
            doc.delete(("pools", index, "strategy"))
    else:
        doc.set(("pools", index), "strategy", strategy, order=POOL_ORDER)
    if selector_script:
        doc.set(("pools", index), "selectorScript", selector_script, order=POOL_ORDER)
    before = pool.get("strategy") or "round-robin"
    if before == strategy and not selector_script:
        changes.say(f"pool {name} already uses {strategy}")
    else:
        changes.say(f"pool {name} strategy: {strategy}" + (f" ({selector_script})" if selector_script else ""))
    if strategy == "scheduled" and not pool.get("memberSchedule"):
        changes.note(SCHEDULE_NOTE.format(name=name))
    if strategy != "scheduled" and pool.get("memberSchedule"):
        changes.note(f"pool {name} keeps its memberSchedule, which only the scheduled strategy uses")
    return changes


def set_member_schedule(doc: PolicyDocument, ctx: EditContext, pool_name: str, member: str, *,
                        role: str | None = None, windows: Sequence[Mapping[str, Any]] = (),
                        clear: bool = False) -> Changes:
    """Set (or with ``clear``, remove) a member's role and windows in a scheduled pool."""
    pools = section_of(doc, ctx, "pools")
    index = find_item(pools, pool_name, "pool", where_of(doc, "pools"))
    pool = pools[index]
    members = [m for m in (pool.get("members") or []) if isinstance(m, str)]
    if member not in members:
        raise EditError(f"{member!r} is not a member of pool {pool_name}", hint_for(member, members, "members"))
    schedule = pool.get("memberSchedule") if isinstance(pool.get("memberSchedule"), Mapping) else {}
    changes = Changes()
    if clear:
        if member not in schedule:
            changes.say(f"{member} has no schedule in pool {pool_name}")
            return changes
        own_section(doc, ctx, "pools", changes)
        drop_schedule(doc, index, [member])
        changes.say(f"removed the schedule of {member} in pool {pool_name} (it is a default member now)")
        return changes
    if role is None:
        raise EditError("give --role preferred, default or overflow (or --clear)")
    if role not in ROLES:
        raise EditError(f"unknown role {role!r}", hint_for(role, ROLES, "roles"))
    if windows and role != "preferred":
        raise EditError(f"windows only apply to preferred members, not to {role} ones",
                        "use --role preferred, or leave out --window")
    entry = FlowMap(role=role)
    if windows:
        entry["windows"] = FlowList([FlowMap(w) for w in windows])
    own_section(doc, ctx, "pools", changes)
    if member in schedule:
        doc.set(("pools", index, "memberSchedule"), member, entry)
    elif schedule:
        order = [m for m in members if m in schedule or m == member]
        doc.set(("pools", index, "memberSchedule"), member, entry, order=order)
    else:
        doc.set(("pools", index), "memberSchedule", BlockMap({member: entry}), order=POOL_ORDER)
    from policy_engine.edit.schedule_text import format_window

    shown = "; ".join(format_window(w) for w in windows)
    if role == "preferred":
        changes.say(f"{member} in pool {pool_name}: preferred " + (f"in {shown}" if windows else "(always active)"))
    else:
        changes.say(f"{member} in pool {pool_name}: {role}")
    if (pool.get("strategy") or "round-robin") != "scheduled":
        changes.note(f"pool {pool_name} uses {pool.get('strategy') or 'round-robin'}; schedules only apply with "
                     f"`mp-policy pool strategy {pool_name} scheduled`")
    return changes


def prune_entries(doc: PolicyDocument, section: str, items: Sequence[Any], key: str, value: str
                   ) -> list[tuple[Mapping[str, Any], list[int], bool]]:
    """Remove the entries whose ``key`` is ``value`` from the chains or presets ``items`` of ``section``.

    An item left without entries is removed whole. Returns, last item first, each item that had
    such entries: the item, the indexes of those entries, and whether the whole item went.
    """
    pruned = []
    for i in range(len(items) - 1, -1, -1):
        item = items[i]
        entries = item.get("entries") if isinstance(item, Mapping) else None
        if not isinstance(entries, list):
            continue
        hits = [j for j, e in enumerate(entries) if isinstance(e, Mapping) and e.get(key) == value]
        if not hits:
            continue
        whole = len(hits) == len(entries)
        if whole:
            doc.delete((section, i))
        else:
            for j in reversed(hits):
                doc.delete((section, i, "entries", j))
        pruned.append((item, hits, whole))
    return pruned


def drop_schedule(doc: PolicyDocument, pool_index: int, members: Sequence[str]) -> list[str]:
    """Remove the schedules of ``members`` from pool ``pool_index``; the members whose schedule went."""
    schedule = doc.get(("pools", pool_index, "memberSchedule"))
    if not isinstance(schedule, Mapping):
        return []
    gone = [m for m in members if m in schedule]
    if gone and len(gone) == len(schedule):
        doc.delete(("pools", pool_index, "memberSchedule"))
        return gone
    for member in gone:
        doc.delete(("pools", pool_index, "memberSchedule", member))
    return gone

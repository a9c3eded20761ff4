"""What the editing commands do to a policy: subscriptions, pools, chains, presets, project overlays.

Each operation takes a :class:`~policy_engine.edit.document.PolicyDocument` and an
:class:`EditContext` (the plugin registry's providers and strategies, ``MULTI_SUB``, and for a
project overlay the global policy), changes the document and returns a :class:`Changes` (what
was done, in one line each, and notes worth knowing). A request that cannot be carried out (a
name that does not exist, a provider that is not known) raises :class:`EditError` with a hint,
and leaves the document as it was.

Choices (pi-multi-pass's behaviour unless said otherwise):

- Subscriptions: a new extra account gets the smallest free index >= 2 of its provider, counting
  the indexes of saved accounts and of the ones ``MULTI_SUB`` adds; ``--index N`` is refused when
  a saved account already has it. Entries are written ``{provider, index, label}``. Subscriptions
  are global: a project overlay cannot declare them.
- Removing a subscription removes it from every pool (and its ``memberSchedule`` entry); a pool
  left without members is removed, and so are chain entries into it (then chains left empty).
  Preset entries naming the account are removed too (then presets left empty); pi-multi-pass
  left those behind, but they could never be used again.
- New pools, chains and presets go at the end of their list; pools, chains, presets and their
  entries are written with ``enabled: true`` (pi-multi-pass reads a missing ``enabled`` as
  disabled); a pool's ``strategy`` is left out for round-robin, as pi-multi-pass writes it.
- Removing or renaming a pool prunes or rewrites the chain entries that use it, and says which.
- ``toggle`` flips ``enabled`` (absent counts as enabled), or sets it with an explicit state.
- In a project overlay, pools, chains and presets are the project's own when it lists them and
  the global ones otherwise. The first edit of such a section in a project copies the global
  list into the overlay (and says so), so that the edit changes only what it names: a project
  list replaces the global one whole. The same holds for chains that must follow a pool edit.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from policy_engine.edit.document import BlockList, BlockMap, FlowList, FlowMap, PolicyDocument
from policy_engine.policy.validation import did_you_mean
from policy_engine.providers.families import base_of

__all__ = [
    "POLICY_ORDER",
    "POOL_ORDER",
    "PROJECT_ORDER",
    "ROLES",
    "Changes",
    "EditContext",
    "EditError",
    "add_subscription",
    "clear_project",
    "create_chain",
    "create_pool",
    "create_preset",
    "known_accounts",
    "remove_chain",
    "remove_pool",
    "remove_preset",
    "remove_subscription",
    "rename_pool",
    "restrict_project",
    "set_member_schedule",
    "set_pool_members",
    "set_pool_strategy",
    "toggle_chain",
    "toggle_pool",
    "toggle_preset",
]

#: Where new top-level keys go in a policy and in a project overlay.
POLICY_ORDER = ("$schema", "version", "settings", "subscriptions", "pools", "chains", "presets", "errorRules")
PROJECT_ORDER = ("$schema", "allowedSubs", "pools", "chains", "presets", "settings", "errorRules")
#: Where new keys go in a pool (pi-multi-pass's order, then ours).
POOL_ORDER = ("name", "baseProvider", "members", "enabled", "strategy", "cooldown", "timezone", "memberSchedule",
              "selectorScript", "options")
_LIST_ORDER = ("name", "enabled", "entries")
_ENTRY_ORDER = ("pool", "provider", "model", "enabled")
ROLES = ("preferred", "default", "overflow")
_SCHEDULE_NOTE = "give members roles and windows with `mp-policy pool schedule {name} MEMBER --role preferred " \
                 "--window '9-17 mon-fri'`"
_NOUN = {"pools": "pool", "chains": "chain", "presets": "preset", "subscriptions": "subscription"}


class EditError(Exception):
    """An edit that cannot be made (a usage error); ``hint`` says what to do instead."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


@dataclass
class Changes:
    """What an operation did (``messages``, one line each) and what is worth knowing (``notes``)."""

    messages: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def say(self, text: str) -> None:
        """Record one change."""
        self.messages.append(text)

    def note(self, text: str) -> None:
        """Record a remark that is not a change."""
        self.notes.append(text)

    def extend(self, other: Changes) -> None:
        """Add another operation's messages and notes."""
        self.messages += other.messages
        self.notes += other.notes


@dataclass(frozen=True)
class EditContext:
    """What operations need besides the document: providers, strategies, ``MULTI_SUB``, the global policy."""

    providers: Mapping[str, str]  # base provider -> display name
    strategies: frozenset[str]
    env: Mapping[str, str] = field(default_factory=dict)
    global_data: Mapping[str, Any] | None = None  # for a project overlay: the global policy's content
    models: Mapping[str, frozenset[str]] = field(default_factory=dict)  # base -> catalogue, where known

    @classmethod
    def from_registry(cls, env: Mapping[str, str] | None = None, global_data: Mapping[str, Any] | None = None,
                      agent_dir: Path | None = None) -> EditContext:
        """The context of the installed plugins (and of the custom providers in ``agent_dir``'s ``models.json``)."""
        from policy_engine.plugins import registry_for

        registry = registry_for(agent_dir)
        return cls(providers={base: spec.display_name for base, spec in registry.providers.items()},
                   strategies=frozenset(registry.strategies), env=dict(env or {}), global_data=global_data,
                   models={b: s.models for b, s in registry.providers.items() if s.models is not None})


# --------------------------------------------------------------------------------------- helpers


def _hint_for(name: str, options: Sequence[str], what: str) -> str | None:
    match = did_you_mean(name, options)
    if match:
        return f"did you mean {match!r}?"
    return f"known {what}: {', '.join(options)}" if options else None


def _subscription_data(doc: PolicyDocument, ctx: EditContext) -> Mapping[str, Any]:
    """The document whose ``subscriptions`` count: the policy itself, or the global one for a project."""
    if doc.kind == "project":
        return ctx.global_data or {}
    return doc.data


def _subscriptions(doc: PolicyDocument, ctx: EditContext) -> list[Any]:
    from policy_engine.policy.loader import from_object
    from policy_engine.policy.merge import merge_policy

    merged = merge_policy(from_object(dict(_subscription_data(doc, ctx))), None, ctx.env, frozenset(ctx.providers))
    return list(merged.subscriptions)


def known_accounts(doc: PolicyDocument, ctx: EditContext) -> list[str]:
    """Every account name: base providers, then declared and ``MULTI_SUB`` subscriptions."""
    names = list(ctx.providers)
    names += [s.name for s in _subscriptions(doc, ctx) if s.provider in ctx.providers and s.name not in names]
    return names


def _check_accounts(doc: PolicyDocument, ctx: EditContext, names: Sequence[str], what: str) -> None:
    known = known_accounts(doc, ctx)
    for name in names:
        if name not in known:
            match = did_you_mean(name, known)
            raise EditError(f"{what}: {name!r} is not a known account",
                            f"did you mean {match!r}?" if match else
                            "add it first with `mp-policy subs add PROVIDER`; `mp-policy subs list` shows the accounts")


def _section(doc: PolicyDocument, ctx: EditContext, section: str) -> list[Mapping[str, Any]]:
    """The items of ``section`` that apply to this document (a project without its own: the global ones)."""
    value = doc.data.get(section)
    if isinstance(value, list):
        return [x for x in value if isinstance(x, Mapping)]
    if value is not None:
        raise EditError(f"{doc.source}: {section} is not a list; fix it by hand first")
    if doc.kind == "project" and ctx.global_data and isinstance(ctx.global_data.get(section), list):
        return [x for x in ctx.global_data[section] if isinstance(x, Mapping)]
    return []


def _own_section(doc: PolicyDocument, ctx: EditContext, section: str, changes: Changes) -> list[Mapping[str, Any]]:
    """Make sure the document has its own ``section`` (a project copies the global one first)."""
    inherited = _section(doc, ctx, section)
    if doc.data.get(section) is None and doc.kind == "project" and inherited:
        doc.set((), section, BlockList([_styled(section, x) for x in inherited]), order=PROJECT_ORDER)
        changes.note(f"the project had no {section} of its own: copied the {len(inherited)} global "
                     f"{_NOUN[section]}{'s' if len(inherited) != 1 else ''} into it first (a project's "
                     f"{section} replace the global ones)")
    return [x for x in (doc.data.get(section) or []) if isinstance(x, Mapping)]


def _add_item(doc: PolicyDocument, ctx: EditContext, section: str, item: Any, changes: Changes) -> None:
    _own_section(doc, ctx, section, changes)
    if isinstance(doc.data.get(section), list):
        doc.append((section,), item)
    else:
        order = PROJECT_ORDER if doc.kind == "project" else POLICY_ORDER
        doc.set((), section, BlockList([item]), order=order)


def _find(items: Sequence[Mapping[str, Any]], name: str, noun: str, where: str) -> int:
    for i, item in enumerate(items):
        if item.get("name") == name:
            return i
    names = [str(x.get("name")) for x in items if isinstance(x.get("name"), str)]
    raise EditError(f"there is no {noun} {name!r} in {where}", _hint_for(name, names, f"{noun}s"))


def _where(doc: PolicyDocument, section: str) -> str:
    if doc.kind == "project" and section not in doc.data:
        return f"the global {section} (used by {doc.source})"
    return doc.source


def _check_name(name: str, noun: str) -> str:
    cleaned = name.strip() if isinstance(name, str) else ""
    if not cleaned:
        raise EditError(f"a {noun} needs a name")
    return cleaned


def _styled(section: str, item: Mapping[str, Any]) -> Any:
    """A copied item in the styles new items get (block pools with flow members, flow entries)."""
    data = copy.deepcopy(dict(item))
    if section == "subscriptions":
        return FlowMap(data)
    if section == "pools":
        if isinstance(data.get("members"), list):
            data["members"] = FlowList(data["members"])
        if isinstance(data.get("memberSchedule"), Mapping):
            data["memberSchedule"] = BlockMap({k: _styled_schedule(v) for k, v in data["memberSchedule"].items()})
        return BlockMap(data)
    if isinstance(data.get("entries"), list):
        data["entries"] = BlockList([FlowMap(e) if isinstance(e, Mapping) else e for e in data["entries"]])
    return BlockMap(data)


def _styled_schedule(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    out = FlowMap(value)
    if isinstance(out.get("windows"), list):
        out["windows"] = FlowList([FlowMap(w) if isinstance(w, Mapping) else w for w in out["windows"]])
    return out


def _plural(count: int, noun: str) -> str:
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


# -------------------------------------------------------------------------------- subscriptions


def _no_project(doc: PolicyDocument) -> None:
    if doc.kind == "project":
        raise EditError("subscriptions are global: a project overlay cannot declare them",
                        "run it without --project; narrow a project with `mp-policy project restrict NAME...`")


def add_subscription(doc: PolicyDocument, ctx: EditContext, provider: str, *, label: str | None = None,
                     index: int | None = None) -> tuple[str, Changes]:
    """Add an extra account of ``provider``; returns its name (``openai-codex-2``) and the changes."""
    _no_project(doc)
    if provider not in ctx.providers:
        base = base_of(provider, frozenset(ctx.providers))
        if base is not None:
            raise EditError(f"{provider!r} is an account name; give its provider ({base}) and the index is chosen",
                            f"mp-policy subs add {base}")
        raise EditError(f"unknown provider {provider!r}", _hint_for(provider, sorted(ctx.providers), "providers"))
    subs = _subscriptions(doc, ctx)
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
    _add_item(doc, ctx, "subscriptions", entry, changes)
    name = f"{provider}-{chosen}"
    shown = f"{name} ({clean_label})" if clean_label else name
    changes.say(f"added subscription {shown}: {ctx.providers[provider]} #{chosen}")
    changes.note(f"log in to {name} in pi (/login) before it can be used")
    return name, changes


def remove_subscription(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove an extra account (by name, or by a label only it has) and every use of it (see the module)."""
    _no_project(doc)
    subs = _subscriptions(doc, ctx)
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
        raise EditError(f"there is no subscription {name!r} in {doc.source}", _hint_for(name, names, "subscriptions"))
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
            changes.extend(_delete_pool(doc, ctx, i))
            continue
        doc.set(("pools", i), "members", rest)
        _drop_schedule(doc, i, [account])
        left.append(str(pool.get("name")))
    if left:
        changes.say(f"removed {account} from pool{'s' if len(left) > 1 else ''} {', '.join(reversed(left))}")
    presets = doc.data.get("presets") if isinstance(doc.data.get("presets"), list) else []
    for preset, hits, whole in _prune_entries(doc, "presets", presets, "provider", account):
        if whole:
            changes.say(f"removed preset {preset.get('name')} (all its entries used {account})")
        else:
            changes.say(f"removed {_plural(len(hits), 'entry')} using {account} from preset {preset.get('name')}")
    return changes


def _prune_entries(doc: PolicyDocument, section: str, items: Sequence[Any], key: str, value: str
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


def _drop_schedule(doc: PolicyDocument, pool_index: int, members: Sequence[str]) -> list[str]:
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


# ---------------------------------------------------------------------------------------- pools


def _check_strategy(ctx: EditContext, strategy: str) -> None:
    if strategy not in ctx.strategies:
        raise EditError(f"unknown strategy {strategy!r}", _hint_for(strategy, sorted(ctx.strategies), "strategies"))


def create_pool(doc: PolicyDocument, ctx: EditContext, name: str, *, provider: str, members: Sequence[str],
                strategy: str | None = None, enabled: bool = True, selector_script: str | None = None) -> Changes:
    """Add a pool at the end of the pools."""
    name = _check_name(name, "pool")
    if provider not in ctx.providers:
        raise EditError(f"unknown provider {provider!r}", _hint_for(provider, sorted(ctx.providers), "providers"))
    wanted = [m.strip() for m in members if m.strip()]
    if not wanted:
        raise EditError("Pool needs at least 1 member.",
                        "give --members with account names, e.g. anthropic,anthropic-2")
    repeated = sorted({m for m in wanted if wanted.count(m) > 1})
    if repeated:
        raise EditError(f"{', '.join(repeated)} listed twice in --members")
    _check_accounts(doc, ctx, wanted, f"pool {name}")
    if strategy is not None:
        _check_strategy(ctx, strategy)
    if strategy == "custom" and not selector_script:
        raise EditError("the custom strategy needs a selector script", "add --selector-script selectors/NAME.py")
    if selector_script and strategy != "custom":
        raise EditError("--selector-script only goes with --strategy custom")
    existing = _section(doc, ctx, "pools")
    if any(p.get("name") == name for p in existing):
        raise EditError(f"a pool named {name!r} already exists in {_where(doc, 'pools')}",
                        f"choose another name, or change it with `mp-policy pool members {name} ...`")
    item = BlockMap(name=name, baseProvider=provider, members=FlowList(wanted), enabled=enabled)
    if strategy and strategy != "round-robin":
        item["strategy"] = strategy
    if selector_script:
        item["selectorScript"] = selector_script
    changes = Changes()
    _add_item(doc, ctx, "pools", item, changes)
    state = "" if enabled else ", disabled"
    changes.say(f"created pool {name} ({provider}: {', '.join(wanted)}; {strategy or 'round-robin'}{state})")
    others = [m for m in wanted if base_of(m, frozenset(ctx.providers)) != provider]
    if others:
        changes.note(f"{', '.join(others)} {'is not an account' if len(others) == 1 else 'are not accounts'} of "
                     f"{provider}; a pool's members stand in for each other with the same model")
    if strategy == "scheduled":
        changes.note(_SCHEDULE_NOTE.format(name=name))
    return changes


def _delete_pool(doc: PolicyDocument, ctx: EditContext, index: int) -> Changes:
    name = str(doc.get(("pools", index, "name")))
    doc.delete(("pools", index))
    return _prune_chains(doc, ctx, name)


def _chains_for(doc: PolicyDocument, ctx: EditContext, pool: str, changes: Changes) -> list[Mapping[str, Any]]:
    """The document's chains when some entry uses ``pool`` (a project copies the global chains first)."""
    chains = _section(doc, ctx, "chains")
    uses = any(isinstance(e, Mapping) and e.get("pool") == pool
               for c in chains for e in (c.get("entries") or []))
    if not uses:
        return []
    return _own_section(doc, ctx, "chains", changes)


def _prune_chains(doc: PolicyDocument, ctx: EditContext, pool: str) -> Changes:
    changes = Changes()
    chains = _chains_for(doc, ctx, pool, changes)
    pruned: list[str] = []
    for chain, hits, whole in _prune_entries(doc, "chains", chains, "pool", pool):
        pruned[:0] = [f"{chain.get('name')}#{j}" for j in hits]
        if whole:
            changes.say(f"removed chain {chain.get('name')} (all its entries used pool {pool})")
    if pruned:
        changes.messages.insert(0, f"pruned the chain entries that used pool {pool}: {', '.join(pruned)}")
    return changes


def remove_pool(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove a pool (its accounts stay) and prune the chain entries into it."""
    changes = Changes()
    index = _find(_section(doc, ctx, "pools"), name, "pool", _where(doc, "pools"))
    _own_section(doc, ctx, "pools", changes)
    changes.say(f"removed pool {name}")
    changes.extend(_delete_pool(doc, ctx, index))
    return changes


def rename_pool(doc: PolicyDocument, ctx: EditContext, old: str, new: str) -> Changes:
    """Rename a pool and every chain entry that uses it."""
    new = _check_name(new, "pool")
    pools = _section(doc, ctx, "pools")
    index = _find(pools, old, "pool", _where(doc, "pools"))
    if new == old:
        raise EditError(f"pool {old!r} already has that name")
    if any(p.get("name") == new for p in pools):
        raise EditError(f"a pool named {new!r} already exists in {_where(doc, 'pools')}")
    changes = Changes()
    _own_section(doc, ctx, "pools", changes)
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
        changes.say(f"updated {_plural(len(updated), 'chain entry')}: {', '.join(updated)}")
    changes.note(f"the round-robin cursor of {old} does not carry over; {new} starts at its first member")
    return changes


def toggle_pool(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None) -> Changes:
    """Flip a pool's ``enabled`` (or set it to ``state``)."""
    return _toggle(doc, ctx, "pools", name, state, None)


def set_pool_members(doc: PolicyDocument, ctx: EditContext, name: str, *, members: Sequence[str] | None = None,
                     add: Sequence[str] = (), remove: Sequence[str] = ()) -> Changes:
    """Replace (``members``), extend (``add``) or shrink (``remove``) a pool's members, in rotation order."""
    pools = _section(doc, ctx, "pools")
    index = _find(pools, name, "pool", _where(doc, "pools"))
    current = [m for m in (pools[index].get("members") or []) if isinstance(m, str)]
    wanted = list(current) if members is None else [m.strip() for m in members if m.strip()]
    for member in add:
        if member in wanted:
            raise EditError(f"{member} is already a member of pool {name}")
        wanted.append(member)
    for member in remove:
        if member not in wanted:
            raise EditError(f"{member!r} is not a member of pool {name}", _hint_for(member, wanted, "members"))
        wanted.remove(member)
    if not wanted:
        raise EditError("Pool needs at least 1 member.", f"remove the pool instead: `mp-policy pool remove {name}`")
    repeated = sorted({m for m in wanted if wanted.count(m) > 1})
    if repeated:
        raise EditError(f"{', '.join(repeated)} listed twice")
    _check_accounts(doc, ctx, [m for m in wanted if m not in current], f"pool {name}")
    changes = Changes()
    if wanted == current:
        changes.say(f"pool {name} already has the members {', '.join(current)}")
        return changes
    _own_section(doc, ctx, "pools", changes)
    doc.set(("pools", index), "members", wanted)
    changes.say(f"pool {name} members: {', '.join(wanted)}")
    gone = _drop_schedule(doc, index, [m for m in current if m not in wanted])
    if gone:
        changes.say(f"dropped the schedule of {', '.join(gone)}")
    return changes


def set_pool_strategy(doc: PolicyDocument, ctx: EditContext, name: str, strategy: str, *,
                      selector_script: str | None = None) -> Changes:
    """Set a pool's strategy (round-robin is written by leaving ``strategy`` out)."""
    _check_strategy(ctx, strategy)
    pools = _section(doc, ctx, "pools")
    index = _find(pools, name, "pool", _where(doc, "pools"))
    pool = pools[index]
    if selector_script and strategy != "custom":
        raise EditError("--selector-script only goes with the custom strategy")
    if strategy == "custom" and not (selector_script or pool.get("selectorScript")):
        raise EditError("the custom strategy needs a selector script", "add --selector-script selectors/NAME.py")
    changes = Changes()
    _own_section(doc, ctx, "pools", changes)
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
        changes.note(_SCHEDULE_NOTE.format(name=name))
    if strategy != "scheduled" and pool.get("memberSchedule"):
        changes.note(f"pool {name} keeps its memberSchedule, which only the scheduled strategy uses")
    return changes


def set_member_schedule(doc: PolicyDocument, ctx: EditContext, pool_name: str, member: str, *,
                        role: str | None = None, windows: Sequence[Mapping[str, Any]] = (),
                        clear: bool = False) -> Changes:
    """Set (or with ``clear``, remove) a member's role and windows in a scheduled pool."""
    pools = _section(doc, ctx, "pools")
    index = _find(pools, pool_name, "pool", _where(doc, "pools"))
    pool = pools[index]
    members = [m for m in (pool.get("members") or []) if isinstance(m, str)]
    if member not in members:
        raise EditError(f"{member!r} is not a member of pool {pool_name}", _hint_for(member, members, "members"))
    schedule = pool.get("memberSchedule") if isinstance(pool.get("memberSchedule"), Mapping) else {}
    changes = Changes()
    if clear:
        if member not in schedule:
            changes.say(f"{member} has no schedule in pool {pool_name}")
            return changes
        _own_section(doc, ctx, "pools", changes)
        _drop_schedule(doc, index, [member])
        changes.say(f"removed the schedule of {member} in pool {pool_name} (it is a default member now)")
        return changes
    if role is None:
        raise EditError("give --role preferred, default or overflow (or --clear)")
    if role not in ROLES:
        raise EditError(f"unknown role {role!r}", _hint_for(role, ROLES, "roles"))
    if windows and role != "preferred":
        raise EditError(f"windows only apply to preferred members, not to {role} ones",
                        "use --role preferred, or leave out --window")
    entry = FlowMap(role=role)
    if windows:
        entry["windows"] = FlowList([FlowMap(w) for w in windows])
    _own_section(doc, ctx, "pools", changes)
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


# ------------------------------------------------------------------------------ chains, presets


def _toggle(doc: PolicyDocument, ctx: EditContext, section: str, name: str, state: bool | None,
            entry: int | None) -> Changes:
    noun = _NOUN[section]
    items = _section(doc, ctx, section)
    index = _find(items, name, noun, _where(doc, section))
    path: tuple[str | int, ...] = (section, index)
    target = items[index]
    what = f"{noun} {name}"
    order: Sequence[str] = POOL_ORDER if section == "pools" else _LIST_ORDER
    if entry is not None:
        entries = target.get("entries") if isinstance(target.get("entries"), list) else []
        if not 0 <= entry < len(entries):
            raise EditError(f"{noun} {name} has no entry {entry}",
                            f"entries are numbered from 0 to {len(entries) - 1}" if entries else None)
        path, target, what, order = (*path, "entries", entry), entries[entry], f"{noun} {name} entry {entry}", \
            _ENTRY_ORDER
    current = target.get("enabled", True) is not False
    wanted = (not current) if state is None else state
    changes = Changes()
    if wanted == current and "enabled" in target:
        changes.say(f"{what} is already {'enabled' if current else 'disabled'}")
        return changes
    _own_section(doc, ctx, section, changes)
    doc.set(path, "enabled", wanted, order=order)
    changes.say(f"{'enabled' if wanted else 'disabled'} {what}")
    return changes


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
    name = _check_name(name, "chain")
    parsed = _parse_entries(entries, "POOL")
    pools = {str(p.get("name")): p for p in _section(doc, ctx, "pools")}
    for pool, model in parsed:
        if pool not in pools:
            raise EditError(f"chain {name}: there is no pool {pool!r} in {_where(doc, 'pools')}",
                            _hint_for(pool, sorted(pools), "pools"))
        base = str(pools[pool].get("baseProvider"))
        _check_model(ctx, base, model, f"chain {name}: {base}")
    return _create_list_item(doc, ctx, "chains", name, "pool", parsed, enabled=enabled, replace=replace)


def _check_model(ctx: EditContext, base: str, model: str, who: str) -> None:
    """Refuse a model the catalogue of ``base`` does not list (when the catalogue is known)."""
    catalogue = ctx.models.get(base)
    if catalogue is not None and model not in catalogue:
        raise EditError(f"{who} has no model {model!r}", _hint_for(model, sorted(catalogue), "models"))


def _create_list_item(doc: PolicyDocument, ctx: EditContext, section: str, name: str, key: str,
                      parsed: Sequence[tuple[str, str]], *, enabled: bool, replace: bool) -> Changes:
    """Add (or with ``replace``, replace in place) the chain or preset ``name`` of ``(key, model)`` entries."""
    noun = _NOUN[section]
    item = BlockMap(name=name, enabled=enabled,
                    entries=BlockList([FlowMap({key: first, "model": model, "enabled": True})
                                       for first, model in parsed]))
    shown = " → ".join(f"{first}:{model}" for first, model in parsed)
    changes = Changes()
    existing = _section(doc, ctx, section)
    state = "" if enabled else " (disabled)"
    if any(x.get("name") == name for x in existing):
        if not replace:
            raise EditError(f"a {noun} named {name!r} already exists in {_where(doc, section)}",
                            f"add --replace to overwrite it, or `mp-policy {noun} remove {name}` first")
        index = _find(existing, name, noun, doc.source)
        _own_section(doc, ctx, section, changes)
        _replace_item(doc, section, index, item)
        changes.say(f"replaced {noun} {name}: {shown}{state}")
        return changes
    _add_item(doc, ctx, section, item, changes)
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
    noun = _NOUN[section]
    index = _find(_section(doc, ctx, section), name, noun, _where(doc, section))
    changes = Changes()
    _own_section(doc, ctx, section, changes)
    doc.delete((section, index))
    changes.say(f"removed {noun} {name}")
    return changes


def toggle_chain(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None, *,
                 entry: int | None = None) -> Changes:
    """Flip a chain's ``enabled`` (or one entry's, 0-based), or set it to ``state``."""
    return _toggle(doc, ctx, "chains", name, state, entry)


def create_preset(doc: PolicyDocument, ctx: EditContext, name: str, entries: Sequence[str | tuple[str, str]], *,
                  enabled: bool = True, replace: bool = False) -> Changes:
    """Add a preset of ``PROVIDER:MODEL`` entries (or replace one with ``replace``)."""
    name = _check_name(name, "preset")
    parsed = _parse_entries(entries, "PROVIDER")
    _check_accounts(doc, ctx, [p for p, _ in parsed], f"preset {name}")
    for provider, model in parsed:
        _check_model(ctx, base_of(provider, frozenset(ctx.providers)) or provider, model, f"preset {name}: {provider}")
    return _create_list_item(doc, ctx, "presets", name, "provider", parsed, enabled=enabled, replace=replace)


def remove_preset(doc: PolicyDocument, ctx: EditContext, name: str) -> Changes:
    """Remove a preset."""
    return _remove_item(doc, ctx, "presets", name)


def toggle_preset(doc: PolicyDocument, ctx: EditContext, name: str, state: bool | None = None, *,
                  entry: int | None = None) -> Changes:
    """Flip a preset's ``enabled`` (or one entry's, 0-based), or set it to ``state``."""
    return _toggle(doc, ctx, "presets", name, state, entry)


# ------------------------------------------------------------------------------------- projects


def restrict_project(doc: PolicyDocument, ctx: EditContext, names: Sequence[str], *, add: bool = False) -> Changes:
    """Set (or with ``add``, extend) the overlay's ``allowedSubs``, an exact allow-list of account names."""
    if doc.kind != "project":
        raise EditError("allowedSubs belongs in a project overlay (<project>/.pi/multi-pass.yaml)")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        raise EditError("name at least one account to allow", "to lift the restriction, use `mp-policy project clear`")
    _check_accounts(doc, ctx, wanted, "allowedSubs")
    current = [n for n in (doc.data.get("allowedSubs") or []) if isinstance(n, str)]
    if add:
        wanted = current + [n for n in wanted if n not in current]
    changes = Changes()
    if wanted == current:
        changes.say(f"the project is already restricted to {', '.join(current)}")
        return changes
    doc.set((), "allowedSubs", FlowList(wanted), order=PROJECT_ORDER)
    changes.say(f"restricted the project to {', '.join(wanted)}")
    for pool in _section(doc, ctx, "pools"):
        members = [m for m in (pool.get("members") or []) if isinstance(m, str)]
        if members and not any(m in wanted for m in members):
            changes.note(f"pool {pool.get('name')} has no allowed member: it is not used in this project")
    return changes


def clear_project(doc: PolicyDocument) -> Changes:
    """Remove the overlay's ``allowedSubs`` (the caller deletes a file left empty)."""
    if doc.kind != "project":
        raise EditError("allowedSubs belongs in a project overlay (<project>/.pi/multi-pass.yaml)")
    changes = Changes()
    if "allowedSubs" not in doc.data:
        changes.say("the project has no restriction")
        return changes
    doc.delete(("allowedSubs",))
    changes.say("removed the project's restriction: every account may be used")
    return changes

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

The operations live by subject in :mod:`~policy_engine.edit.subscription_edits`,
:mod:`~policy_engine.edit.pool_edits`, :mod:`~policy_engine.edit.chain_edits` and
:mod:`~policy_engine.edit.project_edits`; this module holds the context, the results and what they share.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.common.suggestions import did_you_mean
from policy_engine.edit.document import BlockList, BlockMap, FlowList, FlowMap, PolicyDocument

__all__ = [
    "ENTRY_ORDER",
    "LIST_ORDER",
    "NOUN",
    "POLICY_ORDER",
    "POOL_ORDER",
    "PROJECT_ORDER",
    "ROLES",
    "SCHEDULE_NOTE",
    "Changes",
    "EditContext",
    "EditError",
    "add_item",
    "check_accounts",
    "check_name",
    "find_item",
    "hint_for",
    "known_accounts",
    "no_project",
    "own_section",
    "plural",
    "section_of",
    "subscriptions_of",
    "toggle_item",
    "where_of",
]

#: Where new top-level keys go in a policy and in a project overlay.
POLICY_ORDER = ("$schema", "version", "settings", "subscriptions", "pools", "chains", "presets", "errorRules")
PROJECT_ORDER = ("$schema", "allowedSubs", "pools", "chains", "presets", "settings", "errorRules")
#: Where new keys go in a pool (pi-multi-pass's order, then ours).
POOL_ORDER = ("name", "baseProvider", "members", "enabled", "strategy", "cooldown", "timezone", "memberSchedule",
              "selectorScript", "options")
LIST_ORDER = ("name", "enabled", "entries")
ENTRY_ORDER = ("pool", "provider", "model", "enabled")
ROLES = ("preferred", "default", "overflow")
SCHEDULE_NOTE = "give members roles and windows with `mp-policy pool schedule {name} MEMBER --role preferred " \
                 "--window '9-17 mon-fri'`"
NOUN = {"pools": "pool", "chains": "chain", "presets": "preset", "subscriptions": "subscription"}


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


def hint_for(name: str, options: Sequence[str], what: str) -> str | None:
    """A hint for an unknown name: the nearest known one, else the known ones."""
    match = did_you_mean(name, options)
    if match:
        return f"did you mean {match!r}?"
    return f"known {what}: {', '.join(options)}" if options else None


def _subscription_data(doc: PolicyDocument, ctx: EditContext) -> Mapping[str, Any]:
    """The document whose ``subscriptions`` count: the policy itself, or the global one for a project."""
    if doc.kind == "project":
        return ctx.global_data or {}
    return doc.data


def subscriptions_of(doc: PolicyDocument, ctx: EditContext) -> list[Any]:
    """The subscriptions that count for ``doc`` (declared and ``MULTI_SUB``), merged as the engine merges them."""
    from policy_engine.policy.loader import from_object
    from policy_engine.policy.merge import merge_policy

    merged = merge_policy(from_object(dict(_subscription_data(doc, ctx))), None, ctx.env, frozenset(ctx.providers))
    return list(merged.subscriptions)


def known_accounts(doc: PolicyDocument, ctx: EditContext) -> list[str]:
    """Every account name: base providers, then declared and ``MULTI_SUB`` subscriptions."""
    names = list(ctx.providers)
    names += [s.name for s in subscriptions_of(doc, ctx) if s.provider in ctx.providers and s.name not in names]
    return names


def check_accounts(doc: PolicyDocument, ctx: EditContext, names: Sequence[str], what: str) -> None:
    """Raise :class:`EditError` for the first of ``names`` that is not a known account."""
    known = known_accounts(doc, ctx)
    for name in names:
        if name not in known:
            match = did_you_mean(name, known)
            raise EditError(f"{what}: {name!r} is not a known account",
                            f"did you mean {match!r}?" if match else
                            "add it first with `mp-policy subs add PROVIDER`; `mp-policy subs list` shows the accounts")


def section_of(doc: PolicyDocument, ctx: EditContext, section: str) -> list[Mapping[str, Any]]:
    """The items of ``section`` that apply to this document (a project without its own: the global ones)."""
    value = doc.data.get(section)
    if isinstance(value, list):
        return [x for x in value if isinstance(x, Mapping)]
    if value is not None:
        raise EditError(f"{doc.source}: {section} is not a list; fix it by hand first")
    if doc.kind == "project" and ctx.global_data and isinstance(ctx.global_data.get(section), list):
        return [x for x in ctx.global_data[section] if isinstance(x, Mapping)]
    return []


def own_section(doc: PolicyDocument, ctx: EditContext, section: str, changes: Changes) -> list[Mapping[str, Any]]:
    """Make sure the document has its own ``section`` (a project copies the global one first)."""
    inherited = section_of(doc, ctx, section)
    if doc.data.get(section) is None and doc.kind == "project" and inherited:
        doc.set((), section, BlockList([_styled(section, x) for x in inherited]), order=PROJECT_ORDER)
        changes.note(f"the project had no {section} of its own: copied the {len(inherited)} global "
                     f"{NOUN[section]}{'s' if len(inherited) != 1 else ''} into it first (a project's "
                     f"{section} replace the global ones)")
    return [x for x in (doc.data.get(section) or []) if isinstance(x, Mapping)]


def add_item(doc: PolicyDocument, ctx: EditContext, section: str, item: Any, changes: Changes) -> None:
    """Append ``item`` to the document's own ``section`` (created, or copied from the global one, first)."""
    own_section(doc, ctx, section, changes)
    if isinstance(doc.data.get(section), list):
        doc.append((section,), item)
    else:
        order = PROJECT_ORDER if doc.kind == "project" else POLICY_ORDER
        doc.set((), section, BlockList([item]), order=order)


def find_item(items: Sequence[Mapping[str, Any]], name: str, noun: str, where: str) -> int:
    """The index of the item called ``name``; :class:`EditError` with a hint when there is none."""
    for i, item in enumerate(items):
        if item.get("name") == name:
            return i
    names = [str(x.get("name")) for x in items if isinstance(x.get("name"), str)]
    raise EditError(f"there is no {noun} {name!r} in {where}", hint_for(name, names, f"{noun}s"))


def where_of(doc: PolicyDocument, section: str) -> str:
    """Where ``section`` is read from, for messages: the file, or the global section a project uses."""
    if doc.kind == "project" and section not in doc.data:
        return f"the global {section} (used by {doc.source})"
    return doc.source


def check_name(name: str, noun: str) -> str:
    """``name`` stripped; :class:`EditError` when it is empty."""
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


def plural(count: int, noun: str) -> str:
    """``count`` and ``noun``, in the plural unless the count is 1."""
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun[:-1]}ies" if noun.endswith("y") else f"{count} {noun}s"


def no_project(doc: PolicyDocument) -> None:
    """Raise :class:`EditError` for a project overlay (subscriptions are global)."""
    if doc.kind == "project":
        raise EditError("subscriptions are global: a project overlay cannot declare them",
                        "run it without --project; narrow a project with `mp-policy project restrict NAME...`")




def toggle_item(doc: PolicyDocument, ctx: EditContext, section: str, name: str, state: bool | None,
                entry: int | None) -> Changes:
    """Enable, disable or flip (``state`` ``None``) a pool, chain or preset, or one entry of a chain or preset."""
    noun = NOUN[section]
    items = section_of(doc, ctx, section)
    index = find_item(items, name, noun, where_of(doc, section))
    path: tuple[str | int, ...] = (section, index)
    target = items[index]
    what = f"{noun} {name}"
    order: Sequence[str] = POOL_ORDER if section == "pools" else LIST_ORDER
    if entry is not None:
        entries = target.get("entries") if isinstance(target.get("entries"), list) else []
        if not 0 <= entry < len(entries):
            raise EditError(f"{noun} {name} has no entry {entry}",
                            f"entries are numbered from 0 to {len(entries) - 1}" if entries else None)
        path, target, what, order = (*path, "entries", entry), entries[entry], f"{noun} {name} entry {entry}", \
            ENTRY_ORDER
    current = target.get("enabled", True) is not False
    wanted = (not current) if state is None else state
    changes = Changes()
    if wanted == current and "enabled" in target:
        changes.say(f"{what} is already {'enabled' if current else 'disabled'}")
        return changes
    own_section(doc, ctx, section, changes)
    doc.set(path, "enabled", wanted, order=order)
    changes.say(f"{'enabled' if wanted else 'disabled'} {what}")
    return changes

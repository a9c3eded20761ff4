"""Edits of a project overlay: restrict the project to some accounts, or clear the restriction
(``mp-policy project``)."""

from __future__ import annotations

from collections.abc import Sequence

from policy_engine.edit.document import FlowList, PolicyDocument
from policy_engine.edit.operations import PROJECT_ORDER, Changes, EditContext, EditError, check_accounts, section_of

__all__ = [
    "clear_project",
    "restrict_project",
]


def restrict_project(doc: PolicyDocument, ctx: EditContext, names: Sequence[str], *, add: bool = False) -> Changes:
    """Set (or with ``add``, extend) the overlay's ``allowedSubs``, an exact allow-list of account names."""
    if doc.kind != "project":
        raise EditError("allowedSubs belongs in a project overlay (<project>/.pi/multi-pass.yaml)")
    wanted = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not wanted:
        raise EditError("name at least one account to allow", "to lift the restriction, use `mp-policy project clear`")
    check_accounts(doc, ctx, wanted, "allowedSubs")
    current = [n for n in (doc.data.get("allowedSubs") or []) if isinstance(n, str)]
    if add:
        wanted = current + [n for n in wanted if n not in current]
    changes = Changes()
    if wanted == current:
        changes.say(f"the project is already restricted to {', '.join(current)}")
        return changes
    doc.set((), "allowedSubs", FlowList(wanted), order=PROJECT_ORDER)
    changes.say(f"restricted the project to {', '.join(wanted)}")
    for pool in section_of(doc, ctx, "pools"):
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

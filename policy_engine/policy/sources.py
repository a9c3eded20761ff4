"""Finding and reading the policy files of a set-up: the global policy and the project overlay.

Shared by the engine (which refuses a policy with errors) and ``mp-policy validate`` (which
reports every problem), so both read exactly the same files the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path

from policy_engine.common.bounded_read import OVERLAY, POLICY
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.records import dataclass
from policy_engine.policy.document import LoadedDocument, pi_tolerant
from policy_engine.policy.loader import load_file
from policy_engine.policy.locations import agent_dir as default_agent_dir
from policy_engine.policy.locations import find_project_file, global_policy_file, shadowed_policy_warnings
from policy_engine.policy.validation_cache import validate_cached

__all__ = ["PolicySources", "load_checked", "overlay_as_policy", "read_sources", "tolerant_data"]


@dataclass(frozen=True)
class PolicySources:
    """The documents of a set-up, where they came from, and what reading them found."""

    agent_dir: Path
    global_doc: LoadedDocument | None
    project_doc: LoadedDocument | None
    global_path: Path | None = None
    project_path: Path | None = None
    diagnostics: tuple[Diagnostic, ...] = field(default_factory=tuple)

    @property
    def files(self) -> list[Path]:
        """The policy files read (global first)."""
        return [p for p in (self.global_path, self.project_path) if p is not None]

    @property
    def base_dir(self) -> str:
        """The folder relative paths in the global policy start from, absolute (it is part of ``policyRevision``:
        ``agent/multi-pass.yaml`` and its absolute spelling are one policy)."""
        return str((self.global_path.parent if self.global_path else Path(self.agent_dir)).absolute())

    def has_errors(self) -> bool:
        """True when a file could not be read or is invalid."""
        return any(d.severity == "error" for d in self.diagnostics)


def load_checked(path: Path, kind: str) -> tuple[LoadedDocument | None, list[Diagnostic]]:
    """Read and validate one file: the document (None when it cannot be read) and its diagnostics.

    ``kind`` is ``policy`` or ``project``; it picks the schema and the size cap of the file.
    """
    try:
        doc = load_file(path, kind=OVERLAY if kind == "project" else POLICY)
    except PolicyError as exc:
        return None, list(exc.diagnostics)
    found = validate_cached(doc, kind)
    return tolerant_data(doc, found), found


def overlay_as_policy(doc: LoadedDocument | None, found: list[Diagnostic]) -> list[Diagnostic]:
    """``found``, or, for a project overlay given where a policy belongs (``--policy``), one located error
    that says so instead of "unknown key 'allowedSubs'" (or, in a ``.json``, a silently ignored allow-list)."""
    data = doc.data if doc is not None else None
    written = (isinstance(data, Mapping) and "allowedSubs" in data) or any(
        d.path == ("allowedSubs",) for d in found)  # a .json's ignored keys are already left out of data
    if doc is None or not written or not isinstance(data, Mapping) or "subscriptions" in data:
        return found
    line, col = doc.key_position(("allowedSubs",)) or (None, None)
    error = Diagnostic("overlay-as-policy", f"{doc.source} is a project overlay (it has allowedSubs), not a policy",
                       file=doc.source, line=line, col=col, path=("allowedSubs",),
                       hint="pass it with --project (the file or its project folder); --policy takes a global policy")
    return [error, *(d for d in found if d.path[:1] != ("allowedSubs",))]


def tolerant_data(doc: LoadedDocument, diagnostics: list[Diagnostic]) -> LoadedDocument:
    """A ``multi-pass.json`` without the keys pi ignores (:mod:`policy_engine.policy.pi_tolerance`); else ``doc``."""
    if not pi_tolerant(doc):
        return doc
    from policy_engine.policy.pi_tolerance import without_ignored_keys

    return without_ignored_keys(doc, diagnostics)


def read_sources(
    agent_dir: str | os.PathLike[str] | None,
    project: str | os.PathLike[str] | None,
    policy: str | os.PathLike[str] | None,
    env: Mapping[str, str],
    *,
    search_project: bool | None = None,
) -> PolicySources:
    """Find and read the global policy and the project overlay (every problem is collected).

    ``policy`` overrides ``<agentDir>/multi-pass.yaml`` (else ``.json``); ``project`` is a project
    directory or overlay file; without it the current directory and its parents are searched.
    """
    directory = default_agent_dir(agent_dir, env)
    global_path = Path(policy).expanduser() if policy is not None else global_policy_file(directory)
    if search_project is None:
        search_project = project is None
    project_path = find_project_file(project, search_up=search_project, exclude=global_path)
    diagnostics: list[Diagnostic] = [] if policy is not None else shadowed_policy_warnings(directory)
    global_doc = project_doc = None
    if global_path is not None:
        global_doc, found = load_checked(global_path, "policy")
        diagnostics += overlay_as_policy(global_doc, found) if policy is not None else found
    if project_path is not None:
        project_doc, found = load_checked(project_path, "project")
        diagnostics += found
    return PolicySources(directory, global_doc, project_doc, global_path, project_path, tuple(diagnostics))

"""Whole-policy checks for ``mp-policy validate``: schema, merge and compile diagnostics together."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from policy_engine.common.diagnostics import Diagnostic, PolicyError, sort_diagnostics
from policy_engine.common.timezones import local_zone
from policy_engine.compile.compiler import compile_policy, policy_revision
from policy_engine.plugins import registry_for
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.locations import agent_dir as default_agent_dir
from policy_engine.policy.locations import global_policy_file
from policy_engine.policy.merge import merge_policy
from policy_engine.policy.sources import load_checked, read_sources

__all__ = ["Kind", "check_effective", "check_file", "guess_kind"]

Kind = Literal["policy", "project", "test"]


def guess_kind(path: Path) -> Kind:
    """``*.test.yaml`` is a test, a file in a ``.pi`` folder a project overlay, anything else a policy."""
    name = path.name
    if name.endswith((".test.yaml", ".test.yml")):
        return "test"
    if path.parent.name == ".pi":
        return "project"
    return "policy"


def _compile(global_doc: LoadedDocument | None, project_doc: LoadedDocument | None, env: Mapping[str, str],
             base_dir: str | None, known: list[Diagnostic] = (),  # type: ignore[assignment]
             agent_dir: Path | None = None) -> list[Diagnostic]:
    """Compile diagnostics, also for a policy with schema errors (so every problem shows at once).

    A compile diagnostic at, inside or around a place the schema already reported is left out (the
    schema's message is the precise one); if the compiler
    cannot cope with a policy the schema rejected, only the schema's diagnostics are shown.
    ``agent_dir`` adds the custom providers of its ``models.json`` to the known families.
    """
    registry = registry_for(agent_dir)
    schema_failed = any(d.severity == "error" for d in known)
    try:
        merged = merge_policy(global_doc, project_doc, env, registry.bases)
        graph = compile_policy(merged, registry, revision=policy_revision("check"), default_tz=local_zone(),
                               base_dir=base_dir, use_cache=False)
        found = list(graph.diagnostics) + _deep_selector_checks(graph)
    except PolicyError as exc:
        found = list(exc.diagnostics)
    except Exception:
        if not schema_failed:
            raise
        return []
    def overlaps(d: Diagnostic) -> bool:
        # The schema already reported this place, or a place inside it or around it.
        return any(k.file == d.file and (k.path[:len(d.path)] == d.path or d.path[:len(k.path)] == k.path)
                   for k in known)

    return _strict_selectors([d for d in found if not overlaps(d)])


def _deep_selector_checks(graph: Any) -> list[Diagnostic]:
    """JavaScript selectors compiled by ``node`` (the engine itself leaves that to the first call)."""
    found: list[Diagnostic] = []
    for pool in graph.pools.values():
        diagnose = getattr(pool.strategy, "diagnose", None)
        selector = pool.prepared
        if diagnose is not None and getattr(selector, "language", None) == "javascript":
            found += [d for d in diagnose(pool, deep=True) if d.code == "selector-compile"]
    return found


def _strict_selectors(found: list[Diagnostic]) -> list[Diagnostic]:
    """``validate`` reports a selector that does not compile as an error (the engine falls back at run time)."""
    return [dataclasses.replace(d, severity="error") if d.code == "selector-compile" else d for d in found]


def check_file(path: Path, kind: Kind | None = None, *, env: Mapping[str, str] | None = None,
               agent: Path | None = None, global_policy: Path | None = None) -> list[Diagnostic]:
    """Every problem in one file (and, for a test file, in the policy it names).

    A project overlay is checked together with ``global_policy`` (else the agent directory's).
    """
    env = dict(os.environ) if env is None else env
    kind = kind or guess_kind(path)
    doc, diags = load_checked(path, kind)
    if doc is None:
        return sort_diagnostics(diags)
    if kind == "policy":
        diags += _compile(doc, None, env, str(path.parent), diags, agent or default_agent_dir(None, env))
    elif kind == "project":
        global_path = global_policy or global_policy_file(agent or default_agent_dir(None, env))
        global_doc = None
        if global_path is not None:
            global_doc, global_diags = load_checked(global_path, "policy")
            if any(d.severity == "error" for d in global_diags):
                return sort_diagnostics(diags + global_diags)
        diags += _compile(global_doc, doc, env, str(path.parent), diags, agent or default_agent_dir(None, env))
    else:
        parts: dict[str, LoadedDocument | None] = {}
        base = path.parent
        for key, part_kind in (("policy", "policy"), ("project", "project")):
            value = doc.data.get(key) if isinstance(doc.data, Mapping) else None
            if isinstance(value, str):
                part, part_diags = load_checked(base / value, part_kind)  # type: ignore[arg-type]
                diags += part_diags
                parts[key] = part
            elif isinstance(value, Mapping):
                parts[key] = doc.subdocument((key,))
        if parts.get("policy") is not None:
            test_env = {}
            given = doc.data.get("given") if isinstance(doc.data, Mapping) else None
            if isinstance(given, Mapping) and isinstance(given.get("env"), Mapping):
                test_env = {str(k): str(v) for k, v in given["env"].items()}
            diags += _compile(parts["policy"], parts.get("project"), test_env, str(base), diags)
    return sort_diagnostics(diags)


def check_effective(*, agent: Path | None, project: Path | None, policy: Path | None,
                    env: Mapping[str, str] | None = None) -> tuple[list[Path], list[Diagnostic]]:
    """The effective policy of the current set-up: which files it reads, and every problem."""
    env = dict(os.environ) if env is None else env
    sources = read_sources(agent, project, policy, env)
    diags = list(sources.diagnostics)
    if sources.global_doc is not None or sources.project_doc is not None or not diags:
        diags += _compile(sources.global_doc, sources.project_doc, env, sources.base_dir, diags, sources.agent_dir)
    files = sources.files
    return files, sort_diagnostics(diags)

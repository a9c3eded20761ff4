"""Building an engine: read, validate, merge and compile a policy, open its state, read its credentials.

:meth:`Engine.load <policy_engine.engine.core.Engine.load>` (files) and :meth:`Engine.from_documents
<policy_engine.engine.core.Engine.from_documents>` (in-memory documents) take their parts from here:
:func:`parts_from_files` and :func:`parts_from_documents` return the keyword arguments of
``Engine(...)`` (graph, store, auth, sources, registry, quota refresh, environment).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, tzinfo
from typing import Any

from policy_engine.common.diagnostics import PolicyError
from policy_engine.common.timezones import local_zone
from policy_engine.compile.compiler import compile_policy, policy_revision
from policy_engine.compile.graph import Graph
from policy_engine.plugins import Registry, registry_for
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import from_object
from policy_engine.policy.locations import agent_dir as default_agent_dir
from policy_engine.policy.merge import merge_policy
from policy_engine.policy.sources import PolicySources, read_sources, tolerant_data
from policy_engine.policy.validation_cache import validate_cached
from policy_engine.providers.auth import AuthSource, as_auth_source
from policy_engine.state import StateStore, open_state

__all__ = ["compile_sources", "parts_from_documents", "parts_from_files", "system_clock"]


def system_clock() -> datetime:
    """The wall clock, in UTC (the engine's default clock)."""
    return datetime.now(UTC)


def parts_from_files(
    agent_dir: str | os.PathLike[str] | None,
    project: str | os.PathLike[str] | None,
    policy: str | os.PathLike[str] | None,
    state: str | StateStore | None,
    *,
    env: Mapping[str, str] | None,
    auth: AuthSource | Iterable[str] | None,
    search_project: bool | None,
    readonly: bool,
    timezone_default: tzinfo | None,
    registry: Registry | None,
    quota_refresh: bool | None,
) -> dict[str, Any]:
    """The parts of an engine built from files (see :meth:`Engine.load <policy_engine.engine.core.Engine.load>`)."""
    env = dict(os.environ) if env is None else dict(env)
    sources = read_sources(agent_dir, project, policy, env, search_project=search_project)
    if sources.has_errors():
        raise PolicyError(sources.diagnostics)
    registry = registry_for(sources.agent_dir, registry)  # pi's models.json custom providers are families too
    graph = compile_sources(sources, env, timezone_default or local_zone(), None, sources.base_dir, registry)
    directory = sources.agent_dir
    auth_source = as_auth_source(auth, directory, registry.credential_readers)
    store_url = state if isinstance(state, str) else None
    if state is None:
        store_url = env.get("MP_POLICY_STATE") or graph.settings.state
    store = state if isinstance(state, StateStore) else open_state(
        store_url, agent_dir=directory, readonly=readonly, stores=registry.store_factories,
        fallback=graph.settings.state_fallback)
    if quota_refresh is None:
        quota_refresh = env.get("MP_POLICY_QUOTA_REFRESH", "1").strip().lower() not in ("0", "false", "no", "off")
    return {"graph": graph, "store": store, "auth": auth_source, "sources": sources, "registry": registry,
            "quota_refresh": quota_refresh, "env": env}


def parts_from_documents(
    policy: Mapping[str, Any] | LoadedDocument,
    project: Mapping[str, Any] | LoadedDocument | None,
    *,
    state: str | StateStore,
    env: Mapping[str, str] | None,
    auth: AuthSource | Iterable[str] | None,
    models: Mapping[str, Iterable[str]] | None,
    base_dir: str | None,
    agent_dir: str | os.PathLike[str] | None,
    timezone_default: tzinfo | None,
    registry: Registry | None,
    quota_refresh: bool,
) -> dict[str, Any]:
    """The parts of an engine built from in-memory documents (see :meth:`Engine.from_documents
    <policy_engine.engine.core.Engine.from_documents>`)."""
    global_doc = policy if isinstance(policy, LoadedDocument) else from_object(dict(policy), "<policy>")
    project_doc = None
    if project is not None:
        project_doc = project if isinstance(project, LoadedDocument) else from_object(dict(project), "<project>")
    diagnostics = validate_cached(global_doc, "policy")
    if project_doc is not None:
        diagnostics += validate_cached(project_doc, "project")
    if any(d.severity == "error" for d in diagnostics):
        raise PolicyError(diagnostics)
    global_doc = tolerant_data(global_doc, diagnostics)
    project_doc = tolerant_data(project_doc, diagnostics) if project_doc is not None else None
    directory = default_agent_dir(agent_dir)
    sources = PolicySources(directory, global_doc, project_doc, diagnostics=tuple(diagnostics))
    registry = registry_for(agent_dir, registry)  # models.json providers only of a directory given
    graph = compile_sources(sources, dict(env or {}), timezone_default or local_zone(),
                            {k: sorted(v) for k, v in (models or {}).items()}, base_dir, registry)
    store = state if isinstance(state, StateStore) else open_state(
        state, agent_dir=directory, stores=registry.store_factories, fallback=graph.settings.state_fallback)
    auth_source = as_auth_source(auth if auth is not None else frozenset(), directory)
    return {"graph": graph, "store": store, "auth": auth_source, "sources": sources, "registry": registry,
            "quota_refresh": quota_refresh, "env": env}


def compile_sources(sources: PolicySources, env: Mapping[str, str], default_tz: tzinfo,
                    models: Mapping[str, list[str]] | None, base_dir: str | None, registry: Registry) -> Graph:
    """Merge the loaded documents with ``env`` (``MULTI_SUB``) and compile them (cached by revision)."""
    revision = policy_revision(
        sources.global_doc.data if sources.global_doc else None,
        sources.project_doc.data if sources.project_doc else None,
        env.get("MULTI_SUB"), str(default_tz), models, base_dir, sorted(registry.strategies),
        sorted(registry.providers),
    )
    # The graph holds the registry's strategy objects, and its diagnostics the files' positions.
    docs = [d for d in (sources.global_doc, sources.project_doc) if d is not None]
    origin = [id(registry), *((d.source, d.digest, d.root) for d in docs)]
    merged = merge_policy(sources.global_doc, sources.project_doc, env, registry.bases)
    return compile_policy(merged, registry, revision=revision, default_tz=default_tz, models=models,
                          base_dir=base_dir, cache_key=policy_revision(origin))

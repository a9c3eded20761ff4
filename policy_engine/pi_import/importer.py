"""The whole import of a pi-multi-pass set-up: find the files, convert, analyse, render, check, write.

:func:`plan_import` does everything but writing and returns an :class:`ImportReport`;
:func:`write_import` then writes its files atomically (refusing to overwrite without ``force``).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from policy_engine.common.diagnostics import Diagnostic, PolicyError, sort_diagnostics
from policy_engine.common.timezones import local_zone
from policy_engine.compile.compiler import compile_policy, policy_revision
from policy_engine.edit.files import write_atomic
from policy_engine.pi_import.behaviour import SetupContext, behaviour_differences, env_accounts
from policy_engine.pi_import.convert import Converted, convert_document, filter_chains
from policy_engine.pi_import.emit import EmitContext, render_yaml
from policy_engine.pi_import.model import Difference, ImportedFile, ImportReport, PiImportError, SourceKind
from policy_engine.pi_import.reading import read_pi_file
from policy_engine.plugins import Registry, registry_for
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import from_object, load_text
from policy_engine.policy.locations import agent_dir as default_agent_dir
from policy_engine.policy.merge import merge_policy
from policy_engine.policy.validation_cache import validate_cached

__all__ = ["InvalidResult", "OutputExists", "plan_import", "write_import"]

_YAML_SUFFIXES = (".yaml", ".yml")


class OutputExists(Exception):
    """An output file exists and ``force`` was not given; nothing was written."""

    def __init__(self, paths: list[Path]) -> None:
        super().__init__(", ".join(map(str, paths)))
        self.paths = paths


class InvalidResult(Exception):
    """The YAML the import produced does not validate (mp-policy-only keys of the input that are invalid)."""

    def __init__(self, diagnostics: list[Diagnostic]) -> None:
        super().__init__(f"{len(diagnostics)} problem(s)")
        self.diagnostics = diagnostics


def _kind_of(path: Path) -> SourceKind:
    return "project" if path.parent.name == ".pi" else "policy"


def _target(output: str | None, source: Path) -> Path | None:
    """Where the YAML of ``source`` goes: next to it by default; ``-`` is standard output (None)."""
    if output == "-":
        return None
    if output is None:
        target = source.with_suffix(".yaml")
    else:
        target = Path(output).expanduser()
        if target.is_dir():
            target = target / source.with_suffix(".yaml").name
    if target.resolve() == source.resolve():
        raise PiImportError("the output would overwrite the pi-multi-pass file it reads", file=str(target),
                            hint="pi-multi-pass still needs its JSON file; write the YAML next to it")
    if target.suffix.lower() not in _YAML_SUFFIXES:
        raise PiImportError(f"the output {target} must be a .yaml or .yml file", file=str(target),
                            hint="mp-policy reads multi-pass.yaml before multi-pass.json; write the YAML there")
    return target


def _locate(source: Path | None, agent: Path, project: Path | None) -> tuple[Path, SourceKind, Path, Path | None]:
    """The main file and its kind, the global file (imported, or read for context) and the project file."""
    main = Path(source).expanduser() if source is not None else agent / "multi-pass.json"
    main_kind = _kind_of(main)
    global_path = main if main_kind == "policy" else agent / "multi-pass.json"
    project_path = main if main_kind == "project" else None
    if project is not None:
        if main_kind == "project":
            raise PiImportError("FILE is already a project file; give --project or a project FILE, not both",
                                file=str(main))
        project_path = project if project.is_file() else project / ".pi" / "multi-pass.json"
        if not project_path.is_file():
            raise PiImportError(f"no pi-multi-pass project file {project_path}", file=str(project_path),
                                hint="a pi project keeps its overlay in <project>/.pi/multi-pass.json")
    return main, main_kind, global_path, project_path


def plan_import(
    source: Path | None = None,
    *,
    agent_dir: Path | None = None,
    project: Path | None = None,
    output: str | None = None,
    multi_sub: str | None = None,
    env: Mapping[str, str] | None = None,
    registry: Registry | None = None,
) -> ImportReport:
    """Read and convert a pi-multi-pass set-up; render and check its YAML; write nothing.

    ``source`` is the global ``multi-pass.json`` (default: the agent directory's) or a project's
    ``.pi/multi-pass.json`` (then the global file, when there is one, is read for context only).
    ``project`` (a directory or its ``.pi/multi-pass.json``) is imported too. ``output`` is where
    the main file's YAML goes (``-``: standard output); a project's YAML always goes next to its
    JSON (or to standard output with ``-``). ``multi_sub`` defaults to ``$MULTI_SUB``.
    """
    env = dict(os.environ) if env is None else dict(env)
    agent = default_agent_dir(agent_dir, env)
    registry = registry_for(agent, registry)
    if multi_sub is None:
        multi_sub = env.get("MULTI_SUB") or None
    main, main_kind, global_path, project_path = _locate(source, agent, project)
    global_doc = read_pi_file(global_path, "policy") if main_kind == "policy" or global_path.is_file() else None
    project_doc = read_pi_file(project_path, "project") if project_path is not None else None

    bases = frozenset(registry.bases)
    strategies = frozenset(registry.strategies)
    labels = _labels(global_path, project_path)
    global_conv = convert_document(global_doc, "policy", labels["policy"], bases=bases, strategies=strategies) \
        if global_doc is not None else None
    project_conv = None
    if project_doc is not None:
        global_pools = [p["name"] for p in global_conv.data.get("pools") or []] if global_conv else []
        project_conv = convert_document(project_doc, "project", labels["project"], bases=bases,
                                        strategies=strategies, global_pools=global_pools)
        if global_conv is not None:
            _derive_project_chains(global_conv, project_conv)

    targets: dict[SourceKind, Path | None] = {}
    writes: list[tuple[SourceKind, Converted]] = []
    if global_conv is not None and main_kind == "policy":
        targets["policy"] = _target(output, main)
        writes.append(("policy", global_conv))
        _add_default_settings(global_conv, project_conv)
    if project_conv is not None and project_path is not None:
        targets["project"] = _target("-" if output == "-" else (output if main_kind == "project" else None),
                                     project_path)
        writes.append(("project", project_conv))
    report = ImportReport(multi_sub=multi_sub)
    output_dirs: dict[str, Path] = {}
    for conv in (c for c in (global_conv, project_conv) if c is not None):
        target = targets.get(conv.kind)
        _move_selector_paths(conv, target)
        output_dirs[conv.kind] = target.parent if target is not None else Path(conv.doc.path or ".").parent
    declared = (global_conv.data.get("subscriptions") or []) if global_conv is not None else []
    added = env_accounts(declared, multi_sub, bases)  # global_conv: imported, or the project's context
    ctx = SetupContext(bases=bases, quota_bases=frozenset(registry.quota_checkers), multi_sub=multi_sub,
                       env_accounts=tuple(added), agent_dir=agent, output_dirs=output_dirs)
    differences = [d for _, conv in writes for d in conv.differences]
    differences += behaviour_differences(global_conv, project_conv, ctx, global_imported=main_kind == "policy")
    order = {labels["policy"]: 0, labels["project"]: 1}
    differences.sort(key=lambda d: (order.get(d.file or "", 2), d.line or 0, d.json_path))
    report.differences = differences

    for kind, conv in writes:
        imported = ImportedFile(kind=kind, source=Path(conv.doc.path or conv.label), target=targets[kind],
                                data=conv.data)
        emit = EmitContext(kind=kind, source_name=imported.source_name, multi_sub=multi_sub, env_accounts=added,
                           copied_chains=conv.chains_from_global, index_maps=_index_maps(conv))
        imported.text = render_yaml(conv.data, [d for d in differences if d.file == conv.label], emit)
        report.files.append(imported)
    _check(report, global_conv, multi_sub, registry)
    if any(f.target is None for f in report.files):
        relative = [p.get("selectorScript") for f in report.files for p in f.data.get("pools") or []
                    if _relative(p.get("selectorScript"))]
        if relative:
            report.warnings.append(f"relative selector scripts ({', '.join(relative)}) are read from the folder of "
                                   "the file you save this YAML in; save it next to the JSON it came from")
    return report


def write_import(report: ImportReport, *, force: bool = False) -> None:
    """Write the report's files atomically; with existing outputs and no ``force``, write nothing."""
    files = [f for f in report.files if f.target is not None]
    existing = [f.target for f in files if f.target is not None and f.target.exists()]
    if existing and not force:
        raise OutputExists(existing)
    for f in files:
        assert f.target is not None
        write_atomic(f.target, f.text)
        f.written = True


# --------------------------------------------------------------------------- helpers


def _labels(global_path: Path | None, project_path: Path | None) -> dict[str, str]:
    return {"policy": str(global_path) if global_path else "<no global file>",
            "project": str(project_path) if project_path else "<no project file>"}


def _index_maps(conv: Converted) -> dict[str, dict[int, int]]:
    maps = {
        "subscriptions": {orig: k for k, orig in enumerate(conv.origins.subscriptions)},
        "pools": {orig: k for k, orig in enumerate(conv.origins.pools)},
        "presets": {orig: k for k, (orig, _) in enumerate(conv.origins.presets)},
    }
    if not conv.chains_from_global:
        maps["chains"] = {orig: k for k, (orig, _) in enumerate(conv.origins.chains)}
    return maps


def _derive_project_chains(global_conv: Converted, project_conv: Converted) -> None:
    """A project that replaces the pools but not the chains: give it the global chains its pools can serve.

    pi-multi-pass skipped chain entries into pools the project does not have; mp-policy needs every
    entry to name a pool that exists, so such a project gets its own copy of the chains without
    them (and with the entries its pools can serve that the global file alone could not).
    """
    if "pools" not in project_conv.data or "chains" in project_conv.data or global_conv.raw_chains is None:
        return
    names = [p["name"] for p in project_conv.data["pools"]]
    kept, dropped = filter_chains(global_conv.raw_chains, names)
    chains = [chain for _, chain, _ in kept]
    if chains == global_conv.data.get("chains", []):
        return
    project_conv.chains_from_global = True
    project_conv.data = _insert_after(project_conv.data, "pools", "chains", chains)
    for path, message in dropped:
        project_conv.differences.append(Difference(
            code="project-chains", kind="rewritten", file=global_conv.label, path=path,
            line=global_conv.position(path),
            message=f"inside the project ({project_conv.label}), which has its own pools: {message}; the project "
                    "file gets its own copy of the chains without it"))


def _insert_after(data: dict[str, Any], after: str, key: str, value: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in data.items():
        out[k] = v
        if k == after:
            out[key] = value
    return out


def _add_default_settings(global_conv: Converted, project_conv: Converted | None) -> None:
    """Write mp-policy's defaults out (cooldown, and selectorTimeout when there is a custom pool): same meaning."""
    written = global_conv.data.get("settings", {})
    if not isinstance(written, Mapping):
        return  # not a mapping: validation reports it
    settings = {**written}
    settings.setdefault("cooldown", "5m")
    pools = list(global_conv.data.get("pools") or [])
    if project_conv is not None:
        pools += project_conv.data.get("pools") or []
    if any(p.get("strategy") == "custom" for p in pools):
        settings.setdefault("selectorTimeout", "250ms")
    data = {k: v for k, v in global_conv.data.items() if k != "settings"}
    global_conv.data = _insert_after(data, "version", "settings", settings)  # a policy's conversion has a version


def _relative(script: Any) -> bool:
    return isinstance(script, str) and not script.startswith("~/") and not Path(script).is_absolute()


def _move_selector_paths(conv: Converted, target: Path | None) -> None:
    """Relative selector paths written for a YAML in another folder still name the same script."""
    source_dir = Path(conv.doc.path).parent if conv.doc.path else None
    if target is None or source_dir is None or target.parent.resolve() == source_dir.resolve():
        return
    for k, pool in enumerate(conv.data.get("pools") or []):
        script = pool.get("selectorScript")
        if not _relative(script):
            continue
        moved = os.path.relpath(source_dir / script, target.parent.resolve())
        if moved != script:
            pool["selectorScript"] = moved
            path = ("pools", conv.origins.pools[k], "selectorScript")
            conv.differences.append(Difference(
                code="selector-path-moved", kind="rewritten", file=conv.label, path=path,
                line=conv.position(path),
                message=f"pool {pool['name']!r}: selectorScript {script!r} is written as {moved!r}, relative to "
                        f"the folder of {target.name}, so it names the same file"))


def _check(report: ImportReport, global_conv: Converted | None, multi_sub: str | None,
           registry: Registry) -> None:
    """Validate and compile the YAML as mp-policy will read it; errors stop the import, warnings are kept.

    A project is compiled together with the global policy (its YAML, or the global JSON's
    conversion when only the project is imported); only diagnostics about the files written count.
    """
    docs: dict[str, LoadedDocument] = {}
    names: set[str] = set()
    for f in report.files:
        where = f.target if f.target is not None else f.source.with_suffix(".yaml")
        name = str(where) if f.target is not None else f"{where} (standard output)"
        docs[f.kind] = dataclasses.replace(load_text(f.text, name), path=where.resolve())
        names.add(name)
    if "policy" not in docs and global_conv is not None:  # context only: its own diagnostics do not count
        docs["policy"] = dataclasses.replace(from_object(global_conv.data, f"{global_conv.label} (converted)"),
                                             path=Path(global_conv.doc.path or ".").resolve())
    diagnostics: list[Diagnostic] = []
    for kind, doc in docs.items():
        diagnostics += validate_cached(doc, kind)  # type: ignore[arg-type]
    if not any(d.severity == "error" for d in diagnostics):
        env = {"MULTI_SUB": multi_sub} if multi_sub else {}
        global_doc = docs.get("policy")
        base_dir = str(global_doc.path.parent) if global_doc is not None and global_doc.path else None
        for project_doc in [None, docs["project"]] if "project" in docs else [None]:
            try:
                merged = merge_policy(global_doc, project_doc, env, frozenset(registry.bases))
                graph = compile_policy(merged, registry, revision=policy_revision("import"), default_tz=local_zone(),
                                       base_dir=base_dir, use_cache=False)
                diagnostics += list(graph.diagnostics)
            except PolicyError as exc:
                diagnostics += list(exc.diagnostics)
    mine = sort_diagnostics(d for d in diagnostics if d.file in names or d.file == "$MULTI_SUB")
    errors = [d for d in mine if d.severity == "error"]
    if errors:
        raise InvalidResult(errors)
    report.warnings += [d.format() for d in mine]

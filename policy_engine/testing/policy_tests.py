"""Policy tests (``*.test.yaml``): drive the engine through steps against a frozen world (DESIGN §6).

A test file names a policy (a path relative to the file, or inline), optionally a project
overlay, a shared ``given`` world and ``cases``; each case runs its steps (``select``, ``fail``,
``succeed``, ``advance``, ``set``) on a fresh in-memory state and checks each ``expect`` against
the Decision JSON (a subset match: mappings match the keys they give, lists match element-wise
with the same length, ``{contains: [...]}`` matches elements in any order, timestamps compare
as instants).
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import POLICY_TEST
from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.durations import parse_duration
from policy_engine.common.records import dataclass
from policy_engine.common.timezones import fixed_offset_of, parse_instant
from policy_engine.engine import Engine
from policy_engine.evaluate.route import RouteError
from policy_engine.plugins import plugin_stores
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import load_file
from policy_engine.policy.sources import load_checked
from policy_engine.policy.validation_cache import validate_cached
from policy_engine.providers.auth import StaticAuth
from policy_engine.state import Cooldown, QuotaSnapshot, StateChanges, StateError, StateStore, open_store

__all__ = ["CaseResult", "FileResult", "discover", "match", "run_file", "run_paths"]

_WORLD_KEYS = ("at", "auth", "env", "cooldowns", "quota", "models")


@dataclass
class CaseResult:
    """One case: passed or not, with readable failure lines."""

    name: str
    passed: bool
    failures: list[str] = field(default_factory=list)


@dataclass
class FileResult:
    """All cases of one file, or the diagnostics that stopped it from running."""

    path: str
    cases: list[CaseResult] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def passed(self) -> int:
        """Number of passing cases."""
        return sum(1 for c in self.cases if c.passed)

    @property
    def failed(self) -> int:
        """Number of failing cases (a file that cannot run counts as one failure)."""
        broken = 1 if any(d.severity == "error" for d in self.diagnostics) else 0
        return sum(1 for c in self.cases if not c.passed) + broken


# -- matching -------------------------------------------------------------------------------------

_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def _looks_like_instant(value: Any) -> bool:
    return isinstance(value, str) and bool(_INSTANT.match(value))


def _instant(value: str, tz: tzinfo | None) -> datetime | None:
    try:
        return parse_instant(value, tz)
    except ValueError:
        return None


def _show(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _assign(expected: Sequence[Any], actual: Sequence[Any], tz: tzinfo | None) -> list[int | None]:
    """A one-to-one assignment of expected elements to matching actual elements (augmenting paths).

    Returns, for each expected element, the index of its actual element, or None when no complete
    assignment exists for it.
    """
    options = [[j for j, item in enumerate(actual) if not match(wanted, item, "$", tz)] for wanted in expected]
    owner: dict[int, int] = {}

    def place(i: int, seen: set[int]) -> bool:
        for j in options[i]:
            if j in seen:
                continue
            seen.add(j)
            if j not in owner or place(owner[j], seen):
                owner[j] = i
                return True
        return False

    for i in range(len(expected)):
        place(i, set())
    result: list[int | None] = [None] * len(expected)
    for j, i in owner.items():
        result[i] = j
    return result


def match(expected: Any, actual: Any, path: str = "$", tz: tzinfo | None = None) -> list[str]:
    """Differences between an expectation and a Decision fragment (empty = match).

    ``tz`` is the zone of expected timestamps written without an offset (the test's local time).
    """
    if expected is None:
        return [] if actual is None else [f"{path}: expected null, got {_show(actual)}"]
    if isinstance(expected, Mapping) and set(expected) == {"contains"} and isinstance(expected["contains"], list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list containing {_show(expected['contains'])}, got {_show(actual)}"]
        assignment = _assign(expected["contains"], actual, tz)
        return [
            f"{path}: no element matches contains[{i}] = {_show(wanted)}; elements: {_show(actual)}"
            for i, (wanted, hit) in enumerate(zip(expected["contains"], assignment, strict=True))
            if hit is None
        ]
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping):
            return [f"{path}: expected an object like {_show(expected)}, got {_show(actual)}"]
        problems = []
        for key, wanted in expected.items():
            if key not in actual:
                problems.append(f"{path}.{key}: missing (expected {_show(wanted)})")
            else:
                problems += match(wanted, actual[key], f"{path}.{key}", tz)
        return problems
    if isinstance(expected, list):
        if not isinstance(actual, list):
            return [f"{path}: expected a list, got {_show(actual)}"]
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} element(s), got {len(actual)}: {_show(actual)}"]
        problems = []
        for i, (wanted, item) in enumerate(zip(expected, actual, strict=True)):
            problems += match(wanted, item, f"{path}[{i}]", tz)
        return problems
    if _looks_like_instant(expected) and _looks_like_instant(actual):
        a, b = _instant(expected, tz), _instant(actual, tz)
        if a is not None and b is not None:
            return [] if a == b else [f"{path}: expected {expected}, got {actual}"]
    if isinstance(expected, bool) or isinstance(actual, bool):
        same = isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    else:
        same = expected == actual
    return [] if same else [f"{path}: expected {_show(expected)}, got {_show(actual)}"]


# -- running --------------------------------------------------------------------------------------

class _Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _load_part(doc: LoadedDocument, key: str, kind: str, base: Path) -> tuple[LoadedDocument | None, Path, list[
        Diagnostic]]:
    value = doc.data.get(key)
    if value is None:
        return None, base, []
    if isinstance(value, str):
        path = (base / value).expanduser()
        part, found = load_checked(path, kind)
        return part, path.parent, found
    part = doc.subdocument((key,))
    return part, base, []


def _seed(store: StateStore, world: Mapping[str, Any], tz: tzinfo, now: datetime, *, cooldowns: bool = True,
          quota: bool = True) -> None:
    changes = StateChanges()
    if cooldowns:
        for provider, until in (world.get("cooldowns") or {}).items():
            changes.cooldowns.append(Cooldown(provider=provider, until=parse_instant(until, tz), reason="given",
                                              since=now, source="test world"))
    if quota:
        for provider, value in (world.get("quota") or {}).items():
            remaining = value.get("remaining") if isinstance(value, Mapping) else value
            changes.quota.append(QuotaSnapshot(provider=provider, remaining=float(remaining), fetched_at=now,
                                               source="test"))
    store.apply(changes)


@dataclass
class _Case:
    file: Path
    policy: LoadedDocument
    project: LoadedDocument | None
    base_dir: Path
    world: dict[str, Any]
    steps: Sequence[Mapping[str, Any]]


def _engine(case: _Case, world: Mapping[str, Any], store: StateStore, clock: _Clock) -> Engine:
    tz = fixed_offset_of(clock.at)
    return Engine.from_documents(
        case.policy, case.project, state=store, env=world.get("env") or {}, auth=world.get("auth") or (),
        clock=clock, models=world.get("models"), base_dir=str(case.base_dir), timezone_default=tz,
    )


def _run_case(case: _Case, name: str, state: str | None = None) -> CaseResult:
    world = dict(case.world)
    if "at" not in world:
        return CaseResult(name, False, ["given.at is required (the frozen clock)"])
    clock = _Clock(parse_instant(str(world["at"])))
    if state is None:
        store = open_store("memory://", agent_dir=case.file.parent)
    else:  # a real store: each case gets a namespace of its own, emptied afterwards
        store = open_store(state, agent_dir=case.file.parent, namespace=f"policy-test-{uuid.uuid4().hex[:16]}",
                           stores=plugin_stores)
    try:
        return _run_steps(case, name, world, clock, store)
    finally:
        if state is not None:
            with contextlib.suppress(StateError):
                store.clear()
        store.close()


def _run_steps(case: _Case, name: str, world: dict[str, Any], clock: _Clock, store: StateStore) -> CaseResult:
    engine = _engine(case, world, store, clock)
    _seed(store, world, engine.graph.tz, clock.at)
    result = CaseResult(name, True)
    turn: str | None = None
    for number, step in enumerate(case.steps, start=1):
        label = step.get("name") or next((k for k in step if k != "expect"), "?")
        try:
            decision, turn, engine = _step(step, engine, store, clock, world, turn, case)
        except (RouteError, PolicyError, ValueError, OverflowError) as exc:
            result.passed = False
            result.failures.append(f"step {number} ({label}): {exc}")
            break
        if "expect" in step:
            if decision is None:
                result.passed = False
                result.failures.append(f"step {number} ({label}): this step gives no decision to check")
                continue
            problems = match(step["expect"], decision.to_dict(), "$", engine.graph.tz)
            if problems:
                result.passed = False
                result.failures.append(f"step {number} ({label}):")
                result.failures += [f"  {p}" for p in problems]
    return result


def _step(step: Mapping[str, Any], engine: Engine, store: StateStore, clock: _Clock, world: dict[str, Any],
          turn: str | None, case: _Case) -> tuple[Any, str | None, Engine]:
    if "select" in step:
        args = dict(step["select"] or {})
        decision = engine.select(args.get("provider"), pool=args.get("pool"), chain=args.get("chain"),
                                 preset=args.get("preset"), model=args.get("model"), prompt=args.get("prompt"),
                                 turn=args.get("turn"))
        return decision, decision.turn, engine
    if "fail" in step:
        args = dict(step["fail"] or {})
        status = args.get("status")
        decision = engine.fail(args.get("turn") or turn, provider=args.get("provider"),
                               status=int(status) if status is not None else None,
                               message=str(args.get("message") or ""), type=args.get("type"), code=args.get("code"),
                               headers={str(k): str(v) for k, v in (args.get("headers") or {}).items()},
                               body=args.get("body"))
        return decision, decision.turn, engine
    if "succeed" in step:
        args = dict(step["succeed"] or {})
        target_turn = args.get("turn") or turn
        if target_turn:
            engine.succeed(target_turn, headers=args.get("headers"))
        return None, None, engine
    if "advance" in step:
        clock.at = clock.at + parse_duration(step["advance"])
        return None, turn, engine
    if "set" in step:
        changes = dict(step["set"] or {})
        if "at" in changes:
            clock.at = parse_instant(str(changes["at"]), engine.graph.tz)
        if "auth" in changes:
            world["auth"] = changes["auth"]
            engine.auth = StaticAuth(frozenset(changes["auth"] or ()))
        if "cooldowns" in changes:
            store.clear(["cooldowns"])
            _seed(store, {"cooldowns": changes["cooldowns"]}, engine.graph.tz, clock.at, quota=False)
        if "quota" in changes:
            store.clear(["quota"])
            _seed(store, {"quota": changes["quota"]}, engine.graph.tz, clock.at, cooldowns=False)
        if "env" in changes or "models" in changes:
            world.update({k: changes[k] for k in ("env", "models") if k in changes})
            engine = _engine(case, world, store, clock)
        return None, turn, engine
    raise ValueError(f"unknown step {sorted(step)}; expected one of select, fail, succeed, advance, set")


def run_file(path: str | Path, state: str | None = None) -> FileResult:
    """Run every case of one test file, on a fresh in-memory state (or in a fresh namespace of ``state``)."""
    path = Path(path)
    result = FileResult(str(path))
    try:
        doc = load_file(path, kind=POLICY_TEST)
    except PolicyError as exc:
        result.diagnostics = exc.diagnostics
        return result
    diagnostics = validate_cached(doc, "test")
    if any(d.severity == "error" for d in diagnostics):
        result.diagnostics = diagnostics
        return result
    base = path.parent
    policy, policy_dir, policy_diags = _load_part(doc, "policy", "policy", base)
    project, _, project_diags = _load_part(doc, "project", "project", base)
    result.diagnostics = diagnostics + policy_diags + project_diags
    if any(d.severity == "error" for d in result.diagnostics):
        return result
    if policy is None:
        result.diagnostics.append(Diagnostic("required", "a test file needs a policy (a path or an inline mapping)",
                                             file=str(path), path=("policy",)))
        return result
    given = dict(doc.data.get("given") or {})
    for i, raw_case in enumerate(doc.data.get("cases") or []):
        name = str(raw_case.get("name") or f"case {i + 1}")
        world = {**given, **{k: v for k, v in (raw_case.get("given") or {}).items() if k in _WORLD_KEYS}}
        case = _Case(path, policy, project, policy_dir, world, raw_case.get("steps") or [])
        try:
            result.cases.append(_run_case(case, name, state))
        except PolicyError as exc:
            result.cases.append(CaseResult(name, False, [d.format() for d in exc.diagnostics]))
        except Exception as exc:  # one broken case must not stop the others
            result.cases.append(CaseResult(name, False, [f"internal error: {type(exc).__name__}: {exc}"]))
    return result


def discover(paths: Iterable[str | Path]) -> list[Path]:
    """Test files among ``paths``: files as given, folders searched for ``*.test.yaml`` / ``*.test.yml``."""
    found: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found += sorted(x for x in p.rglob("*.test.y*ml") if x.is_file())
        else:
            found.append(p)
    return found


def run_paths(paths: Iterable[str | Path], *, exclude: Iterable[str] = (), state: str | None = None) -> list[
        FileResult]:
    """Run every test file found under ``paths`` (files whose name is in ``exclude`` are left out).

    ``state`` is a store URL to run every case against (each case in a namespace of its own);
    by default each case has a fresh in-memory store.
    """
    excluded = set(exclude)
    return [run_file(p, state) for p in discover(paths) if p.name not in excluded]


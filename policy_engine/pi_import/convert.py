"""Turning pi-multi-pass JSON data into mp-policy policy data that validates.

The rule, for every value:

* a value mp-policy accepts is carried over unchanged, so the YAML means to mp-policy exactly
  what the JSON already means to it (the engine reads pi's JSON directly); where that differs
  from what pi-multi-pass did, :mod:`policy_engine.pi_import.behaviour` reports it;
* a value mp-policy rejects is rewritten to what pi-multi-pass actually did with it (``hours:
  [9, 9]`` never opened, so that window is dropped; an unknown strategy was round-robin), or to
  its one obvious meaning (``"Mon"`` is ``mon``), and reported as ``rewritten``;
* something pi ignored (an unknown key, a section that is not a list, a project's
  ``subscriptions``) is left out and reported as ``dropped``.

Each report carries the JSON path in the pi file and its line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from typing import Any

from policy_engine.common.records import dataclass
from policy_engine.pi_import.collect import Collector, JsonPath
from policy_engine.pi_import.model import Difference, SourceKind
from policy_engine.pi_import.schedules import convert_member_schedule
from policy_engine.policy.document import LoadedDocument
from policy_engine.providers.families import base_of

__all__ = ["PI_STRATEGIES", "Converted", "Origins", "convert_document", "filter_chains", "js_truthy"]

#: The strategies pi-multi-pass 1.3.0 knows; anything else was round-robin there.
PI_STRATEGIES = ("round-robin", "quota-first", "scheduled", "custom")
_POOL_KEYS = ("name", "baseProvider", "members", "enabled", "strategy", "cooldown", "timezone", "memberSchedule",
              "selectorScript", "options")


@dataclass
class Origins:
    """Where each converted pool, chain and preset (and their entries and members) came from in the pi file."""

    subscriptions: list[int] = field(default_factory=list)
    pools: list[int] = field(default_factory=list)
    members: list[list[int]] = field(default_factory=list)
    chains: list[tuple[int, list[int]]] = field(default_factory=list)
    presets: list[tuple[int, list[int]]] = field(default_factory=list)


@dataclass
class Converted:
    """One pi file as mp-policy data, the raw chains (before pool references were checked), and the reports."""

    kind: SourceKind
    doc: LoadedDocument
    label: str
    data: dict[str, Any]
    differences: list[Difference]
    origins: Origins
    raw_chains: list[tuple[int, dict[str, Any], list[int]]] | None = None  # None: the file has no chains
    chains_from_global: bool = False  # a project's chains, derived from the global file's (see importer)

    def position(self, path: Sequence[str | int]) -> int | None:
        """The line of ``path`` in the pi file (or of its nearest ancestor)."""
        found = self.doc.position(path)
        return found[0] if found else None


def js_truthy(value: Any) -> bool:
    """JavaScript truthiness, which is how pi-multi-pass read ``enabled``: ``"false"`` and ``[]`` are true."""
    if value is None or value is False:
        return False
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value != 0 and not (isinstance(value, float) and math.isnan(value))
    if isinstance(value, str):
        return value != ""
    return True


# --------------------------------------------------------------------------- the document


def convert_document(doc: LoadedDocument, kind: SourceKind, label: str, *, bases: frozenset[str],
                     strategies: frozenset[str], global_pools: Sequence[str] | None = None) -> Converted:
    """Convert one pi file (``policy`` = the global multi-pass.json, ``project`` = .pi/multi-pass.json).

    ``bases`` are the known base providers (to infer a missing ``baseProvider``), ``strategies``
    the strategy names mp-policy knows, ``global_pools`` the global pool names a project's chains
    may refer to when the project declares no pools of its own.
    """
    report = Collector(doc, label)
    raw: Mapping[str, Any] = doc.data if isinstance(doc.data, Mapping) else {}
    out: dict[str, Any] = {}
    origins = Origins()
    if kind == "policy":
        out["version"] = 1
        keys = ("$schema", "version", "settings", "subscriptions", "pools", "chains", "presets", "errorRules")
    else:
        keys = ("$schema", "allowedSubs", "settings", "pools", "chains", "presets", "errorRules", "subscriptions")
    for key in raw:
        if key not in keys:
            where = "the project file" if kind == "project" else "the global file"
            hint = " (allowedSubs belongs in a project's .pi/multi-pass.json)" if key == "allowedSubs" else ""
            report.add("unknown-key", "dropped", (key,),
                       f"{where}: pi-multi-pass ignores the key {key!r} and mp-policy does not know it; "
                       f"left out{hint}")
    for key in ("$schema", "settings", "errorRules"):
        if key in raw:
            out[key] = raw[key]  # mp-policy's own keys in a hand-extended file: carried over as written
    if kind == "policy" and raw.get("version") not in (None, 1):
        out["version"] = raw["version"]  # an unsupported version: validation says so
    if kind == "project":
        if "subscriptions" in raw:
            report.add("project-subscriptions", "dropped", ("subscriptions",),
                       "a project file cannot declare accounts (pi-multi-pass ignored them there too); "
                       "declare them in the global file")
        if "allowedSubs" in raw:
            allowed = _string_list(raw["allowedSubs"], ("allowedSubs",), report, "allowedSubs")
            if allowed is not None:
                out["allowedSubs"] = allowed
    else:
        subs = _section(raw, "subscriptions", report)
        if subs is not None:
            out["subscriptions"] = _subscriptions(subs, report, origins.subscriptions)
    pools = _section(raw, "pools", report)
    if pools is not None:
        out["pools"] = _pools(pools, report, bases, strategies, origins)
    pool_names = [p["name"] for p in out["pools"]] if "pools" in out else list(global_pools or ())
    raw_chains = None
    chains = _section(raw, "chains", report)
    if chains is not None:
        raw_chains = list(_routes(chains, "chain", "pool", report))  # pool references checked just below
        kept, dropped = filter_chains(raw_chains, pool_names)
        out["chains"] = [chain for _, chain, _ in kept]
        origins.chains = [(i, entries) for i, _, entries in kept]
        for path, message in dropped:
            report.add("chain-missing-pool", "dropped", path, message)
    presets = _section(raw, "presets", report)
    if presets is not None:
        out["presets"] = _presets(presets, report, origins.presets)
    ordered = {key: out[key] for key in ("$schema", "version", "allowedSubs", "settings", "subscriptions", "pools",
                                         "chains", "presets", "errorRules") if key in out}
    return Converted(kind, doc, label, ordered, report.items, origins, raw_chains)


def _section(raw: Mapping[str, Any], key: str, report: Collector) -> list[Any] | None:
    if key not in raw:
        return None
    value = raw[key]
    if not isinstance(value, list):
        report.add("wrong-type", "dropped", (key,),
                   f"{key} is not a list, so pi-multi-pass read it as empty; left out")
        return None
    return value


def _string_list(value: Any, path: JsonPath, report: Collector, what: str) -> list[str] | None:
    if not isinstance(value, list):
        report.add("wrong-type", "dropped", path, f"{what} is not a list, so pi-multi-pass ignored it; left out")
        return None
    kept = []
    for i, item in enumerate(value):
        if isinstance(item, str):
            kept.append(item)
        else:
            report.add("wrong-type", "dropped", (*path, i), f"{what}: {item!r} is not a name; left out")
    return kept


# --------------------------------------------------------------------------- subscriptions


def _subscriptions(items: list[Any], report: Collector, origins: list[int]) -> list[dict[str, Any]]:
    """Explicit indexes everywhere: a missing or unusable one gets the smallest free index >= 2, as pi gave it."""
    rows: list[tuple[int, str, int | None, str | None]] = []
    for i, item in enumerate(items):
        path = ("subscriptions", i)
        if not isinstance(item, Mapping) or not isinstance(item.get("provider"), str) or not item["provider"]:
            report.add("invalid-subscription", "dropped", path,
                       "a subscription needs a provider name; pi-multi-pass could not use this one; left out")
            continue
        report.drop_unknown(item, ("provider", "index", "label"), path, f"subscription {i}")
        index = item.get("index")
        if isinstance(index, float) and index.is_integer():
            index = int(index)
        usable = isinstance(index, int) and not isinstance(index, bool) and index >= 2
        label = item.get("label")
        if label is not None and not isinstance(label, str):
            report.add("wrong-type", "dropped", (*path, "label"), f"subscription {i}: the label is not text; left out")
            label = None
        label = label.strip() if isinstance(label, str) and label.strip() else None
        rows.append((i, item["provider"], index if usable else None, label))
    used: dict[str, set[int]] = {}
    for _, provider, index, _ in rows:
        if index is not None:
            used.setdefault(provider, set()).add(index)
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for i, provider, index, label in rows:
        if index is None:
            taken = used.setdefault(provider, set())
            index = 2
            while index in taken:
                index += 1
            taken.add(index)
            _report_index(items[i].get("index"), provider, index, i, report)
        if (provider, index) in seen:
            report.add("duplicate-subscription", "dropped", ("subscriptions", i),
                       f"{provider}-{index} is declared twice; the second declaration is left out")
            continue
        seen.add((provider, index))
        entry: dict[str, Any] = {"provider": provider, "index": index}
        if label:
            entry["label"] = label
        out.append(entry)
        origins.append(i)
    return out


def _report_index(written: Any, provider: str, index: int, i: int, report: Collector) -> None:
    name = f"{provider}-{index}"
    if written is None or (isinstance(written, int | float) and not isinstance(written, bool) and written <= 0):
        report.add("subscription-index", "rewritten", ("subscriptions", i),
                   f"subscription {i} has no index; pi-multi-pass numbered it {name} (the smallest free index), "
                   "and the YAML writes that number down")
    elif written == 1:
        report.add("subscription-index", "rewritten", ("subscriptions", i, "index"),
                   f"subscription {i}: index 1 is the base account {provider} in mp-policy (pi-multi-pass "
                   f"registered a separate {provider}-1); it becomes {name}, the smallest free index")
    else:
        report.add("subscription-index", "rewritten", ("subscriptions", i, "index"),
                   f"subscription {i}: index {written!r} is not a whole number >= 2; it becomes {name}, "
                   "the smallest free index")


# --------------------------------------------------------------------------- pools


def _enabled(item: Mapping[str, Any], path: JsonPath, report: Collector, what: str) -> bool | None:
    """``enabled`` as written when it is a boolean; other values become what JavaScript made of them."""
    if "enabled" not in item:
        return None
    value = item["enabled"]
    if isinstance(value, bool):
        return value
    truthy = js_truthy(value)
    report.add("enabled-value", "rewritten", (*path, "enabled"),
               f"{what}: enabled is {value!r}, which pi-multi-pass read as {str(truthy).lower()}; "
               f"written as {str(truthy).lower()}")
    return truthy


def _name(item: Any, path: JsonPath, report: Collector, what: str, seen: set[str]) -> str | None:
    if not isinstance(item, Mapping):
        report.add("invalid-item", "dropped", path,
                   f"{what} is not an object; pi-multi-pass could not use it; left out")
        return None
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        report.add("invalid-item", "dropped", path, f"{what} has no name; left out")
        return None
    if name in seen:
        report.add("duplicate-name", "dropped", (*path, "name"),
                   f"{what}: the name {name!r} is used twice; mp-policy needs unique names, so the first one is kept")
        return None
    seen.add(name)
    return name


def _pools(items: list[Any], report: Collector, bases: frozenset[str], strategies: frozenset[str],
           origins: Origins) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(items):
        path: JsonPath = ("pools", i)
        name = _name(item, path, report, f"pool {i}", seen)
        if name is None:
            continue
        what = f"pool {name!r}"
        report.drop_unknown(item, _POOL_KEYS, path, what)
        members, member_origin = _members(item.get("members"), (*path, "members"), report, what)
        if not members:
            report.add("empty-pool", "dropped", path,
                       f"{what} has no members, so it never rotated in pi-multi-pass; left out "
                       "(with any chain entry that uses it)")
            seen.discard(name)
            continue
        pool: dict[str, Any] = {"name": name, "baseProvider": _base_provider(item, members, path, report, what, bases),
                                "members": members}
        enabled = _enabled(item, path, report, what)
        if enabled is not None:
            pool["enabled"] = enabled
        strategy = _strategy(item, path, report, what, strategies)
        if strategy is not None:
            pool["strategy"] = strategy
        for key in ("cooldown", "timezone"):  # mp-policy's own pool keys, carried over as written
            if key in item:
                pool[key] = item[key]
        if "memberSchedule" in item:
            schedule = convert_member_schedule(item["memberSchedule"], (*path, "memberSchedule"), report, what)
            if schedule is not None:
                pool["memberSchedule"] = schedule
        if "selectorScript" in item:
            script = item["selectorScript"]
            if isinstance(script, str) and script.strip():
                pool["selectorScript"] = script
            else:
                custom = pool.get("strategy") == "custom"
                if custom:
                    del pool["strategy"]
                report.add("selector-script", "rewritten" if custom else "dropped", (*path, "selectorScript"),
                           f"{what}: selectorScript {script!r} names no file, so pi-multi-pass used round-robin; "
                           + ("written as round-robin" if custom else "left out"))
        if "options" in item:
            pool["options"] = item["options"]
        out.append(pool)
        origins.pools.append(i)
        origins.members.append(member_origin)
    return out


def _members(value: Any, path: JsonPath, report: Collector, what: str) -> tuple[list[str], list[int]]:
    if not isinstance(value, list):
        if value is not None:
            report.add("wrong-type", "dropped", path, f"{what}: members is not a list; left out")
        return [], []
    members: list[str] = []
    origin: list[int] = []
    for j, member in enumerate(value):
        if not isinstance(member, str) or not member:
            report.add("wrong-type", "dropped", (*path, j), f"{what}: member {member!r} is not an account name; "
                       "left out")
        elif member in members:
            report.add("duplicate-member", "dropped", (*path, j),
                       f"{what}: {member!r} is listed twice; mp-policy lists each member once (its first place)")
        else:
            members.append(member)
            origin.append(j)
    return members, origin


def _base_provider(item: Mapping[str, Any], members: list[str], path: JsonPath, report: Collector, what: str,
                   bases: frozenset[str]) -> str:
    written = item.get("baseProvider")
    if isinstance(written, str) and written:
        return written
    guess = next((b for b in (base_of(m, bases) for m in members) if b), None) or re.sub(r"-\d+$", "", members[0])
    report.add("base-provider", "rewritten", (*path, "baseProvider"),
               f"{what} has no baseProvider (pi-multi-pass only showed it in its menus); "
               f"set to {guess!r} from its members")
    return guess


def _strategy(item: Mapping[str, Any], path: JsonPath, report: Collector, what: str,
              strategies: frozenset[str]) -> str | None:
    if "strategy" not in item:
        return None
    strategy = item["strategy"]
    if isinstance(strategy, str) and (strategy in PI_STRATEGIES or strategy in strategies):
        return strategy
    report.add("unknown-strategy", "rewritten", (*path, "strategy"),
               f"{what}: pi-multi-pass treated the unknown strategy {strategy!r} as round-robin; "
               "the key is left out, which means round-robin")
    return None


# --------------------------------------------------------------------------- chains and presets


def _routes(items: list[Any], kind: str, target: str, report: Collector
            ) -> Iterator[tuple[int, dict[str, Any], list[int]]]:
    """The named chains or presets (``kind``) with their well-formed entries (into a ``target``: pool or provider).

    Yields each item's index in the pi file, the item and its entries' indexes there.
    """
    seen: set[str] = set()
    for i, item in enumerate(items):
        path: JsonPath = (f"{kind}s", i)
        name = _name(item, path, report, f"{kind} {i}", seen)
        if name is None:
            continue
        what = f"{kind} {name!r}"
        report.drop_unknown(item, ("name", "enabled", "entries"), path, what)
        result: dict[str, Any] = {"name": name}
        enabled = _enabled(item, path, report, what)
        if enabled is not None:
            result["enabled"] = enabled
        entries, origin = _entry_list(item.get("entries"), (*path, "entries"), report, what, target)
        result["entries"] = entries
        yield i, result, origin


def filter_chains(chains: Sequence[tuple[int, dict[str, Any], list[int]]], pools: Sequence[str]
                  ) -> tuple[list[tuple[int, dict[str, Any], list[int]]], list[tuple[JsonPath, str]]]:
    """Drop chain entries into pools that do not exist (pi-multi-pass skipped them: "invalid pool: X missing").

    Returns the chains that still have entries (with their entries' original indexes) and, for each
    entry or chain left out, its path in the pi file and why.
    """
    known = set(pools)
    kept: list[tuple[int, dict[str, Any], list[int]]] = []
    dropped: list[tuple[JsonPath, str]] = []
    for i, chain, origin in chains:
        entries, indexes = [], []
        for entry, j in zip(chain["entries"], origin, strict=True):
            if entry["pool"] in known:
                entries.append(entry)
                indexes.append(j)
            else:
                dropped.append((("chains", i, "entries", j),
                                f"chain {chain['name']!r} entry {j}: there is no pool {entry['pool']!r}; "
                                "pi-multi-pass always skipped this entry (invalid pool: missing); left out"))
        if not entries:
            if chain["entries"]:
                dropped.append((("chains", i), f"chain {chain['name']!r}: no entry names an existing pool; left out"))
            else:
                dropped.append((("chains", i), f"chain {chain['name']!r} has no entries; left out"))
            continue
        kept.append((i, {**chain, "entries": entries}, indexes))
    return kept, dropped


def _presets(items: list[Any], report: Collector, origins: list[tuple[int, list[int]]]) -> list[dict[str, Any]]:
    """The presets with at least one usable entry (a preset without any is left out)."""
    out: list[dict[str, Any]] = []
    for i, preset, origin in _routes(items, "preset", "provider", report):
        if not preset["entries"]:
            report.add("empty-preset", "dropped", ("presets", i), f"preset {preset['name']!r} has no usable entries; "
                       "left out")
            continue
        out.append(preset)
        origins.append((i, origin))
    return out


def _entry_list(value: Any, path: JsonPath, report: Collector, what: str, target: str
                ) -> tuple[list[dict[str, Any]], list[int]]:
    if not isinstance(value, list):
        if value is not None:
            report.add("wrong-type", "dropped", path, f"{what}: entries is not a list; left out")
        return [], []
    entries: list[dict[str, Any]] = []
    origin: list[int] = []
    for j, entry in enumerate(value):
        where = (*path, j)
        ok = isinstance(entry, Mapping) and all(isinstance(entry.get(k), str) and entry[k] for k in (target, "model"))
        if not ok:
            report.add("invalid-entry", "dropped", where,
                       f"{what} entry {j} needs a {target} and a model; pi-multi-pass skipped it; left out")
            continue
        report.drop_unknown(entry, (target, "model", "enabled"), where, f"{what} entry {j}")
        item: dict[str, Any] = {target: entry[target], "model": entry["model"]}
        enabled = _enabled(entry, where, report, f"{what} entry {j}")
        if enabled is not None:
            item["enabled"] = enabled
        entries.append(item)
        origin.append(j)
    return entries, origin


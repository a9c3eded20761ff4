"""JSON edits at the token level: every operation changes only its entry's lines and means what a re-dump means.

The oracle is :class:`PlainDoc`: the same operations on plain data (``json.loads``, modify, dump).
For hand-written policies and for hypothesis-generated formattings of them, every editing
operation must give the oracle's data (key order included), change no line outside the spans of
the entries it concerns (apart from the comma on the line before an added or removed entry), and
an add followed by the matching remove must give the file back byte for byte.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policy_engine.edit import chain_edits, pool_edits, project_edits, subscription_edits
from policy_engine.edit import operations as ops
from policy_engine.edit.document import PolicyDocument
from policy_engine.edit.json_text import JsonText, NonFiniteNumberError, detect_style
from policy_engine.edit.markers import BlockMap, FlowList, FlowMap
from policy_engine.policy.loader import load_text

REPO = Path(__file__).resolve().parents[2]
PI_JSON = (REPO / "policies" / "pi-multi-pass-json" / "agent" / "multi-pass.json").read_text(encoding="utf-8")
PI_PROJECT = (REPO / "policies" / "pi-multi-pass-json" / "work-repo" / ".pi" / "multi-pass.json").read_text(
    encoding="utf-8")

#: Written by hand: 3-space indentation, one-line arrays and objects next to expanded ones, \u00e9
#: escapes, numbers spelled 1e3, 1.0 and -0, keys in an unusual order, no final newline.
ODD = (
    '{\n'
    '   "$schema": "https://example.invalid/policy.schema.json",\n'
    '   "presets": [\n'
    '      {"name": "coding-budget", "enabled": true, "entries": [{"provider": "openai-codex", '
    '"model": "gpt-4.1-mini", "enabled": true}, {"provider": "google-gemini-cli", "model": "gemini-2.5-flash", '
    '"enabled": true}]},\n'
    '      {"name": "caf\\u00e9", "entries": [\n'
    '         {"provider": "anthropic-2", "model": "claude-sonnet-4-20250514"}\n'
    '      ]}\n'
    '   ],\n'
    '   "version": 1,\n'
    '   "settings": {"cooldown": 1e3, "timezone": "Europe/Vienna"},\n'
    '   "subscriptions": [\n'
    '      {"provider": "openai-codex", "index": 2, "label": "caf\\u00e9 \\u2603"},\n'
    '      {"provider": "anthropic", "index": 2, "label": "work"},\n'
    '      {"provider": "openai-codex", "index": 3},\n'
    '      {"provider": "google-gemini-cli", "index": 2}\n'
    '   ],\n'
    '   "pools": [\n'
    '      {\n'
    '         "name": "claude",\n'
    '         "members": ["anthropic", "anthropic-2"],\n'
    '         "baseProvider": "anthropic",\n'
    '         "cooldown": 1.0,\n'
    '         "enabled": true\n'
    '      },\n'
    '      {\n'
    '         "name": "codex",\n'
    '         "baseProvider": "openai-codex",\n'
    '         "members": [\n'
    '            "openai-codex",\n'
    '            "openai-codex-2",\n'
    '            "openai-codex-3"\n'
    '         ],\n'
    '         "strategy": "scheduled",\n'
    '         "memberSchedule": {\n'
    '            "openai-codex-2": {"role": "preferred", "windows": [{"hours": [-0, 17], "days": ["mon-fri"]}]}\n'
    '         }\n'
    '      }\n'
    '   ],\n'
    '   "chains": [\n'
    '      {"name": "main", "enabled": true, "entries": [\n'
    '         {"pool": "claude", "model": "claude-sonnet-4-20250514", "enabled": true},\n'
    '         {"pool": "codex", "model": "gpt-5", "enabled": true}\n'
    '      ]}\n'
    '   ]\n'
    '}'
)

#: Tabs, Windows line endings, raw UTF-8, a blank line between sections, ": " and " : " spacing.
TABS_CRLF = (
    '{\r\n'
    '\t"version" : 1,\r\n'
    '\t"subscriptions": [\r\n'
    '\t\t{ "provider": "anthropic", "index": 2, "label": "Büro" },\r\n'
    '\t\t{ "provider": "openai-codex", "index": 2 }\r\n'
    '\t],\r\n'
    '\r\n'
    '\t"pools": [\r\n'
    '\t\t{\r\n'
    '\t\t\t"name": "claude",\r\n'
    '\t\t\t"baseProvider": "anthropic",\r\n'
    '\t\t\t"members": [ "anthropic", "anthropic-2" ]\r\n'
    '\t\t},\r\n'
    '\t\t{\r\n'
    '\t\t\t"name": "codex",\r\n'
    '\t\t\t"baseProvider": "openai-codex",\r\n'
    '\t\t\t"members": [ "openai-codex", "openai-codex-2" ],\r\n'
    '\t\t\t"enabled": false\r\n'
    '\t\t}\r\n'
    '\t],\r\n'
    '\r\n'
    '\t"chains": [\r\n'
    '\t\t{\r\n'
    '\t\t\t"name": "main",\r\n'
    '\t\t\t"entries": [\r\n'
    '\t\t\t\t{ "pool": "claude", "model": "claude-sonnet-4-5" },\r\n'
    '\t\t\t\t{ "pool": "codex", "model": "gpt-5" }\r\n'
    '\t\t\t]\r\n'
    '\t\t},\r\n'
    '\t\t{\r\n'
    '\t\t\t"name": "night",\r\n'
    '\t\t\t"entries": [ { "pool": "codex", "model": "gpt-5" } ]\r\n'
    '\t\t}\r\n'
    '\t],\r\n'
    '\r\n'
    '\t"presets": [\r\n'
    '\t\t{ "name": "cheap", "entries": [ { "provider": "openai-codex-2", "model": "gpt-4.1-mini" } ] }\r\n'
    '\t]\r\n'
    '}\r\n'
)

#: All on one line, without spaces.
ONE_LINE = ('{"version":1,"subscriptions":[{"provider":"anthropic","index":2}],"pools":[{"name":"claude",'
            '"baseProvider":"anthropic","members":["anthropic","anthropic-2"],"enabled":true},{"name":"gemini",'
            '"baseProvider":"google-gemini-cli","members":["google-gemini-cli"]}],"chains":[{"name":"main",'
            '"enabled":true,"entries":[{"pool":"claude","model":"claude-sonnet-4-5","enabled":true},{"pool":"gemini",'
            '"model":"gemini-2.5-pro","enabled":true}]}],"presets":[{"name":"p","entries":[{"provider":"anthropic",'
            '"model":"claude-haiku-4-5"}]}]}\n')

POLICIES = {"odd": ODD, "tabs-crlf": TABS_CRLF, "one-line": ONE_LINE, "pi-multi-pass": PI_JSON}

#: A project overlay written by hand (its global policy is ODD): no allowedSubs, its own chains.
PROJECT_ODD = (
    '{\n'
    '    "chains": [ { "name": "work", "entries": [ { "pool": "codex", "model": "gpt-5" } ] } ],\n'
    '    "settings": { "timezone": "Europe/Berlin" }\n'
    '}\n'
)
#: A project overlay with an allow-list on the line of the opening brace, and pools.
PROJECT_LISTED = (
    '{"allowedSubs": ["openai-codex-2", "anthropic-2"],\n'
    ' "pools": [\n'
    '   {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic-2"]}\n'
    ' ]\n'
    '}'
)
PROJECTS = {"project-odd": PROJECT_ODD, "project-listed": PROJECT_LISTED, "pi-project": PI_PROJECT}


# ------------------------------------------------------------------------------------- the oracle


def _plain(value: Any) -> Any:
    return json.loads(json.dumps(value))


class PlainDoc:
    """What an edit means: the same operation on plain data (json.loads, modify, dump).

    ``data`` is a fresh copy at every access, as :attr:`PolicyDocument.data` is a fresh reading of
    the text after every edit.
    """

    def __init__(self, text: str, kind: str, source: str) -> None:
        self._data: dict[str, Any] = json.loads(text) if text.strip() else {}
        self.kind = kind
        self.source = source
        self.exists = True

    @property
    def data(self) -> dict[str, Any]:
        return copy.deepcopy(self._data)

    def get(self, path: Sequence[str | int], default: Any = None) -> Any:
        value: Any = self._data
        for part in path:
            try:
                value = value[part]
            except (KeyError, IndexError, TypeError):
                return default
        return copy.deepcopy(value)

    def _node(self, path: Sequence[str | int]) -> Any:
        value: Any = self._data
        for part in path:
            value = value[part]
        return value

    def set(self, map_path: Sequence[str | int], key: str, value: Any, *, order: Sequence[str] = ()) -> None:
        target = self._node(map_path)
        value = _plain(value)
        if key in target:
            target[key] = value
            return
        items = list(target.items())
        position = len(items)
        if key in order:
            before = set(order[: list(order).index(key)])
            position = max((i + 1 for i, (k, _) in enumerate(items) if k in before), default=0)
        items.insert(position, (key, value))
        target.clear()
        target.update(items)

    def delete(self, path: Sequence[str | int]) -> None:
        del self._node(path[:-1])[path[-1]]

    def append(self, seq_path: Sequence[str | int], value: Any) -> None:
        self._node(seq_path).append(_plain(value))

    def is_empty(self) -> bool:
        return not self._data


# ------------------------------------------------------------------------------------ operations

Selector = tuple[str | int, ...]
Operation = Callable[[Any, ops.EditContext, Mapping[str, Any]], object]
Touched = Callable[[Mapping[str, Any], Mapping[str, Any]], tuple[list[Selector], list[Selector]]]


def _index(data: Mapping[str, Any], section: str, name: str) -> int | None:
    for i, item in enumerate(data.get(section) or []):
        if item.get("name") == name:
            return i
    return None


def _named(data: Mapping[str, Any], section: str, name: str) -> list[Selector]:
    index = _index(data, section, name)
    return [] if index is None else [(section, index)]


def _last(data: Mapping[str, Any], section: str) -> list[Selector]:
    return [(section, len(data[section]) - 1)]


def _first_pool(data: Mapping[str, Any]) -> str:
    return str(data["pools"][0]["name"])


def _last_pool(data: Mapping[str, Any]) -> str:
    return str(data["pools"][-1]["name"])


def _sub_name(data: Mapping[str, Any]) -> str:
    sub = data["subscriptions"][-1]
    return f"{sub['provider']}-{sub['index']}"


def _uses(data: Mapping[str, Any], account: str) -> list[Selector]:
    """The pools and presets that name ``account``."""
    found: list[Selector] = [("pools", i) for i, p in enumerate(data.get("pools") or []) if account in p["members"]]
    found += [("presets", i) for i, p in enumerate(data.get("presets") or [])
              if any(e.get("provider") == account for e in p["entries"])]
    return found


def _chain_entries(data: Mapping[str, Any], pool: str) -> list[Selector]:
    found: list[Selector] = []
    for i, chain in enumerate(data.get("chains") or []):
        hits = [j for j, e in enumerate(chain["entries"]) if e.get("pool") == pool]
        if hits and len(hits) == len(chain["entries"]):
            found.append(("chains", i))
        else:
            found += [("chains", i, "entries", j) for j in hits]
    return found


def _same_names(before: Mapping[str, Any], after: Mapping[str, Any], paths: list[Selector]) -> list[Selector]:
    """``paths`` (of ``before``) as they are in ``after``: items found again by name."""
    out: list[Selector] = []
    for path in paths:
        name = before[path[0]][path[1]].get("name") if isinstance(path[1], int) else None
        index = _index(after, str(path[0]), name) if name is not None else None
        if index is not None:
            out.append((path[0], index, *path[2:]))
    return out


def _other_account(doc: Any, ctx: ops.EditContext, pool: str) -> str:
    members = doc.data["pools"][_index(doc.data, "pools", pool)]["members"]
    return next(a for a in ops.known_accounts(doc, ctx) if a not in members)


def _toggled(section: str) -> Touched:
    return lambda b, a: ([(section, 0)], [(section, 0)])


def _project_pool(data: Mapping[str, Any]) -> str:
    """The first pool a project sees: its own, else the global policy's (ODD's)."""
    return str((data.get("pools") or json.loads(ODD)["pools"])[0]["name"])


def _section_of(section: str) -> Touched:
    """A project edit of ``section``: the section, or the whole copied-in one when the overlay had none."""
    def touched(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[list[Selector], list[Selector]]:
        if section not in before:
            return [], [(section,)]
        return [(section,)], [(section,)]
    return touched


#: label -> (operation on (doc, ctx, data), the entries it concerns in the data before and after).
POLICY_OPERATIONS: dict[str, tuple[Operation, Touched]] = {
    "subs add": (lambda d, c, data: subscription_edits.add_subscription(d, c, "anthropic", label="Café 2"),
                 lambda b, a: ([], _last(a, "subscriptions"))),
    "subs remove": (lambda d, c, data: subscription_edits.remove_subscription(d, c, _sub_name(data)),
                    lambda b, a: ([("subscriptions", len(b["subscriptions"]) - 1), *_uses(b, _sub_name(b))],
                                  _same_names(b, a, _uses(b, _sub_name(b))))),
    "pool create": (lambda d, c, data: pool_edits.create_pool(d, c, "new-pool", provider="anthropic",
                                                         members=["anthropic", "anthropic-2"]),
                    lambda b, a: ([], _last(a, "pools"))),
    "pool remove": (lambda d, c, data: pool_edits.remove_pool(d, c, _last_pool(data)),
                    lambda b, a: ([*_named(b, "pools", _last_pool(b)), *_chain_entries(b, _last_pool(b))], [])),
    "pool rename": (lambda d, c, data: pool_edits.rename_pool(d, c, _first_pool(data), "renamed"),
                    lambda b, a: ([(("pools", 0)), *_chain_entries(b, _first_pool(b))],
                                  [("pools", 0), *_chain_entries(a, "renamed")])),
    "pool toggle": (lambda d, c, data: pool_edits.toggle_pool(d, c, _first_pool(data)), _toggled("pools")),
    "pool members": (lambda d, c, data: pool_edits.set_pool_members(d, c, _first_pool(data),
                                                               add=[_other_account(d, c, _first_pool(data))]),
                     _toggled("pools")),
    "pool strategy": (lambda d, c, data: pool_edits.set_pool_strategy(d, c, _first_pool(data), "quota-first"),
                      _toggled("pools")),
    "pool schedule": (lambda d, c, data: pool_edits.set_member_schedule(d, c, _first_pool(data),
                                                                   data["pools"][0]["members"][0], role="preferred",
                                                                   windows=[{"hours": [9, 17], "days": ["mon-fri"]}]),
                      _toggled("pools")),
    "chain create": (lambda d, c, data: chain_edits.create_chain(d, c, "new-chain", [f"{_first_pool(data)}:m-1"]),
                     lambda b, a: ([], _last(a, "chains"))),
    "chain remove": (lambda d, c, data: chain_edits.remove_chain(d, c, data["chains"][0]["name"]),
                     lambda b, a: ([("chains", 0)], [])),
    "chain toggle": (lambda d, c, data: chain_edits.toggle_chain(d, c, data["chains"][0]["name"]), _toggled("chains")),
    "chain toggle entry": (lambda d, c, data: chain_edits.toggle_chain(d, c, data["chains"][0]["name"], entry=0),
                           _toggled("chains")),
    "preset create": (lambda d, c, data: chain_edits.create_preset(d, c, "new-preset", ["anthropic:m-2",
                                                                                 "openai-codex:m-3"]),
                      lambda b, a: ([], _last(a, "presets"))),
    "preset remove": (lambda d, c, data: chain_edits.remove_preset(d, c, data["presets"][0]["name"]),
                      lambda b, a: ([("presets", 0)], [])),
    "preset toggle": (lambda d, c, data: chain_edits.toggle_preset(d, c, data["presets"][0]["name"]),
                      _toggled("presets")),
}

PROJECT_OPERATIONS: dict[str, tuple[Operation, Touched]] = {
    "project restrict": (lambda d, c, data: project_edits.restrict_project(d, c, ["openai-codex-3", "anthropic"]),
                         _section_of("allowedSubs")),
    "project restrict add": (lambda d, c, data: project_edits.restrict_project(d, c, ["google-gemini-cli-2"],
                                                                              add=True),
                             _section_of("allowedSubs")),
    "project clear": (lambda d, c, data: project_edits.clear_project(d),
                      lambda b, a: ([("allowedSubs",)] * ("allowedSubs" in b),
                                                                              [])),
    "project pool toggle": (lambda d, c, data: pool_edits.toggle_pool(d, c, _project_pool(data)), _section_of("pools")),
    "project chain create": (lambda d, c, data: chain_edits.create_chain(d, c, "mine", [f"{_project_pool(data)}:m-4"]),
                             _section_of("chains")),
}

#: (add, remove) pairs: the remove must give the file back byte for byte.
ROUND_TRIPS: dict[str, tuple[Operation, Operation]] = {
    "subscription": (POLICY_OPERATIONS["subs add"][0],
                     lambda d, c, data: subscription_edits.remove_subscription(d, c, "anthropic-3")),
    "pool": (POLICY_OPERATIONS["pool create"][0], lambda d, c, data: pool_edits.remove_pool(d, c, "new-pool")),
    "chain": (POLICY_OPERATIONS["chain create"][0], lambda d, c, data: chain_edits.remove_chain(d, c, "new-chain")),
    "preset": (POLICY_OPERATIONS["preset create"][0], lambda d, c, data: chain_edits.remove_preset(d, c, "new-preset")),
}


# ---------------------------------------------------------------------------------------- checks


def _doc(tmp_path: Path, text: str, kind: str) -> PolicyDocument:
    path = tmp_path / ("multi-pass.json" if kind == "policy" else "overlay.json")
    path.write_bytes(text.encode("utf-8"))
    return PolicyDocument.open(path, kind)  # type: ignore[arg-type]


def _context(kind: str) -> ops.EditContext:
    return ops.EditContext.from_registry({}, json.loads(ODD) if kind == "project" else None)


def _entry_lines(text: str, path: Selector) -> tuple[int, int, bool]:
    """The first and last 0-based lines of the entry at ``path`` (from its key, or its value, to the line
    where its value closes) and whether it shares those lines with anything but a comma. The loader
    gives where it starts; brackets are counted (outside strings) to find its end."""
    doc = load_text(text, "spans.json")
    line, col = doc.positions[path]
    lines = text.splitlines(True)
    offset = sum(len(x) for x in lines[: line - 1]) + col - 1
    key_line, key_col = doc.key_positions.get(path) or (line, col)
    first = sum(len(x) for x in lines[: key_line - 1]) + key_col - 1
    end, depth, in_string, i = offset, 0, False, offset
    while i < len(text):
        char = text[i]
        if in_string:
            in_string = char != '"' if char != "\\" else True
            i += 2 if char == "\\" else 1
            continue
        if char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if depth == 0:
            end = i
            break
        i += 1
    line_start = text.rfind("\n", 0, first) + 1
    line_end = text.find("\n", end)
    after = text[end + 1:len(text) if line_end < 0 else line_end]
    shared = bool(text[line_start:first].strip()) or bool(after.strip().removeprefix(",").strip())
    return text.count("\n", 0, first), text.count("\n", 0, end), shared


def _with_emptied_lists(touched: tuple[list[Selector], list[Selector]], before: Any, after: Any
                        ) -> tuple[list[Selector], list[Selector]]:
    """A list that an edit empties (or fills from empty) changes as a whole, its brackets included."""
    old, new = list(touched[0]), list(touched[1])
    for paths, other in ((touched[0], after), (touched[1], before)):
        for path in paths:
            if isinstance(path[-1], int) and _get(other, path[:-1]) == []:
                old = [p for p in old if p != path] + [path[:-1]]
                new = [p for p in new if p != path] + [path[:-1]]
    return old, new


def _get(data: Any, path: Selector) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _strip_comma(line: str) -> str:
    return line.rstrip().removesuffix(",")


def assert_only_entries_changed(before: str, after: str, touched: tuple[list[Selector], list[Selector]]) -> None:
    """Every line outside the touched entries' spans is what it was, but for a comma before an entry.

    Blank lines next to an entry go with it. An entry that shares its lines with others (in a one-line
    list) makes the corresponding lines of the other text count as touched too: those at the same
    distance from the start and from the end of its parent.
    """
    a_text, b_text = before.replace("\r\n", "\n"), after.replace("\r\n", "\n")
    touched = _with_emptied_lists(touched, json.loads(a_text), json.loads(b_text))
    a_span: set[int] = set()
    b_span: set[int] = set()
    for text, paths, own, other_text, other in ((a_text, touched[0], a_span, b_text, b_span),
                                                (b_text, touched[1], b_span, a_text, a_span)):
        for path in paths:
            first, last, shared = _entry_lines(text, path)
            if shared:
                parent_first, parent_last, _ = _entry_lines(text, path[:-1])
                other_first, other_last, _ = _entry_lines(other_text, path[:-1])
                other |= {other_first + first - parent_first, other_last - (parent_last - last)}
            own |= set(range(first, last + 1))
    for text, span in ((a_text, a_span), (b_text, b_span)):
        lines = text.splitlines()
        for line in list(span):  # blank separator lines go with an entry
            for step in (-1, 1):
                i = line + step
                while 0 <= i < len(lines) and not lines[i].strip():
                    span.add(i)
                    i += step
    kept_a = [line for i, line in enumerate(a_text.splitlines()) if i not in a_span]
    kept_b = [line for i, line in enumerate(b_text.splitlines()) if i not in b_span]
    assert [_strip_comma(x) for x in kept_a] == [_strip_comma(x) for x in kept_b], "\n".join(
        difflib.unified_diff(kept_a, kept_b, lineterm=""))
    commas = sum(x != y for x, y in zip(kept_a, kept_b, strict=True))
    assert commas <= max(1, len(touched[0]) + len(touched[1]))
    if "\r\n" in before:
        assert after.count("\r\n") == after.count("\n")
    assert after.endswith("\n") == before.endswith("\n")


def check_operation(tmp_path: Path, text: str, kind: str, operation: Operation, touched: Touched) -> str:
    """Run ``operation`` on the file and on the oracle; check the data, the changed lines; return the text."""
    doc = _doc(tmp_path, text, kind)
    oracle = PlainDoc(text, kind, doc.source)
    ctx = _context(kind)
    data = doc.data
    operation(doc, ctx, data)
    operation(oracle, ctx, oracle.data)
    result = doc.text
    assert json.dumps(json.loads(result)) == json.dumps(oracle.data), result
    assert json.dumps(load_text(result.lstrip("\ufeff"), "after.json").data) == json.dumps(oracle.data)
    assert_only_entries_changed(text, result, touched(json.loads(text), json.loads(result)))
    return result


def check_round_trip(tmp_path: Path, text: str, add: Operation, remove: Operation) -> None:
    doc = _doc(tmp_path, text, "policy")
    ctx = _context("policy")
    add(doc, ctx, doc.data)
    assert doc.text != text
    remove(doc, ctx, doc.data)
    assert doc.text == text


# ----------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("operation", list(POLICY_OPERATIONS))
@pytest.mark.parametrize("policy", list(POLICIES))
def test_every_operation_changes_only_its_entry(tmp_path: Path, policy: str, operation: str) -> None:
    result = check_operation(tmp_path, POLICIES[policy], "policy", *POLICY_OPERATIONS[operation])
    if policy == "odd":  # a real policy, and the edit keeps it one (the CLI validates before writing)
        for text in (ODD, result):
            doc = PolicyDocument(tmp_path / "multi-pass.json", "policy", text, exists=True)
            assert [d.format() for d in doc.validate() if d.severity == "error"] == []


@pytest.mark.parametrize("operation", list(PROJECT_OPERATIONS))
@pytest.mark.parametrize("project", list(PROJECTS))
def test_every_project_operation_changes_only_its_entry(tmp_path: Path, project: str, operation: str) -> None:
    check_operation(tmp_path, PROJECTS[project], "project", *PROJECT_OPERATIONS[operation])


@pytest.mark.parametrize("pair", list(ROUND_TRIPS))
@pytest.mark.parametrize("policy", list(POLICIES))
def test_an_add_then_a_remove_gives_the_file_back(tmp_path: Path, policy: str, pair: str) -> None:
    check_round_trip(tmp_path, POLICIES[policy], *ROUND_TRIPS[pair])


def test_a_restriction_added_then_cleared_gives_the_overlay_back(tmp_path: Path) -> None:
    doc = _doc(tmp_path, PROJECT_ODD, "project")
    ctx = _context("project")
    project_edits.restrict_project(doc, ctx, ["anthropic-2"])
    project_edits.clear_project(doc)
    assert doc.text == PROJECT_ODD


def test_subs_add_on_a_hand_formatted_file_adds_one_line_and_keeps_escapes_and_numbers(tmp_path: Path) -> None:
    doc = _doc(tmp_path, ODD, "policy")
    subscription_edits.add_subscription(doc, _context("policy"), "anthropic", label="Café")
    removed = [line for line in difflib.ndiff(ODD.splitlines(), doc.text.splitlines()) if line.startswith("- ")]
    added = [line for line in difflib.ndiff(ODD.splitlines(), doc.text.splitlines()) if line.startswith("+ ")]
    assert removed == ['-       {"provider": "google-gemini-cli", "index": 2}']
    assert added == ['+       {"provider": "google-gemini-cli", "index": 2},',
                     '+       {"provider": "anthropic", "index": 3, "label": "Caf\\u00e9"}']
    assert '"cooldown": 1e3' in doc.text and '"hours": [-0, 17]' in doc.text and not doc.text.endswith("\n")


def test_new_values_follow_their_siblings(tmp_path: Path) -> None:
    """A new pool is expanded like the pools, with one-line members like theirs; a new chain is written like
    the chain before it (its entries on one line); tabs and CRLF as in the file."""
    doc = _doc(tmp_path, TABS_CRLF, "policy")
    ctx = _context("policy")
    pool_edits.create_pool(doc, ctx, "gemini", provider="google-gemini-cli", members=["google-gemini-cli"])
    chain_edits.create_chain(doc, ctx, "late", ["gemini:gemini-2.5-pro"])
    assert ('\t\t},\r\n\t\t{\r\n\t\t\t"name": "gemini",\r\n\t\t\t"baseProvider": "google-gemini-cli",\r\n'
            '\t\t\t"members": [ "google-gemini-cli" ],\r\n\t\t\t"enabled": true\r\n\t\t}\r\n\t],\r\n\r\n\t"chains"'
            ) in doc.text
    assert ('\t\t},\r\n\t\t{\r\n\t\t\t"name": "late",\r\n\t\t\t"enabled": true,\r\n'
            '\t\t\t"entries": [ { "pool": "gemini", "model": "gemini-2.5-pro", "enabled": true } ]\r\n\t\t}\r\n\t],'
            ) in doc.text


def test_an_empty_file_and_an_empty_object_get_pi_multi_pass_s_format(tmp_path: Path) -> None:
    for text in ("", "{}", "{}\n", "  \n"):
        json_text = JsonText(text)
        json_text.set((), "allowedSubs", FlowList(["anthropic-2"]), None)
        assert json_text.render().rstrip("\n") == '{\n  "allowedSubs": [\n    "anthropic-2"\n  ]\n}'


def test_one_line_containers_stay_on_one_line_and_emptied_lists_close(tmp_path: Path) -> None:
    json_text = JsonText('{"pools": [{"name": "a", "members": ["x"]}], "chains": [ ]}')
    json_text.set(("pools", 0), "enabled", False, None)
    json_text.append(("pools", 0, "members"), "y")
    json_text.append(("chains",), BlockMap(name="c", entries=[FlowMap(pool="a", model="m")]))
    assert json_text.render() == ('{"pools": [{"name": "a", "members": ["x", "y"], "enabled": false}], '
                                  '"chains": [{"name": "c", "entries": [{"pool": "a", "model": "m"}]}]}')
    json_text.delete(("chains", 0))
    json_text.delete(("pools", 0, "members", 0))
    assert json_text.render() == '{"pools": [{"name": "a", "members": ["y"], "enabled": false}], "chains": []}'


def test_a_first_member_on_the_line_of_the_brace_keeps_the_next_line_whole() -> None:
    text = '{"allowedSubs": ["a"],\n "pools": []\n}'
    json_text = JsonText(text)
    json_text.set((), "$schema", "x", 0)
    assert json_text.render() == '{"$schema": "x", "allowedSubs": ["a"],\n "pools": []\n}'
    json_text.delete(("$schema",))
    assert json_text.render() == text
    json_text.delete(("allowedSubs",))
    assert json_text.render() == '{\n "pools": []\n}'  # " pools" keeps its line


def test_the_style_is_read_from_the_file() -> None:
    style = detect_style('{\n\t"a" : [ 1,2 ],\n\t"b": {"c": "\\u00e9"}\n}')
    assert (style.unit, style.key_sep, style.item_sep, style.array_pad, style.ascii, style.mode) == (
        "\t", ": ", ",", " ", True, "styled")
    assert detect_style(PI_JSON).mode == "expanded" and detect_style(ONE_LINE).mode == "flat"
    assert detect_style('{"a": "é \\u00e9"}').ascii is False  # raw UTF-8 present: new text is raw too


# -------------------------------------------------------------------------------- non-finite numbers


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf"), 10 ** 400])
def test_no_edit_ever_writes_a_number_that_is_not_finite(tmp_path: Path, number: float) -> None:
    doc = _doc(tmp_path, ODD, "policy")
    with pytest.raises(NonFiniteNumberError, match=r"\$\.pools\[2\]\.cooldown"):
        doc.append(("pools",), {"name": "x", "baseProvider": "anthropic", "members": ["anthropic"],
                                "cooldown": number})
    with pytest.raises(NonFiniteNumberError, match=r"\$\.settings\.cooldown"):
        doc.set(("settings",), "cooldown", number)
    assert doc.text == ODD and not doc.changed


def test_a_project_copy_of_a_non_finite_global_value_is_refused(tmp_path: Path) -> None:
    """A YAML global policy can hold .inf; copying it into a JSON overlay must not write Infinity."""
    global_data = json.loads(ODD)
    global_data["pools"][0]["cooldown"] = float("inf")
    doc = _doc(tmp_path, PROJECT_ODD, "project")
    with pytest.raises(NonFiniteNumberError, match=r"\$\.pools\[0\]\.cooldown is inf; JSON has no NaN or Infinity"):
        pool_edits.toggle_pool(doc, ops.EditContext.from_registry({}, global_data), "claude")
    assert doc.text == PROJECT_ODD


# --------------------------------------------------------------------------- generated formatting


def _float_spellings(value: float) -> list[str]:
    return [repr(value), f"{value:e}", f"{value:E}", f"{value:.3f}"]


@st.composite
def formatted(draw: st.DrawFn, data: Any) -> str:
    """``data`` written as JSON in a drawn style: indentation, spacing, one-line or expanded
    containers, key order, escapes, number spellings, line endings and the final newline."""
    unit = draw(st.sampled_from([" ", "  ", "   ", "    ", "\t"]))
    key_sep = draw(st.sampled_from([":", ": ", " : "]))
    item_sep = draw(st.sampled_from([",", ", ", " , "]))
    pad = draw(st.sampled_from(["", " "]))
    blank = draw(st.booleans())

    def scalar(value: Any) -> str:
        if isinstance(value, bool) or value is None:
            return json.dumps(value)
        if isinstance(value, int):
            return draw(st.sampled_from(["0", "-0"])) if value == 0 else str(value)
        if isinstance(value, float):
            return draw(st.sampled_from(_float_spellings(value)))
        return json.dumps(value, ensure_ascii=draw(st.booleans()))

    def write(value: Any, indent: str, flat: bool, top: bool) -> str:
        if isinstance(value, dict):
            keys = list(value)
            if len(keys) > 1 and draw(st.booleans()):
                keys = draw(st.permutations(keys))
            items = [(scalar(str(k)) + key_sep, value[k]) for k in keys]
            brackets = "{}"
        elif isinstance(value, list):
            items = [("", v) for v in value]
            brackets = "[]"
        else:
            return scalar(value)
        if not items:
            return brackets
        one_line = flat or draw(st.booleans())
        if one_line:
            body = item_sep.join(prefix + write(v, "", True, False) for prefix, v in items)
            return brackets[0] + pad + body + pad + brackets[1]
        inner = indent + unit
        joiner = ",\n\n" if top and blank else ",\n"
        body = joiner.join(inner + prefix + write(v, inner, False, False) for prefix, v in items)
        return brackets[0] + "\n" + body + "\n" + indent + brackets[1]

    text = write(data, "", False, True)
    if draw(st.booleans()):
        text += "\n"
    if draw(st.booleans()):
        text = text.replace("\n", "\r\n")
    return text


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(text=formatted(json.loads(ODD)))
def test_every_operation_on_any_formatting_changes_only_its_entry(tmp_path: Path, text: str) -> None:
    for operation, touched in POLICY_OPERATIONS.values():
        check_operation(tmp_path, text, "policy", operation, touched)
    for add, remove in ROUND_TRIPS.values():
        check_round_trip(tmp_path, text, add, remove)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(text=formatted(json.loads(PROJECT_LISTED)) | formatted(json.loads(PROJECT_ODD)))
def test_every_project_operation_on_any_formatting_changes_only_its_entry(tmp_path: Path, text: str) -> None:
    for operation, touched in PROJECT_OPERATIONS.values():
        check_operation(tmp_path, text, "project", operation, touched)

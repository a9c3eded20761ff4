"""Writing converted data as commented YAML (ruamel.yaml round-trip nodes), checked by reading it back.

Every section gets a short comment saying what it does; every pool its strategy in words and
each scheduled member its windows in words; every chain and preset its route. Differences that
concern one item are noted right above it. The text is read back with mp-policy's own loader
and must give exactly the converted data, so the YAML cannot mean anything else.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from policy_engine.common.records import dataclass
from policy_engine.common.terminal_text import first_unsafe, printable
from policy_engine.pi_import.describe import describe_member, describe_strategy, entry_route
from policy_engine.pi_import.model import Difference, SourceKind
from policy_engine.policy.loader import load_text
from policy_engine.policy.locations import PI_JSON_ADVICE

__all__ = ["EmitContext", "render_yaml"]

_WIDTH = 100
_YAML11 = yaml.resolver.Resolver()
_FLOW_KEYS = {"members", "allowedSubs", "hours", "days", "rotateOn"}  # lists written inline
_FLOW_ITEMS = {"subscriptions", "windows", "entries"}  # block lists of one-line mappings
_GENERAL = ("pools",)  # differences at this bare path concern every failover (see behaviour.py)


@dataclass(frozen=True)
class EmitContext:
    """What the comments say beyond the data: where it came from and what MULTI_SUB adds."""

    kind: SourceKind
    source_name: str  # e.g. "multi-pass.json" or ".pi/multi-pass.json"
    multi_sub: str | None = None
    env_accounts: Sequence[str] = ()
    copied_chains: bool = False  # the project's chains were derived from the global ones
    index_maps: Mapping[str, Mapping[int, int]] = field(default_factory=dict)  # section -> pi index -> YAML index


def _wrap(text: str, indent: int, prefix: str = "") -> list[str]:
    width = max(40, _WIDTH - indent - 2)
    return textwrap.wrap(text, width=width, initial_indent=prefix, subsequent_indent=" " * len(prefix),
                         break_on_hyphens=False, break_long_words=False) or [""]


def _comment(lines: Sequence[str]) -> str:
    return "\n".join(printable(line) for line in lines)  # a raw control character would break the YAML


def _scalar(value: str) -> str:
    """Quote strings that a YAML 1.1 reader (mp-policy's loader) would take for a boolean, number or null,
    and strings with control characters (double quotes write them as escapes; validation then names them)."""
    tag = _YAML11.resolve(yaml.nodes.ScalarNode, value, (True, False))
    if tag not in ("tag:yaml.org,2002:str", "tag:yaml.org,2002:timestamp") or first_unsafe(value):
        return DoubleQuotedScalarString(value)
    return value


def _node(value: Any, key: str | None = None, flow: bool = False) -> Any:
    """Plain data as round-trip nodes, with flow style where a short inline form reads best."""
    if isinstance(value, Mapping):
        node = CommentedMap()
        for k, v in value.items():
            node[_scalar(k)] = _node(v, k, flow)
        if flow:
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        inline = flow or key in _FLOW_KEYS
        seq = CommentedSeq(_node(v, None, inline or key in _FLOW_ITEMS) for v in value)
        if inline:
            seq.fa.set_flow_style()
        return seq
    if isinstance(value, str):
        return _scalar(value)
    return value


class _Notes:
    """Differences by where they are shown: an item of a section, a scheduled member, a section, the header."""

    def __init__(self, differences: Sequence[Difference], index_maps: Mapping[str, Mapping[int, int]]) -> None:
        self.items: dict[tuple[str, int], list[str]] = {}
        self.members: dict[tuple[int, str], list[str]] = {}
        self.sections: dict[str, list[str]] = {}
        self.header: list[str] = []
        self.general: list[str] = []
        for d in differences:
            path = d.path
            text = f"{d.code}: {d.message}"
            if path == _GENERAL and d.kind == "behaviour":
                self.general.append(d.message)
                continue
            section = path[0] if path and isinstance(path[0], str) else None
            mapped = index_maps.get(section or "", {})
            if section and len(path) > 1 and isinstance(path[1], int) and path[1] in mapped:
                index = mapped[path[1]]
                if section == "pools" and len(path) > 3 and path[2] == "memberSchedule" and isinstance(path[3], str):
                    self.members.setdefault((index, path[3]), []).append(text)
                else:
                    self.items.setdefault((section, index), []).append(text)
            elif section in ("settings", "subscriptions", "pools", "chains", "presets", "allowedSubs", "errorRules") \
                    and len(path) > 1:
                self.sections.setdefault(section, []).append(text)
            else:
                self.header.append(text)

    @staticmethod
    def lines(texts: Sequence[str], indent: int) -> list[str]:
        out: list[str] = []
        for text in texts:
            out += _wrap(text, indent, "note: ")
        return out


def render_yaml(data: Mapping[str, Any], differences: Sequence[Difference], ctx: EmitContext) -> str:
    """The commented YAML for ``data``; raises AssertionError if it would not read back as ``data``."""
    notes = _Notes(differences, ctx.index_maps)
    root = _node(data)
    root.yaml_set_start_comment(_comment(_header(ctx, notes)))
    for key in root:
        lines = _section_comment(key, data, ctx) + _Notes.lines(notes.sections.get(key, []), 0)
        if lines:
            root.yaml_set_comment_before_after_key(key, before=_comment(["", *lines]), indent=0)
    _item_comments(root, data, notes)
    text = _dump(root)
    back = load_text(text, f"<import of {ctx.source_name}>.yaml").data
    if back != dict(data):
        raise AssertionError(f"the YAML written for {ctx.source_name} does not read back as the converted data")
    return text


def _dump(root: CommentedMap) -> str:
    writer = YAML(typ="rt")
    writer.indent(mapping=2, sequence=4, offset=2)
    writer.width = 120
    writer.allow_unicode = True
    stream = io.StringIO()
    writer.dump(root, stream)
    return stream.getvalue()


# --------------------------------------------------------------------------- comments


def _header(ctx: EmitContext, notes: _Notes) -> list[str]:
    if ctx.kind == "policy":
        lines = [
            f"mp-policy policy, imported from pi-multi-pass's {ctx.source_name} by `mp-policy import`.",
            *_wrap(PI_JSON_ADVICE, 0, ""),
            "Check it with `mp-policy validate`; try it with `mp-policy eval --chain NAME --explain`.",
        ]
    else:
        lines = [
            f"mp-policy project overlay, imported from pi-multi-pass's {ctx.source_name} by `mp-policy import`.",
            "Inside this project it narrows the global policy (allowedSubs) and replaces the sections it has.",
        ]
    if notes.general:
        lines += ["", "Every failover here differs from pi-multi-pass in these ways:"]
        for text in notes.general:
            lines += _wrap(text, 0, "- ")
    if notes.header:
        lines += ["", "Changed or left out by the import:"]
        for text in notes.header:
            lines += _wrap(text, 0, "- ")
    return lines


def _section_comment(key: str, data: Mapping[str, Any], ctx: EmitContext) -> list[str]:
    project = ctx.kind == "project"
    if key == "version":
        return ["The policy format version."]
    if key == "settings":
        lines = ["Settings. pi-multi-pass had none; cooldown is the time an account rests after a rate limit",
                 "(pi: a fixed 5 minutes; here a longer retry-after from the error wins)."]
        if "selectorTimeout" in (data.get("settings") or {}):
            lines.append("selectorTimeout is the most a custom selector may take (pi: no limit).")
        if "timezone" not in (data.get("settings") or {}):
            lines.append("No timezone: schedules use this machine's local time, as in pi-multi-pass; write e.g.")
            lines.append("timezone: Europe/Vienna to pin it.")
        return lines
    if key == "subscriptions":
        lines = ["Extra accounts, each named <provider>-<index>; the base account of each provider (anthropic,",
                 "openai-codex, ...) is implicit and is number 1."]
        return lines + _multi_sub_lines(ctx)
    if key == "allowedSubs":
        return ["Only these accounts may be used in this project (exact names: anthropic-2 does not allow",
                "anthropic); pools keep only these members, and chain entries into emptied pools are skipped."]
    if key == "pools":
        lines = ["Pools: accounts of one provider family that stand in for each other; members are tried in the",
                 "order the pool's strategy gives (a new turn starts at the member last used)."]
        return (["These pools replace the global pools inside this project.", *lines]) if project else lines
    if key == "chains":
        lines = ["Chains: when every account of an entry's pool is used up or cooling down, the next entry's",
                 "pool takes over, with that entry's model."]
        if ctx.copied_chains:
            lines += ["This project replaces the global pools, so the global chains are copied here without the",
                      "entries into pools it does not have (pi-multi-pass skipped those entries; mp-policy needs",
                      "every entry to name a pool that exists)."]
        elif project:
            lines = ["These chains replace the global chains inside this project.", *lines]
        return lines
    if key == "presets":
        lines = ["Presets: named routes across providers (select --preset NAME); each entry rotates within its",
                 "provider's pool before the next entry."]
        return (["These presets replace the global presets inside this project.", *lines]) if project else lines
    if key == "errorRules":
        return ["Error rules: your own error classification, checked before the built-in one."]
    return []


def _multi_sub_lines(ctx: EmitContext) -> list[str]:
    if ctx.multi_sub:
        added = ", ".join(ctx.env_accounts) or "nothing beyond these"
        return ["MULTI_SUB is not written here: mp-policy reads it from the environment at run time, as",
                "pi-multi-pass did (at least N extra accounts per provider). In the environment of the import,",
                *_wrap(f"MULTI_SUB={ctx.multi_sub} adds: {added}.", 0)]
    return ["MULTI_SUB (an environment variable) can still add accounts at run time, as in pi-multi-pass."]


def _item_comments(root: CommentedMap, data: Mapping[str, Any], notes: _Notes) -> None:
    subs = data.get("subscriptions") or []
    column = max((len(_flow_text(sub)) for sub in subs), default=0) + 6
    for k, sub in enumerate(subs):
        label = f" ({sub['label']})" if sub.get("label") else ""
        root["subscriptions"].yaml_add_eol_comment(f"# {sub['provider']}-{sub['index']}{label}", k, column=column)
        _before(root["subscriptions"], k, notes.items.get(("subscriptions", k), []), [])
    for k, pool in enumerate(data.get("pools") or []):
        intro = [f"{pool['name']} ({pool['baseProvider']}): {describe_strategy(pool)}"]
        if pool.get("enabled") is False:
            intro.append("disabled: this pool is never used (enabled: false)")
        _before(root["pools"], k, notes.items.get(("pools", k), []), intro)
        schedule = root["pools"][k].get("memberSchedule")
        if isinstance(schedule, CommentedMap):
            for member in schedule:
                lines = _wrap(describe_member(str(member), pool["memberSchedule"][member]), 6)
                lines += _Notes.lines(notes.members.get((k, str(member)), []), 6)
                schedule.yaml_set_comment_before_after_key(member, before=_comment(lines), indent=6)
    for section, target in (("chains", "pool"), ("presets", "provider")):
        for k, item in enumerate(data.get(section) or []):
            intro = [f"{item['name']}: {entry_route(item['entries'], target)}"]
            if item.get("enabled") is False:
                intro.append(f"disabled: this {section[:-1]} is never used (enabled: false)")
            _before(root[section], k, notes.items.get((section, k), []), intro)


def _flow_text(item: Mapping[str, Any]) -> str:
    """About the text of ``item`` as a one-line mapping (for lining up end-of-line comments)."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in item.items()) + "}"


def _before(seq: CommentedSeq, index: int, texts: Sequence[str], intro: Sequence[str]) -> None:
    lines: list[str] = []
    for text in intro:
        lines += _wrap(text, 2)
    lines += _Notes.lines(texts, 2)
    if index > 0 and lines:
        lines = ["", *lines]
    if lines:
        seq.yaml_set_comment_before_after_key(index, before=_comment(lines), indent=2)

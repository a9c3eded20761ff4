"""Tests of :mod:`policy_engine.evaluate.graph_view`: the whole-policy explanation as a model, text, DOT and JSON."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from policy_engine.engine import Engine
from policy_engine.evaluate.graph_render import dot_id, render_dot, render_text
from policy_engine.evaluate.graph_view import GraphView, build_view
from policy_engine.policy.loader import load_file

REPO = Path(__file__).resolve().parents[2]
DEMO = REPO / "policies" / "demo"
NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
DEMO_ACCOUNTS = {"anthropic", "anthropic-2", "openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli"}

MESSY = {
    "settings": {"timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3},
                      {"provider": "openai-codex", "index": 2}, {"provider": "openai-codex", "index": 9}],
    "pools": [
        {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2", "anthropic-7"]},
        {"name": "codex", "baseProvider": "openai-codex", "strategy": "scheduled",
         "members": ["openai-codex", "openai-codex-2"],
         "memberSchedule": {"openai-codex": {"role": "preferred", "windows": [
             {"hours": [9, 17], "days": ["mon-fri"], "dateRange": {"from": "2020-01-01", "to": "2020-12-31"}}]},
             "openai-codex-2": {"role": "overflow"}}},
        {"name": "old", "baseProvider": "anthropic", "members": ["anthropic-3"], "enabled": False},
        {"name": "lonely", "baseProvider": "google-gemini-cli", "members": ["google-gemini-cli"]},
    ],
    "chains": [
        {"name": "main", "entries": [{"pool": "claude", "model": "sonnet"}, {"pool": "codex", "model": "gpt-5"},
                                     {"pool": "claude", "model": "sonnet"}, {"pool": "old", "model": "x"},
                                     {"pool": "codex", "model": "o3", "enabled": False}]},
        {"name": "off", "enabled": False, "entries": [{"pool": "claude", "model": "haiku"}]},
    ],
    "presets": [
        {"name": "p", "entries": [{"provider": "anthropic-2", "model": "opus"},
                                  {"provider": "github-copilot-4", "model": "gpt-4.1"},
                                  {"provider": "anthropic", "model": "opus"}]},
        {"name": "q", "enabled": False, "entries": [{"provider": "openai-codex", "model": "o3"}]},
    ],
}


def view_of(policy: Any, project: Any = None, **kwargs: Any) -> GraphView:
    """The view of an in-memory policy (at ``NOW`` unless given)."""
    engine = Engine.from_documents(policy, project)
    kwargs.setdefault("now", NOW)
    return build_view(engine.graph, diagnostics=engine.diagnostics, **kwargs)


def demo_view(project: Path | None = None) -> GraphView:
    """The view of the demo policy (with the corp project overlay when given)."""
    engine = Engine.from_documents(load_file(DEMO / "multi-pass.yaml"), load_file(project) if project else None)
    return build_view(engine.graph, logged_in=DEMO_ACCOUNTS, now=NOW, diagnostics=engine.diagnostics)


# -- the model -----------------------------------------------------------------------------------------------


def test_the_demo_reaches_everything() -> None:
    view = demo_view()
    assert view.unreachable == ()
    reach = {r.route: r for r in view.reach}
    assert list(reach) == ["chain:main", "preset:coding-premium", "preset:coding-budget", "pool:claude",
                           "pool:codex", "pool:gemini"]
    assert reach["chain:main"].targets == (
        ("anthropic", "claude-sonnet-4-5"), ("anthropic-2", "claude-sonnet-4-5"), ("openai-codex", "gpt-5"),
        ("openai-codex-2", "gpt-5"), ("openai-codex-3", "gpt-5"), ("google-gemini-cli", "gemini-2.5-pro"))
    assert reach["pool:codex"].accounts == ("openai-codex", "openai-codex-2", "openai-codex-3", "google-gemini-cli")
    codex = next(p for p in view.pools if p.name == "codex")
    assert (codex.strategy, codex.cooldown, codex.continues) == ("scheduled", "5m", ("main", 1))
    assert codex.used_by == ("chain:main", "preset:coding-premium", "preset:coding-budget")
    assert [(m.name, m.role, m.schedule) for m in codex.members] == [
        ("openai-codex", "preferred", "09-17 mon-fri"), ("openai-codex-2", "preferred", "17-09"),
        ("openai-codex-3", "overflow", None)]
    budget = view.presets[1]
    assert [(e.index, e.provider, e.status, e.adds) for e in budget.entries] == [
        (0, "openai-codex", "ok", ("openai-codex", "openai-codex-2", "openai-codex-3")),
        (1, "google-gemini-cli", "ok", ("google-gemini-cli",))]


def test_project_restrictions() -> None:
    view = demo_view(DEMO / "projects" / "corp" / ".pi" / "multi-pass.yaml")
    assert view.allowed == ("anthropic-2", "openai-codex-2")
    claude = next(p for p in view.pools if p.name == "work-claude")
    assert claude.removed == ("anthropic",) and [m.name for m in claude.members] == ["anthropic-2"]
    codes = {(u.kind, u.name, u.code) for u in view.unreachable}
    assert ("member", "work-claude/anthropic", "not-allowed") in codes
    # The entry's own provider is not allowed, but its allowed pool sibling serves the entry (DESIGN §4).
    assert not any(u.name.startswith("preset coding-premium #0") for u in view.unreachable)
    premium = next(r for r in view.reach if r.route == "preset:coding-premium")
    assert premium.targets == (("anthropic-2", "claude-sonnet-4-5"),)
    assert ("anthropic", "not-allowed") in premium.blocked
    entry = next(p for p in view.presets if p.name == "coding-premium").entries[0]
    assert entry.status == "ok" and entry.adds == ("anthropic-2",) and "siblings serve" in (entry.detail or "")


def test_every_kind_of_unreachable_part() -> None:
    view = view_of(MESSY, logged_in={"anthropic", "openai-codex", "openai-codex-2", "google-gemini-cli"},
                   cooldowns={"anthropic": NOW + timedelta(minutes=5), "openai-codex": NOW - timedelta(minutes=1)})
    found = {(u.kind, u.name, u.code) for u in view.unreachable}
    assert found == {
        ("chain", "off", "disabled"),
        ("entry", "chain main #2 (pool claude)", "redundant"),
        ("entry", "chain main #3 (pool old)", "pool-disabled"),
        ("entry", "chain main #4 (pool codex)", "disabled"),
        ("entry", "preset p #1 (github-copilot-4)", "unknown"),
        ("entry", "preset p #2 (anthropic)", "redundant"),  # anthropic came with entry 0's pool, same model
        ("preset", "q", "disabled"),
        ("pool", "old", "disabled"),
        ("member", "claude/anthropic-7", "unknown"),
        ("member", "codex/openai-codex", "never-opens"),
        ("pool", "lonely", "no-route"),
        ("account", "anthropic-3", "no-route"),
        ("account", "openai-codex-9", "no-route"),
    }
    claude = next(p for p in view.pools if p.name == "claude")
    assert [(m.name, m.status) for m in claude.members] == [
        ("anthropic", "cooldown"), ("anthropic-2", "no-auth"), ("anthropic-7", "unknown")]
    main = view.chains[0]
    assert [(e.index, e.status, e.adds) for e in main.entries] == [
        (0, "ok", ("anthropic", "anthropic-2")), (1, "ok", ("openai-codex", "openai-codex-2")),
        (2, "redundant", ()), (3, "pool-disabled", ()), (4, "disabled", ())]
    preset = view.presets[0]
    assert [(e.index, e.status, e.adds) for e in preset.entries] == [
        (0, "ok", ("anthropic-2", "anthropic")), (1, "unknown", ()), (2, "redundant", ())]
    assert ("anthropic-7", "unknown") in next(r for r in view.reach if r.route == "chain:main").blocked
    assert any(d.code == "unknown-member" for d in view.diagnostics)


def test_an_entry_with_a_new_model_is_not_redundant() -> None:
    policy = {"pools": [{"name": "a", "baseProvider": "anthropic", "members": ["anthropic"]}],
              "chains": [{"name": "c", "entries": [{"pool": "a", "model": "sonnet"}, {"pool": "a", "model": "opus"}]}]}
    view = view_of(policy)
    assert [e.status for e in view.chains[0].entries] == ["ok", "ok"]
    assert view.unreachable == ()


# -- text ----------------------------------------------------------------------------------------------------


def test_text() -> None:
    text = render_text(view_of(MESSY, logged_in={"anthropic"}))
    assert text.startswith("policy ") and "allowedSubs: none (every account may be used)" in text
    assert "  claude  (anthropic) round-robin · cooldown 5m\n    then chain main after entry #0\n" in text
    assert "    2. anthropic-2  [no-auth] no stored credentials" in text
    assert "    1. openai-codex    preferred: 09-17 mon-fri 2020-01-01..2020-12-31" in text
    assert "  old  (anthropic) round-robin · cooldown 5m  [disabled]" in text
    assert "    #2 pool claude · sonnet  [redundant] every account of the pool was already on the chain" in text
    assert "  chain:main   anthropic, anthropic-2 (no auth) · sonnet → openai-codex (no auth), openai-codex-2 " \
           "(no auth) · gpt-5  (never: anthropic-7 unknown)" in text
    assert "  pool:claude  anthropic, anthropic-2 (no auth) · (the request's model) → openai-codex (no auth), " \
           "openai-codex-2 (no auth) · gpt-5 → anthropic, anthropic-2 (no auth) · sonnet" in text
    assert "  ✗ pool lonely: no-route — no enabled chain or preset uses pool lonely" in text
    assert "warnings (from compiling the policy)" in text and "unknown-member" in text
    assert "nothing: every pool" in render_text(demo_view())


# -- DOT -----------------------------------------------------------------------------------------------------

_TOKEN = re.compile(r'\s*(?:(?P<str>"(?:[^"\\]|\\.)*")|(?P<arrow>->)|(?P<sym>[{}\[\]=;,])|(?P<word>[A-Za-z_][\w]*))')


def tokens(text: str) -> list[tuple[str, str]]:
    """DOT tokens (kind, text); fails on anything else."""
    out, pos = [], 0
    while pos < len(text.rstrip()):
        match = _TOKEN.match(text, pos)
        assert match is not None, f"cannot read DOT at {text[pos:pos + 40]!r}"
        kind = match.lastgroup or ""
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


def parse_dot(text: str) -> dict[str, Any]:
    """A structural DOT check: nodes declared (quoted ids), edges between declared nodes, balanced blocks."""
    toks = tokens(text)
    assert toks[0] == ("word", "digraph") and toks[1][0] == "str" and toks[2] == ("sym", "{")
    depth, i = 0, 2
    nodes: dict[str, dict[str, str]] = {}
    edges: list[tuple[str, str, dict[str, str]]] = []
    clusters: list[str] = []

    def attrs(j: int) -> tuple[dict[str, str], int]:
        found: dict[str, str] = {}
        if j < len(toks) and toks[j] == ("sym", "["):
            j += 1
            while toks[j] != ("sym", "]"):
                key, eq, value = toks[j], toks[j + 1], toks[j + 2]
                assert key[0] == "word" and eq == ("sym", "=") and value[0] == "str", (key, eq, value)
                found[key[1]] = value[1][1:-1]
                j += 3
                if toks[j] == ("sym", ","):
                    j += 1
            j += 1
        return found, j

    while i < len(toks):
        kind, value = toks[i]
        if value == "{":
            depth += 1
            i += 1
        elif value == "}":
            depth -= 1
            i += 1
        elif kind == "word" and value == "subgraph":
            assert toks[i + 1][0] == "str" and toks[i + 2] == ("sym", "{")
            clusters.append(toks[i + 1][1][1:-1])
            i += 2
        elif kind == "word" and value in ("graph", "node", "edge"):
            _, i = attrs(i + 1)
            assert toks[i] == ("sym", ";")
            i += 1
        elif kind == "str":
            if i + 1 < len(toks) and toks[i + 1][0] == "arrow":
                assert toks[i + 2][0] == "str", "edge targets are quoted ids"
                found, i2 = attrs(i + 3)
                edges.append((value[1:-1], toks[i + 2][1][1:-1], found))
            else:
                found, i2 = attrs(i + 1)
                assert value[1:-1] not in nodes, f"node {value} declared twice"
                nodes[value[1:-1]] = found
            assert toks[i2] == ("sym", ";"), toks[i2]
            i = i2 + 1
        else:
            raise AssertionError(f"unexpected {value!r}")
        assert depth >= 0
    assert depth == 0, "unbalanced braces"
    for source, target, _ in edges:
        assert source in nodes and target in nodes, (source, target)
    return {"nodes": nodes, "edges": edges, "clusters": clusters}


def test_dot_of_the_demo() -> None:
    dot = parse_dot(render_dot(demo_view()))
    assert dot["clusters"] == ["cluster_pool_claude", "cluster_pool_codex", "cluster_pool_gemini"]
    edges = {(s, t): a for s, t, a in dot["edges"]}
    assert edges[("chain:main", "pool:codex")] == {"label": "#1 gpt-5"}
    assert edges[("pool:codex", "member:codex:openai-codex-3")] == {"label": "3"}
    assert edges[("preset:coding-premium", "member:claude:anthropic")] == {"label": "#0 claude-sonnet-4-5"}
    assert dot["nodes"]["member:codex:openai-codex"]["label"] == "openai-codex\\npreferred"
    assert not any(a.get("style") == "dashed" for _, _, a in dot["edges"])


def test_dot_greys_out_what_is_unreachable_and_quotes_everything() -> None:
    policy = json.loads(json.dumps(MESSY))
    policy["pools"][0]["name"] = 'cl"au\\de'
    for entry in policy["chains"][0]["entries"] + policy["chains"][1]["entries"]:
        if entry["pool"] == "claude":
            entry["pool"] = 'cl"au\\de'
    dot = parse_dot(render_dot(view_of(policy)))
    nodes, edges = dot["nodes"], {(s, t, a.get("label")): a for s, t, a in dot["edges"]}
    assert 'cluster_pool_cl\\"au\\\\de' in dot["clusters"]
    assert nodes["pool:old"]["style"] == "dashed"
    assert nodes["chain:off"]["style"] == "dashed" and nodes["preset:q"]["style"] == "dashed"
    assert nodes['member:cl\\"au\\\\de:anthropic-7']["style"] == "dashed"
    assert edges[("chain:main", "pool:old", "#3 x")]["style"] == "dashed"
    assert edges[("chain:main", "pool:codex", "#4 o3")]["style"] == "dashed"
    assert edges[("preset:p", "account:github-copilot-4", "#1 gpt-4.1")]["style"] == "dashed"
    assert "style" not in edges[("chain:main", "pool:codex", "#1 gpt-5")]
    assert edges[('chain:main', 'pool:cl\\"au\\\\de', "#0 sonnet")] == {"label": "#0 sonnet"}


def test_dot_ids() -> None:
    assert dot_id('a "b"\\c\nd') == '"a \\"b\\"\\\\c\\nd"'
    assert dot_id("a\x1b[2J\u202e\r") == '"a\\\\x1b[2J\\\\u202e\\\\r"'  # escapes, shown as text by Graphviz


def test_names_from_unchecked_sources_are_escaped_in_text_and_dot() -> None:
    """Names come from auth.json, MULTI_SUB and the state store too: no raw control character is printed."""
    view = view_of(MESSY)
    pool = view.pools[0]
    member = replace(pool.members[0], name="anthropic\r\u202e")
    hostile = replace(pool, name="claude\x1b[2J", members=(member, *pool.members[1:]))
    view = replace(view, pools=(hostile, *view.pools[1:]), accounts=(*view.accounts, "x\x07"))
    text, dot = render_text(view), render_dot(view)
    for raw in ("\x1b", "\r", "\u202e", "\x07"):
        assert raw not in text and raw not in dot
    assert "  claude\\x1b[2J  (anthropic) round-robin" in text
    assert "1. anthropic\\r\\u202e" in text
    assert '"pool:claude\\\\x1b[2J"' in dot


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("MP_POLICY_REQUIRE_GRAPHVIZ"),
                    reason="Graphviz's dot is not installed (.ci/run installs it and sets MP_POLICY_REQUIRE_GRAPHVIZ)")
def test_graphviz_renders_it(tmp_path: Path) -> None:
    source = tmp_path / "policy.dot"
    source.write_text(render_dot(view_of(MESSY)), encoding="utf-8")
    done = subprocess.run(["dot", "-Tsvg", str(source)], capture_output=True, text=True, check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "<svg" in done.stdout and "pool claude" in done.stdout


# -- JSON ----------------------------------------------------------------------------------------------------


def test_json() -> None:
    doc = json.loads(json.dumps(view_of(MESSY, logged_in={"anthropic"}).to_dict()))
    assert set(doc) == {"policyRevision", "timezone", "allowedSubs", "accounts", "pools", "chains", "presets",
                        "reach", "unreachable", "diagnostics"}
    assert {"name": "anthropic", "loggedIn": True} in doc["accounts"]
    assert {"name": "anthropic-2", "loggedIn": False} in doc["accounts"]
    claude = doc["pools"][0]
    assert claude["continuesIn"] == {"chain": "main", "entry": 0}
    assert claude["members"][2] == {"name": "anthropic-7", "status": "unknown", "role": None, "schedule": None,
                                    "detail": "not a known account (not a base provider nor a subscription)"}
    assert doc["chains"][0]["entries"][2] == {"entry": 2, "pool": "claude", "provider": None, "model": "sonnet",
                                              "status": "redundant", "adds": [],
                                              "detail": "every account of the pool was already on the chain with "
                                                        "this model"}
    assert {"kind": "pool", "name": "old", "code": "disabled", "why": "pool old is disabled"} in doc["unreachable"]
    assert all(d["severity"] == "warning" for d in doc["diagnostics"])

"""The graph view drawn for ``mp-policy explain``: as text for a terminal, or as Graphviz DOT."""

from __future__ import annotations

from policy_engine.common.terminal_text import printable
from policy_engine.evaluate.graph_view import GraphView, Reach

__all__ = ["dot_id", "render_dot", "render_text"]


# -- text --------------------------------------------------------------------------------------------


def _targets_text(reach: Reach, logged_in: frozenset[str] | None) -> str:
    groups: list[tuple[str | None, list[str]]] = []
    for provider, model in reach.targets:
        name = provider if logged_in is None or provider in logged_in else f"{provider} (no auth)"
        if groups and groups[-1][0] == model:
            groups[-1][1].append(name)
        else:
            groups.append((model, [name]))
    parts = [", ".join(names) + (f" · {model}" if model else " · (the request's model)") for model, names in groups]
    return " → ".join(parts) if parts else "nothing"


def render_text(view: GraphView) -> str:
    """The explanation as text: pools, chains, presets, reach, unreachable parts, compile warnings."""
    allowed = ", ".join(view.allowed) if view.allowed is not None else "none (every account may be used)"
    auth = (f"; {len(view.logged_in & set(view.accounts))} logged in" if view.logged_in is not None else "")
    lines = [f"policy {view.revision} · time zone {view.timezone} · allowedSubs: {allowed}",
             f"{len(view.accounts)} known accounts{auth}", "", "pools"]
    if not view.pools:
        lines.append("  (none)")
    for pool in view.pools:
        state = "" if pool.enabled else "  [disabled]"
        state += "  [emptied by allowedSubs]" if pool.dropped else ""
        lines.append(f"  {pool.name}  ({pool.base}) {pool.strategy} · cooldown {pool.cooldown}{state}")
        if pool.continues:
            lines.append(f"    then chain {pool.continues[0]} after entry #{pool.continues[1]}")
        if pool.used_by:
            lines.append(f"    used by {', '.join(pool.used_by)}")
        width = max((len(m.name) for m in pool.members), default=0)
        for i, member in enumerate(pool.members, 1):
            extra = []
            if member.role:
                extra.append(member.role + (f": {member.schedule}" if member.schedule else ""))
            if member.status != "ok":
                extra.append(f"[{member.status}] {member.detail}")
            lines.append(f"    {i}. {member.name:<{width}}  {'  '.join(extra)}".rstrip())
        for name in pool.removed:
            lines.append(f"    -  {name}  [removed by allowedSubs]")
    for title, items in (("chains", view.chains), ("presets", view.presets)):
        lines += ["", title]
        if not items:
            lines.append("  (none)")
        for seq in items:
            lines.append(f"  {seq.name}" + ("" if seq.enabled else "  [disabled]"))
            for entry in seq.entries:
                what = f"pool {entry.pool}" if entry.pool else str(entry.provider)
                status = "" if entry.status == "ok" else f"  [{entry.status}] {entry.detail}"
                adds = f"  → {', '.join(entry.adds)}" if entry.adds else ""
                lines.append(f"    #{entry.index} {what} · {entry.model}{adds}{status}")
    lines += ["", "reach (the accounts a new turn on each route can end on, in order)"]
    width = max((len(r.route) for r in view.reach), default=0)
    for reach in view.reach:
        blocked = f"  (never: {', '.join(f'{p} {r}' for p, r in reach.blocked)})" if reach.blocked else ""
        lines.append(f"  {reach.route:<{width}}  {_targets_text(reach, view.logged_in)}{blocked}")
    lines += ["", "unreachable"]
    if not view.unreachable:
        lines.append("  nothing: every pool, chain, preset, entry and member can be reached")
    for item in view.unreachable:
        lines.append(f"  ✗ {item.kind} {item.name}: {item.code} — {item.why}")
    lines = [printable(line) for line in lines]  # names may come from auth.json, MULTI_SUB or the state store
    if view.diagnostics:
        lines += ["", "warnings (from compiling the policy)"]
        lines += ["  " + d.format().replace("\n", "\n  ") for d in view.diagnostics]
    return "\n".join(lines)


# -- DOT ---------------------------------------------------------------------------------------------


def dot_id(text: str) -> str:
    """A DOT quoted string (ids and labels): backslashes, quotes and newlines escaped, and control
    characters written as escapes (:func:`~policy_engine.common.terminal_text.printable`)."""
    escaped = printable(text, keep="\n").replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def _attrs(**values: str) -> str:
    return "[" + ", ".join(f"{k}={dot_id(v)}" for k, v in values.items()) + "]"


_GREY = {"style": "dashed", "color": "#999999", "fontcolor": "#999999"}


def _box_style(shape: str, fill: str, enabled: bool) -> dict[str, str]:
    """A chain's or preset's node: filled with ``fill`` when enabled, grey and dashed when not."""
    return {"shape": shape, "style": "filled", "fillcolor": fill} if enabled else dict(_GREY, shape=shape)


def render_dot(view: GraphView) -> str:
    """The compiled graph as Graphviz DOT: a cluster per pool, chain → pool and preset → account edges.

    Unreachable parts (disabled, emptied or unknown) are dashed and grey. Every id is quoted.
    """
    lines = [f"digraph {dot_id('mp-policy ' + view.revision)} {{",
             "  " + "graph " + _attrs(rankdir="LR", fontname="Helvetica", fontsize="11", labelloc="t",
                                       label=f"mp-policy explain · policy {view.revision} · {view.timezone}") + ";",
             "  node " + _attrs(fontname="Helvetica", fontsize="10") + ";",
             "  edge " + _attrs(fontname="Helvetica", fontsize="9") + ";"]
    member_node: dict[str, str] = {}
    for pool in view.pools:
        dead = not pool.enabled or pool.dropped
        cluster = {"label": f"pool {pool.name}", "style": "rounded" + (",dashed" if dead else ""),
                   "color": "#999999" if dead else "#5b7db1"}
        lines.append(f"  subgraph {dot_id('cluster_pool_' + pool.name)} {{")
        lines.append("    graph " + _attrs(**cluster) + ";")
        anchor = f"pool:{pool.name}"
        label = f"{pool.name}\n{pool.strategy} · {pool.cooldown}"
        style = dict(_GREY, shape="box") if dead else {"shape": "box", "style": "rounded,filled",
                                                        "fillcolor": "#e8eef7"}
        lines.append(f"    {dot_id(anchor)} " + _attrs(label=label, **style) + ";")
        for i, member in enumerate(pool.members, 1):
            node = f"member:{pool.name}:{member.name}"
            if not dead:
                member_node.setdefault(member.name, node)  # a preset entry points at its account's first pool
            text = member.name + (f"\n{member.role}" if member.role else "")
            bad = dead or member.status == "unknown"
            mstyle = dict(_GREY, shape="ellipse") if bad else {"shape": "ellipse"}
            if member.status in ("no-auth", "cooldown") and not bad:
                mstyle = {"shape": "ellipse", "style": "filled", "fillcolor": "#fdebd0"}
                text += f"\n({member.status})"
            lines.append(f"    {dot_id(node)} " + _attrs(label=text, **mstyle) + ";")
            edge = dict(_GREY, label=str(i)) if bad else {"label": str(i)}
            lines.append(f"    {dot_id(anchor)} -> {dot_id(node)} " + _attrs(**edge) + ";")
        for name in pool.removed:
            node = f"member:{pool.name}:{name}"
            lines.append(f"    {dot_id(node)} " + _attrs(label=f"{name}\n(not allowed)", shape="ellipse", **_GREY)
                         + ";")
            lines.append(f"    {dot_id(anchor)} -> {dot_id(node)} " + _attrs(**_GREY) + ";")
        lines.append("  }")
    loose: set[str] = set()
    for chain in view.chains:
        node = f"chain:{chain.name}"
        lines.append(f"  {dot_id(node)} " + _attrs(label=f"chain {chain.name}",
                                                   **_box_style("cds", "#d5f5e3", chain.enabled)) + ";")
        for entry in chain.entries:
            label = f"#{entry.index} {entry.model or ''}".strip()
            edge = dict(_GREY, label=label) if entry.status != "ok" or not chain.enabled else {"label": label}
            lines.append(f"  {dot_id(node)} -> {dot_id('pool:' + str(entry.pool))} " + _attrs(**edge) + ";")
    for preset in view.presets:
        node = f"preset:{preset.name}"
        lines.append(f"  {dot_id(node)} " + _attrs(label=f"preset {preset.name}",
                                                   **_box_style("note", "#fcf3cf", preset.enabled)) + ";")
        for entry in preset.entries:
            provider = entry.provider or ""
            target = member_node.get(provider)
            if target is None:
                target = f"account:{provider}"
                if target not in loose:
                    loose.add(target)
                    known = entry.status not in ("unknown", "not-allowed")
                    astyle = {"shape": "ellipse"} if known else dict(_GREY, shape="ellipse")
                    lines.append(f"  {dot_id(target)} " + _attrs(label=provider, **astyle) + ";")
            label = f"#{entry.index} {entry.model or ''}".strip()
            edge = dict(_GREY, label=label) if entry.status != "ok" or not preset.enabled else {"label": label}
            lines.append(f"  {dot_id(node)} -> {dot_id(target)} " + _attrs(**edge) + ";")
    lines.append("}")
    return "\n".join(lines) + "\n"

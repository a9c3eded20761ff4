"""The custom strategy with the real sandboxes (Python worker, node worker), through the engine.

Every script of the hostile corpus (tests/sandbox/hostile) is also run as a pool's selector: the
decision must record a fallback to rotation order in its ``strategy`` entry, arrive within
``selectorTimeout`` plus a margin, leave no file behind, and the next decision with a benign
selector must work.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from policy_engine.engine import Engine
from policy_engine.sandbox.node_runner import NodeRunner

HOSTILE = Path(__file__).resolve().parents[1] / "sandbox" / "hostile"
CORPUS = sorted(HOSTILE.glob("python/*.py")) + sorted(HOSTILE.glob("js/*.js"))
TIMEOUT_MS = 300
MARGIN = 1.0  # seconds: a kill, a reap and a busy 2-core machine
NOW_ISO = "2026-04-06T10:00:00+00:00"
NODE = NodeRunner().unavailable() is None

BENIGN_PY = "def select(ctx):\n    return ctx['members'][-1]\n"
BENIGN_JS = "module.exports = async function select(ctx) { return ctx.members[ctx.members.length - 1]; };\n"


def _engine(folder: Path, script: str, members: list[str] | None = None) -> Engine:
    from datetime import datetime

    members = members or ["anthropic", "anthropic-2", "anthropic-3"]
    policy = {
        "settings": {"selectorTimeout": f"{TIMEOUT_MS}ms"},
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
        "pools": [
            {"name": "p", "baseProvider": "anthropic", "members": members, "strategy": "custom",
             "selectorScript": script},
            {"name": "benign-py", "baseProvider": "anthropic", "members": members, "strategy": "custom",
             "selectorScript": "benign.py"},
            {"name": "benign-js", "baseProvider": "anthropic", "members": members, "strategy": "custom",
             "selectorScript": "benign.js"},
        ],
    }
    (folder / "benign.py").write_text(BENIGN_PY)
    (folder / "benign.js").write_text(BENIGN_JS)
    now = datetime.fromisoformat(NOW_ISO)
    return Engine.from_documents(policy, auth={"anthropic", "anthropic-2", "anthropic-3"}, clock=lambda: now,
                                 base_dir=str(folder), state="memory://")


def test_a_pi_multi_pass_js_selector_and_a_python_selector_choose(tmp_path: Path) -> None:
    (tmp_path / "last.js").write_text(BENIGN_JS)
    (tmp_path / "hour.py").write_text(
        "def select(ctx):\n"
        "    ranked = sorted(ctx['members'], key=lambda m: -ctx['quota'].get(m, 0))\n"
        "    return ['anthropic-2'] if ctx['hour'] < 12 else ranked\n"
    )
    for script, expected in (("hour.py", "anthropic-2"), *((("last.js", "anthropic-3"),) if NODE else ())):
        engine = _engine(tmp_path, script)
        d = engine.select(pool="p", model="claude-sonnet-4-5")
        assert d.target is not None and d.target.provider == expected, d.to_dict()["strategy"]
        assert d.to_dict()["strategy"] == [{"pool": "p", "name": "custom", "fallback": False,
                                            "note": f"selector chose {expected}"}]
        # After a rate limit the selector runs again without the failed member.
        d = engine.fail(d.turn, status=429, message="rate_limit_error")
        assert d.target is not None and d.target.provider != expected


def test_selector_compile_errors_reach_the_decision_with_their_line(tmp_path: Path) -> None:
    (tmp_path / "bad.py").write_text("def select(ctx):\n    import os\n    return None\n")
    engine = _engine(tmp_path, "bad.py")
    [diag] = [d for d in engine.graph.diagnostics if d.code == "selector-compile"]
    assert diag.line == 2 and diag.file == str(tmp_path / "bad.py")
    d = engine.select(pool="p")
    [note] = d.to_dict()["strategy"]
    assert note["fallback"] is True and "line 2" in note["note"]
    if NODE:
        (tmp_path / "bad.js").write_text("module.exports = function (ctx) {\n  return ctx.members[0]\n  +++;\n};\n")
        d = _engine(tmp_path, "bad.js").select(pool="p")
        [note] = d.to_dict()["strategy"]
        assert note["fallback"] is True and "line 3" in note["note"], note


def test_node_missing_means_a_fallback_and_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import policy_engine.sandbox.node_runner as node_runner

    monkeypatch.setenv("MP_POLICY_NODE", str(tmp_path / "no-node-here"))
    monkeypatch.setattr(node_runner, "_shared", None, raising=False)
    monkeypatch.setattr(node_runner, "get_node_runner", lambda: NodeRunner())
    (tmp_path / "last.js").write_text(BENIGN_JS)
    engine = _engine(tmp_path, "last.js")
    assert any(d.code == "selector-runtime" and "node" in d.message for d in engine.graph.diagnostics)
    started = time.monotonic()
    d = engine.select(pool="p")
    assert time.monotonic() - started < 1.0
    [note] = d.to_dict()["strategy"]
    assert note["fallback"] is True and "node" in note["note"]


def _calls(source: str) -> int:
    found = re.search(r"^(?://|#) @calls (\d+)$", source, re.MULTILINE)
    return int(found.group(1)) if found else 1


@pytest.mark.parametrize("script", CORPUS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_hostile_script_falls_back_in_time_and_leaves_nothing_behind(tmp_path: Path, script: Path) -> None:
    if script.suffix == ".js" and not NODE:
        pytest.skip("node (20+) is not installed")
    (tmp_path / script.name).write_text(script.read_text())
    marker = tmp_path / "marker"
    engine = _engine(tmp_path, script.name)
    for _ in range(_calls(script.read_text())):
        started = time.monotonic()
        d = engine.select(pool="p", prompt=str(marker), dry_run=True)
        elapsed = time.monotonic() - started
        [note] = d.to_dict()["strategy"]
        assert note["fallback"] is True, note
        assert d.target is not None and d.target.provider == "anthropic", note  # rotation order
        assert elapsed <= TIMEOUT_MS / 1000 + MARGIN, f"{elapsed:.2f} s: {note}"
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["benign.py", "benign.js", script.name])
    # The next selector call works, in both languages.
    for pool in ("benign-py", *(("benign-js",) if NODE else ())):
        d = engine.select(pool=pool, dry_run=True)
        assert d.target is not None and d.target.provider == "anthropic-3", d.to_dict()["strategy"]

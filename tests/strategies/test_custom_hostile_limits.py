"""Hostile selector scripts cannot hurt the engine (issue 14, class 3), through real engines and workers.

One test per way a script from a cloned repository used to hang, starve, crash or mislead the
engine: compiling it, hoarding memory across pools and engines, alternating answers and timeouts
to keep the circuit breaker closed, sharing module state with another pool, flooding or leaking
through the decision's note, and answers nested deeper than the parent can parse. The limits on
``selectorTimeout`` itself (a bound, and no raising by a project overlay) are at the end. Workers
dying with the engine are tested in tests/sandbox/test_process.py.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import policy_engine
from policy_engine.common.diagnostics import PolicyError
from policy_engine.engine import Engine
from policy_engine.sandbox.node_runner import NodeRunner
from policy_engine.sandbox.python_runner import get_python_runner
from policy_engine.sandbox.redact import MAX_NOTE_CHARS
from policy_engine.sandbox.selector import Selector

NODE = NodeRunner().unavailable() is None
needs_node = pytest.mark.skipif(not NODE, reason="node (20+) is not installed")
MEMBERS = ["anthropic", "anthropic-2", "anthropic-3"]
NOW = datetime.fromisoformat("2026-04-06T10:00:00+00:00")
MARGIN = 2.0  # seconds over selectorTimeout: a kill, a reap, a worker start on a busy 2-core machine
PACKAGE_ROOT = str(Path(policy_engine.__file__).resolve().parents[1])


def _policy(pools: dict[str, str], timeout: str = "300ms") -> dict[str, Any]:
    return {
        "settings": {"selectorTimeout": timeout},
        "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
        "pools": [{"name": name, "baseProvider": "anthropic", "members": MEMBERS, "strategy": "custom",
                   "selectorScript": script} for name, script in pools.items()],
    }


def _engine(folder: Path, scripts: dict[str, str], pools: dict[str, str] | None = None,
            timeout: str = "300ms") -> Engine:
    """An engine whose pools (name -> script file) run the given scripts (file -> text)."""
    for name, text in scripts.items():
        (folder / name).write_text(text)
    pools = pools or {Path(name).stem: name for name in scripts}
    return Engine.from_documents(_policy(pools, timeout), auth=set(MEMBERS), clock=lambda: NOW,
                                 base_dir=str(folder), state="memory://")


def _note(engine: Engine, pool: str, prompt: str | None = None) -> dict[str, Any]:
    decision = engine.select(pool=pool, prompt=prompt, dry_run=True)
    [note] = decision.to_dict()["strategy"]
    return note


# --- compiling ---------------------------------------------------------------------------------

# About 1.5 s of RestrictedPython compile time (60 KiB of subscript chains, measured); the engine
# used to spend it itself, when it loaded the policy, before any limit applied.
COSTLY = "def select(ctx):\n    return None\n" + "x[a][b][c][d][e][f][g]\n" * 2600


def test_compiling_a_costly_script_is_bounded_and_never_spent_by_the_engine(tmp_path: Path) -> None:
    cpu, started = time.process_time(), time.monotonic()
    engine = _engine(tmp_path, {"costly.py": COSTLY, "huge.py": COSTLY * 4})
    note = _note(engine, "costly")
    elapsed = time.monotonic() - started
    assert time.process_time() - cpu < 0.7, "the engine's own process compiled the script"
    assert elapsed < 2.0 + 0.3 + MARGIN  # the load-time check (2 s at most) and the call (300 ms)
    # The load-time check may have compiled it within its 2 s (then the module body fails: no x),
    # or not (then the call's own 300 ms run out while compiling): a fallback either way.
    assert note["fallback"] is True and re.search("compile|NameError|did not answer", note["note"]), note
    started = time.monotonic()
    note = _note(engine, "costly")
    assert time.monotonic() - started < 0.3 + MARGIN and note["fallback"] is True, note
    huge = _note(engine, "huge")  # over 64 KiB: refused unread
    assert huge["fallback"] is True and "too large" in huge["note"], huge


# --- memory -----------------------------------------------------------------------------------

PY_HOARDER = ("HOARD = []\ndef select(ctx):\n    if not HOARD:\n        HOARD.append('x' * (150 << 20))\n"
              "    return ctx['members'][-1]\n")
PY_HUNGRY = "def select(ctx):\n    return ctx['members'][len('y' * (150 << 20)) // (150 << 20)]\n"
JS_HOARDER = ("const hoard = []; module.exports = (ctx) => { if (!hoard.length) for (let i = 0; i < 40; i++) "
              "hoard.push(new Array(125000).fill(i + 0.5)); return ctx.members[2]; };\n")
JS_HUNGRY = ("module.exports = (ctx) => { const a = []; for (let i = 0; i < 30; i++) "
             "a.push(new Array(125000).fill(i + 0.5)); return ctx.members[a.length / 30]; };\n")


@pytest.mark.parametrize("language", ["py", pytest.param("js", marks=needs_node)])
def test_a_hoarding_selector_cannot_disable_another_engines_selector(tmp_path: Path, language: str) -> None:
    """Two engines in one process share the workers: the hoarder's pool must not starve the other's."""
    hoarder, hungry = (PY_HOARDER, PY_HUNGRY) if language == "py" else (JS_HOARDER, JS_HUNGRY)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    cloned = _engine(tmp_path / "a", {f"hoard.{language}": hoarder}, timeout="5s")
    mine = _engine(tmp_path / "b", {f"mine.{language}": hungry}, timeout="5s")
    for _ in range(3):
        assert _note(cloned, "hoard")["fallback"] is False
        note = _note(mine, "mine")
        assert note == {"pool": "mine", "name": "custom", "fallback": False, "note": "selector chose anthropic-2"}


# --- the circuit breaker ----------------------------------------------------------------------

ALTERNATING = ("def select(ctx):\n    if ctx['prompt'] == 'slow':\n        while True:\n            pass\n"
               "    return ctx['members'][-1]\n")


def test_alternating_an_answer_and_a_timeout_does_not_keep_the_breaker_closed(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tmp_path, {"flip.py": ALTERNATING})
    for _ in range(3):
        assert _note(engine, "flip", "fast")["fallback"] is False
        note = _note(engine, "flip", "slow")
        assert note["fallback"] is True and "did not answer" in note["note"], note
    assert _note(engine, "flip", "fast")["fallback"] is True  # paused: even a fast call is not made
    runner = get_python_runner()
    calls: list[str] = []
    call = runner.call
    monkeypatch.setattr(runner, "call", lambda *args, **kwargs: calls.append(args[1]) or call(*args, **kwargs))
    note = _note(engine, "flip", "slow")
    assert calls == [], "a paused selector was still run (and cost its timeout)"
    assert "paused after 3 failures" in note["note"], note


# --- module state -------------------------------------------------------------------------------

PY_NOSY = ("SEEN = []\ndef select(ctx):\n    SEEN.append(ctx['pool']['name'])\n"
           "    return ctx['members'][1] if len(set(SEEN)) > 1 else ctx['members'][0]\n")
JS_NOSY = ("const seen = new Set(); module.exports = (ctx) => { seen.add(ctx.pool.name); "
           "return ctx.members[seen.size > 1 ? 1 : 0]; };\n")


@pytest.mark.parametrize("language", ["py", pytest.param("js", marks=needs_node)])
def test_pools_with_the_same_script_text_do_not_share_module_state(tmp_path: Path, language: str) -> None:
    nosy = PY_NOSY if language == "py" else JS_NOSY
    engine = _engine(tmp_path, {f"one.{language}": nosy, f"two.{language}": nosy},
                     pools={"one": f"one.{language}", "two": f"two.{language}", "same": f"one.{language}"})
    for pool in ("one", "two", "same", "one", "two", "same"):
        assert _note(engine, pool)["note"] == "selector chose anthropic", pool


# --- what reaches the decision --------------------------------------------------------------------


def test_notes_are_cut_short(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {
        "names.py": "def select(ctx):\n    return ['z' * 100000, 'y' * 100000]\n",
        "raises.py": "def select(ctx):\n    raise ValueError('w' * 100000)\n",
        "multiline.py": "def select(ctx):\n    raise ValueError('one\\n' * 50)\n",
    })
    for pool in ("names", "raises", "multiline"):
        note = _note(engine, pool)
        assert note["fallback"] is True, note
        assert len(note["note"]) <= MAX_NOTE_CHARS and "\n" not in note["note"], note
        assert note["note"].endswith("; rotation order"), note


ADDRESSES = re.compile(r"0x[0-9a-fA-F]{4,}")


@pytest.mark.parametrize(("script", "text"), [
    ("leak.py", "def select(ctx):\n    raise ValueError(str(ctx.get))\n"),
    ("leak.py", "def select(ctx):\n    return [str(sorted), str(min)]\n"),
    pytest.param("leak.js", "module.exports = () => { throw new Error(new Error('where am I').stack); };\n",
                 marks=needs_node),
    pytest.param("leak.js", "module.exports = () => { const e = {}; Error.captureStackTrace(e); return e.stack; };\n",
                 marks=needs_node),
])
def test_notes_carry_no_addresses_or_install_paths(tmp_path: Path, script: str, text: str) -> None:
    engine = _engine(tmp_path, {script: text})
    note = _note(engine, "leak")
    assert note["fallback"] is True, note
    assert not ADDRESSES.search(note["note"]), note
    assert PACKAGE_ROOT not in note["note"] and sys.prefix not in note["note"], note


def test_a_selector_repr_shows_no_addresses(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {"plain.py": "def select(ctx):\n    return None\n"})
    assert _note(engine, "plain")["fallback"] is False
    selector = engine.graph.pools["plain"].prepared
    assert isinstance(selector, Selector)
    assert repr(selector) == "Selector(pool='plain', script='plain.py', language='python')"
    assert not ADDRESSES.search(repr(engine.graph.pools["plain"]))


@needs_node
def test_an_answer_nested_too_deeply_falls_back_instead_of_crashing_the_engine(tmp_path: Path) -> None:
    engine = _engine(tmp_path, {
        "deep.js": "module.exports = () => { let a = []; for (let i = 0; i < 1500; i++) a = [a]; return a; };\n",
    })
    note = _note(engine, "deep")
    assert note["fallback"] is True and "nested too deeply" in note["note"], note


# --- selectorTimeout: a bound, and no raising by a project ----------------------------------------


@pytest.fixture()
def files(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A global policy file and a project folder (its overlay is written by each test)."""
    (tmp_path / "pick.py").write_text("def select(ctx):\n    return None\n")
    (tmp_path / "project" / ".pi").mkdir(parents=True)
    yield tmp_path / "multi-pass.yaml", tmp_path / "project"


def _write_global(path: Path, timeout: str | None) -> None:
    setting = f"  selectorTimeout: {timeout}\n" if timeout else "  cooldown: 5m\n"
    path.write_text(
        "settings:\n" + setting
        + "subscriptions:\n  - {provider: anthropic, index: 2}\n"
        + "pools:\n  - {name: p, baseProvider: anthropic, members: [anthropic, anthropic-2], strategy: custom,\n"
        + "     selectorScript: pick.py}\n"
    )


def test_a_selector_timeout_over_five_seconds_is_an_error_at_its_line(files: tuple[Path, Path]) -> None:
    policy, project = files
    _write_global(policy, "10s")
    with pytest.raises(PolicyError) as caught:
        Engine.load(policy=policy, project=project, state="memory://", auth={"anthropic"})
    [found] = [d for d in caught.value.diagnostics if d.code == "selector-timeout"]
    assert (found.severity, found.file, found.line, tuple(found.path)) == (
        "error", str(policy), 2, ("settings", "selectorTimeout"))
    assert "5s" in found.message
    from policy_engine.cli import cli

    result = CliRunner().invoke(cli, ["validate", str(policy)], prog_name="mp-policy")
    assert result.exit_code == 1, result.output
    assert f"{policy}:2:" in result.output and "selector-timeout" in result.output


@pytest.mark.parametrize(("global_timeout", "project_timeout", "used", "warned"), [
    ("1s", "3s", 1.0, True),       # raised above the global value: clamped
    (None, "2s", 0.25, True),      # no global value: the default (250 ms) is the ceiling
    ("1s", "400ms", 0.4, False),   # lowered: fine
    ("5s", "5s", 5.0, False),
])
def test_a_project_may_lower_the_selector_timeout_but_not_raise_it(
    files: tuple[Path, Path], global_timeout: str | None, project_timeout: str, used: float, warned: bool,
) -> None:
    policy, project = files
    _write_global(policy, global_timeout)
    overlay = project / ".pi" / "multi-pass.yaml"
    overlay.write_text(f"allowedSubs: []\nsettings:\n  cooldown: 2m\n  selectorTimeout: {project_timeout}\n")
    engine = Engine.load(policy=policy, project=project, state="memory://", auth={"anthropic", "anthropic-2"})
    assert engine.graph.pools["p"].selector_timeout.total_seconds() == used
    raised = [d for d in engine.graph.diagnostics if d.code == "selector-timeout-raised"]
    if not warned:
        assert raised == []
        return
    [found] = raised
    assert (found.severity, found.file, found.line) == ("warning", str(overlay), 4)
    assert project_timeout in found.message and "lower" in (found.hint or "")


def test_a_project_over_the_bound_is_an_error_at_the_projects_line(files: tuple[Path, Path]) -> None:
    policy, project = files
    _write_global(policy, None)
    overlay = project / ".pi" / "multi-pass.yaml"
    overlay.write_text("settings:\n  selectorTimeout: 1h\n")
    with pytest.raises(PolicyError) as caught:
        Engine.load(policy=policy, project=project, state="memory://", auth={"anthropic"})
    [found] = [d for d in caught.value.diagnostics if d.code == "selector-timeout"]
    assert (found.file, found.line) == (str(overlay), 2)

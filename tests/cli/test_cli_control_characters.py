"""No raw control character reaches the terminal (issue 14, class 9), end to end through ``mp-policy``.

Names with terminal escape sequences (``"\\x1b[2J"`` clears the screen, ``"\\x1b]0;...\\x07"``
retitles the window), a bell, a carriage return or a right-to-left override come from two kinds of
places. A policy file (pool, chain, preset and member names, subscription labels, an overlay's
allowedSubs, a policy test's case names) is refused by validation, with the character named and
located. What no schema checks (``auth.json`` keys, ``MULTI_SUB``, the state store's keys, reasons
and quota summaries, a ``--model`` or ``--route`` given on the command line) is printed escaped
(``\\x1b``, ``\\u202e``), in every format. Every run here is checked for the raw characters on
stdout and stderr.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from cli_support import AT, AT_DT, STATE_FILE, Cli, Run, write_auth

ESC_CLEAR = "\x1b[2J"
TITLE = "\x1b]0;pwned\x07"
RLO = "\u202e"
#: The characters that must never reach stdout or stderr raw.
RAW = ("\x1b", "\x07", "\r", RLO, "\x9b")


def assert_clean(run: Run) -> None:
    """Neither stream holds a raw control character, and nothing crashed."""
    for char in RAW:
        assert char not in run.stdout, f"raw {char!r} on stdout\n{run.describe()!r}"
        assert char not in run.stderr, f"raw {char!r} on stderr\n{run.describe()!r}"
    assert run.returncode != 3, run.describe()


def _hostile_state(db: Path) -> None:
    """A state store written by someone else: escape sequences in keys, reasons and summaries."""
    from policy_engine.state import Cooldown, QuotaSnapshot, StateChanges, open_store

    store = open_store(f"sqlite:///{db}", agent_dir=db.parent)
    try:
        until = AT_DT + timedelta(hours=1)
        store.apply(StateChanges(
            cooldowns=[Cooldown("anthropic", until, f"{ESC_CLEAR}rate limited\x07", AT_DT),
                       Cooldown(f"ghost{ESC_CLEAR}\r", until, f"{TITLE}", AT_DT)],
            cursors={"claude": "anthropic-2", f"pool{RLO}": f"x{TITLE}"},
            quota=[QuotaSnapshot("anthropic-2", 50.0, AT_DT, source="anthropic", status="ready",
                                 summary=f"{TITLE}50% left\r")],
        ))
    finally:
        store.close()


@pytest.fixture
def hostile_agent(agent: Path) -> Path:
    """The demo agent directory with hostile auth.json keys and a hostile state store."""
    auth = json.loads(write_auth(agent).read_text(encoding="utf-8"))
    auth[f"anthropic-{ESC_CLEAR}"] = {"type": "api_key", "key": "x"}
    auth[f"evil{RLO}lmth.exe"] = {"type": "api_key", "key": "x"}
    (agent / "auth.json").write_text(json.dumps(auth), encoding="utf-8")
    _hostile_state(agent / STATE_FILE)
    return agent


HOSTILE_ENV = {"MULTI_SUB": f"anthropic:1,{ESC_CLEAR}x:2,openai-codex{TITLE}:1"}


#: Every command that prints names, with hostile values where the command line can carry them.
COMMANDS: tuple[tuple[str, ...], ...] = (
    ("explain",),
    ("explain", "--format", "dot"),
    ("explain", "--format", "json"),
    ("validate",),
    ("eval", "--chain", "main", "--explain", "--at", AT),
    ("eval", "--provider", "anthropic", "--model", f"m{TITLE}{RLO}\r", "--explain", "--at", AT),
    ("eval", "--provider", "anthropic", "--model", f"m{RLO}", "--format", "json", "--at", AT),
    ("state", "show"),
    ("state", "show", "--format", "json"),
    ("subs", "list"),
    ("subs", "status"),
    ("pool", "status"),
    ("pool", "list"),
    ("chain", "status"),
    ("simulate", "--start", AT, "--period", "1d", "--route", f"pool:claude@m{TITLE}\r"),
    ("simulate", "--start", AT, "--period", "1d", "--route", f"pool:claude@m{RLO}\r", "--format", "csv"),
    ("simulate", "--start", AT, "--period", "1d", "--route", f"pool:claude@m{RLO}", "--format", "json"),
)


def test_no_command_prints_a_raw_control_character(cli: Cli, hostile_agent: Path) -> None:
    runs = cli.many([((*args, "--agent-dir", hostile_agent), {"env": HOSTILE_ENV}) for args in COMMANDS])
    leaks = []
    for run in runs:
        assert run.returncode in (0, 1), run.describe()
        found = sorted({char for char in RAW if char in run.stdout or char in run.stderr})
        if found:
            leaks.append(f"mp-policy {' '.join(run.args[:6])!a}: {found!a}")
    assert not leaks, "raw control characters reached the terminal:\n" + "\n".join(leaks)


def test_what_eval_shows_is_the_escaped_name(cli: Cli, hostile_agent: Path) -> None:
    run = cli("eval", "--provider", "anthropic", "--model", f"m{ESC_CLEAR}{RLO}", "--explain", "--at", AT,
              "--agent-dir", hostile_agent)
    assert_clean(run)
    assert "m\\x1b[2J\\u202e" in run.stdout, run.describe()
    assert "\\x1b[2Jrate limited\\x07" in run.stdout, run.describe()  # the cooldown's reason, from the store
    run = cli("eval", "--provider", "anthropic", "--model", f"m{RLO}", "--format", "json", "--at", AT,
              "--agent-dir", hostile_agent)
    assert json.loads(run.stdout)["candidates"][0]["model"] == f"m{RLO}"  # JSON escapes, the value is intact


def test_state_show_escapes_keys_and_values(cli: Cli, hostile_agent: Path) -> None:
    run = cli("state", "show", "--agent-dir", hostile_agent)
    assert_clean(run)
    assert "ghost\\x1b[2J\\r" in run.stdout and "pool\\u202e" in run.stdout, run.describe()
    shown = cli("state", "show", "--format", "json", "--agent-dir", hostile_agent)
    assert f"pool{RLO}" in json.loads(shown.stdout)["cursors"]


def _policy(directory: Path, text: str, name: str = "multi-pass.yaml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


HOSTILE_POLICY = """\
subscriptions:
  - {provider: anthropic, index: 2, label: "work\\e]0;pwned\\a"}
pools:
  - {name: "claude\\e[2J", baseProvider: anthropic, members: [anthropic, "anthropic-2\\r"]}
chains:
  - {name: "main\\u202e", entries: [{pool: "claude\\e[2J", model: "m\\x9b1m"}]}
presets:
  - {name: "p\\a", entries: [{provider: anthropic, model: m}]}
"""


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_control_characters_in_a_policy_are_located_errors(cli: Cli, tmp_path: Path, fmt: str) -> None:
    path = _policy(tmp_path, HOSTILE_POLICY)
    run = cli("validate", path, "--format", fmt)
    assert_clean(run)
    assert run.returncode == 1, run.describe()
    if fmt == "json":
        found = {(d["path"], d["code"]) for d in json.loads(run.stdout)["diagnostics"]}
        assert found >= {("$.subscriptions[0].label", "control-character"), ("$.pools[0].name", "control-character"),
                         ("$.pools[0].members[1]", "control-character"), ("$.chains[0].name", "control-character"),
                         ("$.chains[0].entries[0].pool", "control-character"),
                         ("$.chains[0].entries[0].model", "control-character"),
                         ("$.presets[0].name", "control-character")}, run.stdout
        return
    out = run.stdout
    assert (f"{path}:4:12: control-character: 'name' contains U+001B (ESC) at character 7 of 'claude\\x1b[2J' "
            "(at $.pools[0].name)") in out, out
    assert "'name' contains U+202E (RIGHT-TO-LEFT OVERRIDE) at character 5" in out, out
    assert "item 1 of 'members' contains U+000D (CR)" in out, out
    assert "'model' contains U+009B (CSI)" in out, out
    assert "'label' contains U+001B (ESC) at character 5" in out, out
    assert "hint: names are printed on terminals" in out, out


def test_control_characters_in_an_overlay_and_in_a_json_policy(cli: Cli, tmp_path: Path) -> None:
    overlay = tmp_path / "project" / ".pi"
    overlay.mkdir(parents=True)
    _policy(overlay, 'allowedSubs: ["anthropic\\u202e"]\n')
    run = cli("validate", overlay / "multi-pass.yaml")
    assert_clean(run)
    assert run.returncode == 1 and "control-character: item 0 of 'allowedSubs' contains U+202E" in run.stdout, \
        run.describe()
    pi_json = _policy(tmp_path, json.dumps({"pools": [{"name": "a\u001b[2J", "baseProvider": "anthropic",
                                                        "members": ["anthropic"]}]}), "multi-pass.json")
    run = cli("validate", pi_json)
    assert_clean(run)
    assert run.returncode == 1 and "control-character: 'name' contains U+001B (ESC)" in run.stdout, run.describe()


def test_a_policy_test_with_control_characters_in_a_case_name_is_refused(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "bell.test.yaml").write_text(
        'policy: {pools: [{name: p, baseProvider: anthropic, members: [anthropic]}]}\n'
        'given: {at: "2026-04-06T10:30:00+02:00", auth: [anthropic]}\n'
        'cases:\n  - name: "rings\\a the bell\\r"\n'
        '    steps: [{select: {pool: p}, expect: {target: {provider: anthropic}}}]\n',
        encoding="utf-8")
    run = cli("test", tmp_path)
    assert_clean(run)
    assert run.returncode == 1, run.describe()
    assert "control-character: 'name' contains U+0007 (BEL) at character 6 of 'rings\\x07 the bell\\r'" \
        in run.output, run.describe()


def test_a_failing_policy_test_quotes_the_decision_escaped(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "model.test.yaml").write_text(
        'policy: {pools: [{name: p, baseProvider: anthropic, members: [anthropic]}]}\n'
        'given: {at: "2026-04-06T10:30:00+02:00", auth: [anthropic]}\n'
        'cases:\n  - name: a model with an escape\n'
        '    steps: [{select: {pool: p, model: "m\\e]0;x\\a\\u202e"}, expect: {target: {model: other}}}]\n',
        encoding="utf-8")
    run = cli("test", tmp_path)
    assert_clean(run)
    assert run.returncode == 1 and "FAIL a model with an escape" in run.stdout, run.describe()
    assert 'expected "other", got "m\\u001b]0;x\\u0007\\u202e"' in run.stdout, run.describe()


def test_import_reports_names_from_a_pi_file_escaped(cli: Cli, tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    agent.mkdir()
    pi = {"pools": [{"name": f"claude{ESC_CLEAR}", "baseProvider": "anthropic", "members": ["anthropic"],
                     "enabled": True}]}
    (agent / "multi-pass.json").write_text(json.dumps(pi), encoding="utf-8")
    run = cli("import", "--agent-dir", agent, "--dry-run")
    assert_clean(run)
    assert run.returncode == 1, run.describe()  # an invalid result, not an internal error
    assert "control-character: 'name' contains U+001B (ESC) at character 7 of 'claude\\x1b[2J'" in run.stderr, \
        run.describe()

"""A ``multi-pass.json`` that pi accepts works unchanged (DESIGN §3, issue 15 item 2): keys pi ignores are
ignored, day names match whatever their case, ``hours: [h, h]`` never opens; each is a warning naming
``mp-policy import``. The same file as YAML is strict. After ``mp-policy import`` the import report, the
YAML's header, the warning of every command and docs/pi-multi-pass.md say what each tool reads in the
same words."""

from __future__ import annotations

import json
import re
from pathlib import Path

from cli_support import REPO, Cli

from policy_engine.policy.locations import PI_JSON_ADVICE

MONDAY = "2026-04-06T10:00:00+02:00"
SUNDAY = "2026-04-05T10:00:00+02:00"
TOKEN = {"type": "oauth", "access": "a-token", "refresh": "r", "expires": 4102444800000}

PI_FILE = {
    "settings": {"timezone": "Europe/Vienna"},
    "subscriptions": [{"provider": "anthropic", "index": 2}, {"provider": "anthropic", "index": 3}],
    "pools": [{
        "name": "claude", "baseProvider": "anthropic", "enabled": True, "strategy": "scheduled",
        "members": ["anthropic", "anthropic-2", "anthropic-3"],
        "memberSchedule": {
            "anthropic": {"role": "preferred", "windows": [{"hours": [9, 9]}]},
            "anthropic-2": {"role": "preferred", "windows": [{"hours": [9, 17], "days": ["Mon", "TUE"],
                                                              "note": "office"}]},
            "anthropic-3": {"role": "overflow"},
        },
        "color": "blue",
    }],
    "chains": [],
    "theme": "dark",
}


def _agent(tmp_path: Path, name: str = "multi-pass.json") -> Path:
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / name).write_text(json.dumps(PI_FILE, indent=2), encoding="utf-8")
    (agent / "auth.json").write_text(json.dumps({n: TOKEN for n in ("anthropic", "anthropic-2", "anthropic-3")}),
                                     encoding="utf-8")
    return agent


def _flat(text: str) -> str:
    return re.sub(r"\s+", " ", text)


def test_what_pi_accepts_is_a_warning_naming_mp_policy_import(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    run = cli("validate", "--agent-dir", agent)
    assert run.returncode == 0, run.describe()
    out = run.stdout
    assert "multi-pass.json:31:24: warning: pi-empty-hours: hours [9, 9] is a window that never opens" in out
    assert "multi-pass.json:47:17: warning: pi-day-case: day 'Mon' is read as 'mon'" in out
    assert "multi-pass.json:48:17: warning: pi-day-case: day 'TUE' is read as 'tue'" in out
    assert ("multi-pass.json:50:15: warning: pi-ignored-key: key 'note' in window is ignored "
            "(pi-multi-pass ignores it too)") in out
    assert "warning: pi-ignored-key: key 'color' in pool 'claude' is ignored" in out
    assert "warning: pi-ignored-key: key 'theme' at the top level of the policy is ignored" in out
    assert out.count("`mp-policy import` converts it to YAML, where this is an error") == 6
    assert "valid — 0 error(s), 6 warning(s)" in out


def test_the_json_routes_as_pi_reads_it(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    monday = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", MONDAY, "--format", "json").json()
    assert monday["target"]["provider"] == "anthropic-2"  # "Mon" is Monday
    never = [s for s in monday["skipped"] if s["provider"] == "anthropic"]
    assert never == [{**never[0], "reason": "outside-window"}] and never[0].get("until") is None
    sunday = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", SUNDAY, "--format", "json").json()
    assert sunday["target"]["provider"] == "anthropic-3"
    closed = [s for s in sunday["skipped"] if s["provider"] == "anthropic-2"]
    assert closed[0]["reason"] == "outside-window" and closed[0]["until"] == "2026-04-06T09:00:00+02:00"


def test_the_same_content_in_yaml_is_strict(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path, "multi-pass.yaml")
    run = cli("validate", "--agent-dir", agent)
    assert run.returncode == 1, run.describe()
    assert "invalid — 6 error(s)" in run.stdout
    assert "unknown-key: unknown key 'theme' at the top level of the policy" in run.stdout
    assert "hours: empty window: [9, 9] never opens" in run.stdout
    assert "days: unknown day 'Mon'" in run.stdout


def test_import_report_warning_and_docs_say_the_same(cli: Cli, tmp_path: Path) -> None:
    agent = _agent(tmp_path)
    imported = cli("import", "--agent-dir", agent)
    assert imported.returncode == 0, imported.describe()
    assert PI_JSON_ADVICE in _flat(imported.stdout)
    header = [line[2:] for line in (agent / "multi-pass.yaml").read_text(encoding="utf-8").splitlines()
              if line.startswith("# ")]
    assert PI_JSON_ADVICE in _flat(" ".join(header))
    # Every command now reads the YAML and says the JSON next to it is ignored, with the same advice.
    run = cli("eval", "--agent-dir", agent, "--pool", "claude", "--at", MONDAY)
    assert run.returncode == 0, run.describe()
    assert "multi-pass.json: warning: ignored-file: multi-pass.json is ignored: multi-pass.yaml is read instead" \
        in run.stderr
    assert f"hint: {PI_JSON_ADVICE}" in run.stderr
    as_json = cli("import", "--agent-dir", agent, "--dry-run", "--output", "-", "--format", "json")
    assert as_json.json()["advice"] == PI_JSON_ADVICE
    docs = (REPO / "docs" / "pi-multi-pass.md").read_text(encoding="utf-8")
    assert PI_JSON_ADVICE in _flat(re.sub(r"^> ?", "", docs, flags=re.MULTILINE))  # quoted in the page

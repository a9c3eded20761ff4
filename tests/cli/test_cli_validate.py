"""End-to-end tests of ``mp-policy validate``: diagnostics, formats, limits, kinds and the effective policy."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest
from cli_support import CORP, DEMO, Cli, Run

#: ``file:line:col: [warning: ]code: message (at $.json.path)``
DIAG = re.compile(r"^(?P<file>[^:\n]+):(?P<line>\d+):(?P<col>\d+): (?:warning: )?(?P<code>[a-z][a-z0-9-]*): "
                  r"(?P<message>.+) \(at (?P<path>\$[^)]*)\)$", re.MULTILINE)

SEVERAL_ERRORS = """\
version: 1
setings:                       # typo: settings
  cooldown: 5m
pools:
  - name: off                  # YAML 1.1 boolean
    baseProvider: anthropic
    members: [anthropic]
    strategy: scheduled
    timezone: Mars/Olympus     # not an IANA zone
    memberSchedule:
      anthropic:
        role: preferred
        windows:
          - {hours: [9, 9]}    # an empty window
          - {cron: "not a cron", duration: 1h}
chains:
  - name: main
    entries:
      - {pool: cluade, model: x}   # no such pool
"""

MISSING_POOL = """\
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic]
chains:
  - name: main
    entries:
      - {pool: cluade, model: claude-sonnet-4-5}
"""

WARNING_ONLY = """\
pools:
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-7]   # not a declared account: a warning
"""

#: The warning of the demo corp project: its allow-list leaves the global preset coding-budget nothing.
EMPTIED = "emptied-by-allow-list: preset 'coding-budget': no entry's provider (nor a pool sibling of it) is allowed"


def write(path: Path, text: str) -> Path:
    """Write ``text`` (dedented) to ``path``, creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def diagnostics(text: str) -> list[dict[str, str]]:
    """Every ``file:line:col: code: message (at path)`` line of ``text``."""
    return [m.groupdict() for m in DIAG.finditer(text)]


# -- valid policies ------------------------------------------------------------------------------


def test_valid_policy_exits_0_with_a_summary(cli: Cli) -> None:
    run = cli("validate", "policies/demo/multi-pass.yaml")
    assert run.returncode == 0, run.describe()
    assert run.last_line == "policies/demo/multi-pass.yaml: valid — 0 error(s), 0 warning(s)"
    assert diagnostics(run.output) == []


# -- several errors at once ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def several(cli: Cli, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run, Run]:
    """One policy with five schema errors and a reference to a missing pool, in text and in JSON."""
    path = write(tmp_path_factory.mktemp("several") / "bad.yaml", SEVERAL_ERRORS)
    text, js = cli.many([(("validate", path), {}), (("validate", "--format", "json", path), {})])
    return path, text, js


def test_every_error_is_reported_with_location_path_and_hint(several: tuple[Path, Run, Run]) -> None:
    path, run, _ = several
    assert run.returncode == 1, run.describe()
    found = {d["code"]: d for d in diagnostics(run.output)}
    assert set(found) >= {"unknown-key", "yaml-boolean", "hours", "cron", "timezone", "unknown-pool"}, run.describe()
    for d in found.values():
        assert d["file"] == str(path)
    assert (found["unknown-key"]["line"], found["unknown-key"]["col"]) == ("2", "1")
    assert found["unknown-key"]["path"] == "$.setings"
    assert found["yaml-boolean"]["path"] == "$.pools[0].name"
    assert found["yaml-boolean"]["line"] == "5"
    assert found["timezone"]["path"] == "$.pools[0].timezone"
    assert "Mars/Olympus" in found["timezone"]["message"]
    assert found["hours"]["path"] == "$.pools[0].memberSchedule.anthropic.windows[0].hours"
    assert found["cron"]["path"] == "$.pools[0].memberSchedule.anthropic.windows[1].cron"
    assert "hint: did you mean 'settings'?" in run.output
    assert 'quote it: "off"' in run.output
    assert found["unknown-pool"]["path"] == "$.chains[0].entries[0].pool"
    assert "there is no pool 'cluade'" in found["unknown-pool"]["message"]
    assert run.last_line == f"{path}: invalid — 6 error(s), 0 warning(s)"


def test_json_diagnostics_have_every_field(several: tuple[Path, Run, Run]) -> None:
    path, _, run = several
    assert run.returncode == 1, run.describe()
    data = run.json()
    assert data["valid"] is False
    assert data["errors"] == 6 and data["warnings"] == 0
    assert data["files"] == [str(path)]
    for d in data["diagnostics"]:
        assert set(d) >= {"file", "line", "col", "code", "message", "path", "severity", "hint"}, d
        assert d["file"] == str(path) and isinstance(d["line"], int) and isinstance(d["col"], int)
        assert d["severity"] == "error" and d["path"].startswith("$")
    by_code = {d["code"]: d for d in data["diagnostics"]}
    assert by_code["unknown-key"]["hint"] == "did you mean 'settings'?"
    assert by_code["unknown-key"]["path"] == "$.setings"


def test_a_chain_naming_a_missing_pool_is_an_error_with_did_you_mean(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "policy.yaml", MISSING_POOL)
    run = cli("validate", path)
    assert run.returncode == 1, run.describe()
    (d,) = [d for d in diagnostics(run.output) if d["code"] == "unknown-pool"]
    assert (d["line"], d["col"], d["path"]) == ("8", "16", "$.chains[0].entries[0].pool")
    assert "cluade" in d["message"]
    assert "did you mean 'claude'?" in run.output


# -- warnings and --strict -------------------------------------------------------------------------


def test_warnings_alone_pass_and_fail_with_strict(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "warn.yaml", WARNING_ONLY)
    plain, strict, strict_json = cli.many([
        (("validate", path), {}),
        (("validate", "--strict", path), {}),
        (("validate", "--strict", "--format", "json", path), {}),
    ])
    assert plain.returncode == 0, plain.describe()
    (d,) = diagnostics(plain.output)
    assert d["code"] == "unknown-member" and d["path"] == "$.pools[0].members[1]"
    assert f"{path}:4:26: warning: unknown-member:" in plain.output
    assert "did you mean 'anthropic'?" in plain.output
    assert plain.last_line == f"{path}: valid — 0 error(s), 1 warning(s)"
    assert strict.returncode == 1, strict.describe()
    assert strict.last_line == f"{path}: invalid — 0 error(s), 1 warning(s)"
    assert strict_json.returncode == 1
    data = strict_json.json()
    assert data["valid"] is False and data["errors"] == 0 and data["warnings"] == 1
    assert data["diagnostics"][0]["severity"] == "warning"


# -- hostile files -------------------------------------------------------------------------------


def test_duplicate_key_alias_bomb_and_oversized_file_fail_cleanly(cli: Cli, tmp_path: Path) -> None:
    dup = write(tmp_path / "dup.yaml", "pools:\n  - name: a\n    name: b\n    baseProvider: anthropic\n"
                                       "    members: [anthropic]\n")
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        laughs.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    bomb = write(tmp_path / "laughs.yaml", "\n".join(laughs) + "\n")
    big = tmp_path / "big.yaml"
    big.write_text("# padding\n" * 120_000 + "version: 1\n", encoding="utf-8")  # about 1.2 MB
    run = cli("validate", dup, bomb, big, timeout=30)
    assert run.returncode == 1, run.describe()
    found = {(d["file"], d["code"]) for d in diagnostics(run.output)}
    assert (str(dup), "duplicate-key") in found, run.describe()
    assert (str(bomb), "alias-limit") in found, run.describe()
    assert "duplicate key 'name' (first defined at line 2)" in run.output
    assert "alias" in run.output
    # An oversized file has no line: "big.yaml: file-too-large: ... (at $)".
    assert f"{big}: file-too-large: " in run.output, run.describe()
    assert "the limit is 1,048,576 bytes" in run.output
    assert "invalid — 3 error(s)" in run.last_line


BROKEN = {
    "syntax.yaml": (b"pools: [\n", "parse-error"),
    "empty.yaml": (b"", "type"),
    "two-docs.yaml": (b"a: 1\n---\nb: 2\n", "multiple-documents"),
    "latin1.yaml": (b"pools:\n  - name: \"\xc3\x28\"\n", "parse-error"),
    "tabs.yaml": (b"pools:\n\t- x\n", "parse-error"),
    "a-list.yaml": (b"[1, 2]\n", "type"),
    "deep.yaml": (b"a: " + b"[" * 300 + b"]" * 300 + b"\n", "nesting-limit"),
}


def test_unreadable_files_are_diagnostics_not_crashes(cli: Cli, tmp_path: Path) -> None:
    for name, (content, _) in BROKEN.items():
        (tmp_path / name).write_bytes(content)
    run = cli("validate", *(tmp_path / name for name in BROKEN), tmp_path / "nope.yaml", tmp_path)
    assert run.returncode == 1, run.describe()
    for name, (_, code) in BROKEN.items():
        assert f"{tmp_path / name}:" in run.output and f": {code}: " in run.output, (name, run.describe())
        assert re.search(rf"^{re.escape(str(tmp_path / name))}(:\d+:\d+)?: {code}: ", run.output, re.MULTILINE), name
    assert f"{tmp_path / 'nope.yaml'}: file-not-found: " in run.output
    assert f"{tmp_path}: file-unreadable: " in run.output
    assert "save the file as UTF-8" in run.output
    assert "indent with spaces" in run.output


# -- kinds -----------------------------------------------------------------------------------------


def test_test_files_and_project_overlays_are_recognised_by_kind(cli: Cli, tmp_path: Path) -> None:
    overlay_text = "allowedSubs: [anthropic]\n"
    overlay = write(tmp_path / "proj" / ".pi" / "multi-pass.yaml", overlay_text)
    plain = write(tmp_path / "overlay.yaml", overlay_text)
    bad_overlay = write(tmp_path / "other" / ".pi" / "multi-pass.yaml", "allowedSubs: []\nsubscriptions: []\n")
    test_file = write(tmp_path / "t.test.yaml", "policy: {}\ncasez: []\n")
    empty_agent = tmp_path / "no-agent"
    empty_agent.mkdir()
    guessed, forced = cli.many([
        (("validate", "--agent-dir", empty_agent, overlay, plain, bad_overlay, test_file), {}),
        (("validate", "--kind", "project", "--agent-dir", empty_agent, plain), {}),
    ])
    assert guessed.returncode == 1, guessed.describe()
    by_file: dict[str, set[str]] = {}
    for d in diagnostics(guessed.output):
        by_file.setdefault(d["file"], set()).add(d["code"])
    assert str(overlay) not in by_file, guessed.describe()  # allowedSubs is fine in a project overlay
    assert by_file[str(plain)] == {"unknown-key"}  # ... but not in a policy
    assert "unknown key 'allowedSubs' at the top level of the policy" in guessed.output
    assert "project-subscriptions" in by_file[str(bad_overlay)]
    assert "unknown-key" in by_file[str(test_file)]
    assert "unknown key 'casez' at the top level of the policy test" in guessed.output
    assert "did you mean 'cases'?" in guessed.output
    assert forced.returncode == 0, forced.describe()


def test_demo_test_files_and_overlay_validate(cli: Cli) -> None:
    run = cli("validate", "--agent-dir", "policies/demo", "policies/demo/multi-pass.test.yaml",
              "policies/demo/projects/corp/.pi/multi-pass.yaml", "policies/demo/projects/corp/corp.test.yaml")
    assert run.returncode == 0, run.describe()
    assert run.last_line.endswith("valid — 0 error(s), 2 warning(s)")  # the overlay, and the test that uses it
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert len(warnings) == 2 and all(EMPTIED in w for w in warnings), run.describe()


def test_a_test_file_naming_a_missing_policy_is_reported(cli: Cli, tmp_path: Path) -> None:
    path = write(tmp_path / "x.test.yaml", """\
        policy: nothere.yaml
        cases:
          - name: a
            steps:
              - select: {provider: anthropic}
        """)
    run = cli("validate", path)
    assert run.returncode == 1, run.describe()
    assert f"{tmp_path / 'nothere.yaml'}: file-not-found" in run.output


# -- the effective policy (no FILES) -------------------------------------------------------------


def test_no_files_checks_the_agent_dir_policy(cli: Cli, tmp_path: Path) -> None:
    run = cli("validate", "--agent-dir", DEMO, cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    assert run.last_line == f"{DEMO / 'multi-pass.yaml'}: valid — 0 error(s), 0 warning(s)"


def test_no_files_uses_env_agent_dir_and_finds_the_project_upwards(cli: Cli, tmp_path: Path) -> None:
    nested = tmp_path / "work"
    run = cli("validate", "--format", "json", cwd=CORP, env={"PI_CODING_AGENT_DIR": str(DEMO)})
    assert run.returncode == 0, run.describe()
    files = [Path(f).resolve() for f in run.json()["files"]]
    assert files == [DEMO / "multi-pass.yaml", CORP / ".pi" / "multi-pass.yaml"]
    # From a sub-folder of a project whose overlay names a missing pool: found upwards, and an error.
    write(tmp_path / ".pi" / "multi-pass.yaml", """\
        chains:
          - name: work
            entries:
              - {pool: cluade, model: claude-sonnet-4-5}
        """)
    (nested / "src" / "deep").mkdir(parents=True)
    bad = cli("validate", cwd=nested / "src" / "deep", env={"PI_CODING_AGENT_DIR": str(DEMO)})
    assert bad.returncode == 1, bad.describe()
    (d,) = [d for d in diagnostics(bad.output) if d["code"] == "unknown-pool"]
    assert Path(d["file"]).resolve() == tmp_path / ".pi" / "multi-pass.yaml"
    assert "did you mean 'claude'?" in bad.output


def test_no_files_and_no_policy_anywhere_is_an_empty_valid_policy(cli: Cli, tmp_path: Path) -> None:
    run = cli("validate", cwd=tmp_path)  # HOME is empty: no ~/.pi/agent
    assert run.returncode == 0, run.describe()
    assert "(empty policy): valid" in run.last_line
    assert "no policy found" in run.stderr


def test_multi_sub_with_an_unknown_provider_is_a_warning(cli: Cli, tmp_path: Path) -> None:
    run = cli("validate", "--agent-dir", DEMO, cwd=tmp_path, env={"MULTI_SUB": "antropic:2"})
    assert run.returncode == 0, run.describe()
    assert "MULTI_SUB" in run.output and "antropic" in run.output, run.describe()
    assert "did you mean 'anthropic'" in run.output


def test_project_that_does_not_exist_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    run = cli("validate", "--agent-dir", DEMO, "--project", tmp_path / "no-such-project", cwd=tmp_path)
    assert run.returncode == 2, run.describe()
    assert "no-such-project" in run.stderr


def test_review_findings_are_reported_not_crashes(cli: Cli, tmp_path: Path) -> None:
    """Huge durations, 6-field crons and a string where members should be a list: clear errors."""
    policy = write(tmp_path / "multi-pass.yaml", """\
        settings: {cooldown: 99999999999d}
        pools:
          - name: p
            baseProvider: anthropic
            members: anthropic
          - name: q
            baseProvider: anthropic
            members: [anthropic]
            strategy: scheduled
            memberSchedule:
              anthropic: {role: preferred, windows: [{cron: "0 9 * * * *", duration: 1h}]}
        """)
    run = cli("validate", policy, "--format", "json")
    assert run.returncode == 1, run.describe()
    found = {(d["code"], d["path"]) for d in run.json()["diagnostics"]}
    assert ("duration", "$.settings.cooldown") in found
    assert any(code == "cron" for code, _ in found)
    assert any(code == "type" and path == "$.pools[0].members" for code, path in found)
    assert not any(code == "unknown-member" for code, _ in found)  # no per-character cascade


def test_a_global_policy_given_alongside_an_overlay_is_used_for_it(cli: Cli) -> None:
    run = cli("validate", DEMO / "multi-pass.yaml", CORP / ".pi" / "multi-pass.yaml")
    assert run.returncode == 0, run.describe()
    # The one warning is about the global preset that the overlay's allow-list empties: the global was read.
    warnings = [line for line in run.stdout.splitlines() if ": warning: " in line]
    assert len(warnings) == 1 and f"{EMPTIED} by the project's allowedSubs (anthropic-2, openai-codex-2)" in \
        warnings[0], run.describe()


def test_a_shadowed_json_policy_is_warned_about(cli: Cli, tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    write(agent / "multi-pass.yaml", "pools: []\n")
    write(agent / "multi-pass.json", '{"pools": []}\n')
    run = cli("validate", "--agent-dir", agent)
    assert run.returncode == 0 and "multi-pass.json is ignored" in run.stdout, run.describe()
    evaluated = cli("eval", "--agent-dir", agent, "--provider", "anthropic")
    assert "multi-pass.json is ignored" in evaluated.stderr, evaluated.describe()

"""``mp-policy import``: a realistic pi-multi-pass set-up becomes YAML that the real CLI accepts and that
answers exactly like the JSON it came from; the report, the outputs and the errors as a user sees them."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from cli_support import REPO, UNIQUE_SECRET, Cli, invoke

from policy_engine.policy.loader import load_file, load_text

FIXTURES = REPO / "tests" / "fixtures" / "pi_import"
MULTI_SUB = "anthropic:2"
ACCOUNTS = ("anthropic", "anthropic-2", "anthropic-3", "openai-codex", "openai-codex-2", "openai-codex-3",
            "google-gemini-cli", "google-gemini-cli-2", "github-copilot", "github-copilot-2")
AT = ("2026-04-06T10:30:00+02:00", "2026-04-11T23:15:00+02:00")


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    """The realistic pi set-up, with an auth.json that logs every account in (with a unique secret)."""
    target = tmp_path / "setup"
    shutil.copytree(FIXTURES / "realistic", target)
    auth = {name: {"type": "oauth", "access": UNIQUE_SECRET, "refresh": "r", "expires": 4102444800000}
            for name in ACCOUNTS}
    (target / "agent" / "auth.json").write_text(json.dumps(auth, indent=2), encoding="utf-8")
    (target / "elsewhere").mkdir()
    return target


def _env(setup: Path) -> dict[str, str]:
    return {"PI_CODING_AGENT_DIR": str(setup / "agent"), "MULTI_SUB": MULTI_SUB, "MP_POLICY_QUOTA_REFRESH": "0"}


def test_import_writes_yaml_that_validate_accepts(cli: Cli, setup: Path) -> None:
    run = cli("import", "--project", "work-repo", cwd=setup, env=_env(setup))
    assert run.returncode == 0, run.describe()
    assert "wrote" in run.stdout and "multi-pass.yaml" in run.stdout
    assert "two-pools" in run.stdout and "presets-failover" in run.stdout
    for path in (setup / "agent" / "multi-pass.yaml", setup / "work-repo" / ".pi" / "multi-pass.yaml"):
        assert path.is_file()
    # The effective set-up inside the project, and each file on its own: no errors.
    effective = cli("validate", "--format", "json", cwd=setup / "work-repo", env=_env(setup))
    assert effective.returncode == 0, effective.describe()
    verdict = effective.json()
    assert verdict["errors"] == 0
    assert [Path(f).name for f in verdict["files"]] == ["multi-pass.yaml", "multi-pass.yaml"]
    files = cli("validate", "agent/multi-pass.yaml", "work-repo/.pi/multi-pass.yaml", cwd=setup, env=_env(setup))
    assert files.returncode == 0, files.describe()
    assert "0 error(s)" in files.last_line
    # The pi files are untouched.
    assert (setup / "agent" / "multi-pass.json").read_bytes() == \
        (FIXTURES / "realistic" / "agent" / "multi-pass.json").read_bytes()


def _eval_args(setup: Path, request: list[str], at: str, *, from_json: bool, project: bool) -> list[str]:
    fails = ["--fail", ":429", "--fail", ":429"] if "--chain" in request else ["--fail", ":429"]
    args = ["eval", *request, "--at", at, *fails, "--state", "memory://", "--format", "json"]
    if from_json:
        args += ["--policy", str(setup / "agent" / "multi-pass.json")]
        args += ["--project", str(setup / "work-repo" / ".pi" / "multi-pass.json" if project else setup / "elsewhere")]
    else:
        args += ["--project", str(setup / "work-repo" if project else setup / "elsewhere")]
    return args


def _answer(run: Any) -> dict[str, Any]:
    if run.returncode != 0:  # e.g. a second failure after the first left no target: the same error both ways
        return {"exit": run.returncode, "error": run.stderr.strip().splitlines()[-1]}
    decision = run.json()
    return {k: decision[k] for k in ("target", "candidates", "skipped", "retryAfter", "strategy", "error")}


@pytest.mark.parametrize(("request_args", "project"), [
    (["--chain", "ordered-fallback"], False),
    (["--preset", "coding-premium"], False),
    (["--pool", "codex", "--model", "gpt-5"], False),
    (["--provider", "anthropic-2", "--model", "claude-sonnet-4-20250514"], False),
    (["--chain", "work-fallback"], True),
    (["--preset", "coding-budget"], True),
], ids=["chain", "preset", "scheduled-pool", "provider-in-two-pools", "project-chain", "project-preset"])
def test_eval_answers_the_same_from_the_json_and_the_imported_yaml(cli: Cli, setup: Path, request_args: list[str],
                                                                    project: bool) -> None:
    imported = cli("import", "--project", "work-repo", cwd=setup, env=_env(setup))
    assert imported.returncode == 0, imported.describe()
    calls = [(_eval_args(setup, request_args, at, from_json=source, project=project), {"cwd": setup,
                                                                                        "env": _env(setup)})
             for at in AT for source in (True, False)]
    runs = cli.many(calls)
    answered = 0
    for from_json, from_yaml in zip(runs[::2], runs[1::2], strict=True):
        assert _answer(from_yaml) == _answer(from_json)
        answered += from_json.returncode == 0
    assert answered, "no decision to compare"


def test_format_json_reports_differences_and_writes_nothing_on_a_dry_run(setup: Path) -> None:
    run = invoke("import", "--dry-run", "--format", "json", "--project", str(setup / "work-repo"), env=_env(setup))
    assert run.returncode == 0, run.describe()
    report = run.json()
    assert report["written"] == []
    assert {"code", "path", "message"} <= set(report["differences"][0])
    assert all(d["path"].startswith("$") for d in report["differences"])
    assert isinstance(report["warnings"], list)
    assert [o["kind"] for o in report["outputs"]] == ["policy", "project"]
    assert not (setup / "agent" / "multi-pass.yaml").exists()


def test_dash_prints_the_yaml_and_sends_the_report_to_stderr(setup: Path, tmp_path: Path) -> None:
    printed = invoke("import", "-o", "-", env=_env(setup))
    assert printed.returncode == 0, printed.describe()
    assert not (setup / "agent" / "multi-pass.yaml").exists()
    assert "Behaves differently under mp-policy" in printed.stderr
    assert "Behaves differently under mp-policy" not in printed.stdout
    written = invoke("import", env=_env(setup))
    assert written.returncode == 0, written.describe()
    assert load_text(printed.stdout, "printed.yaml").data == load_file(setup / "agent" / "multi-pass.yaml").data
    as_json = invoke("import", "-o", "-", "--format", "json", env=_env(setup))
    assert as_json.json()["outputs"][0]["yaml"] == printed.stdout


def test_an_existing_yaml_is_only_replaced_with_force(setup: Path) -> None:
    assert invoke("import", env=_env(setup)).returncode == 0
    target = setup / "agent" / "multi-pass.yaml"
    target.write_text("# hand edits\nversion: 1\n", encoding="utf-8")
    again = invoke("import", env=_env(setup))
    assert again.returncode == 1
    assert "--force" in again.stderr and str(target) in again.stderr
    assert target.read_text(encoding="utf-8") == "# hand edits\nversion: 1\n"
    forced = invoke("import", "--force", "--format", "json", env=_env(setup))
    assert forced.returncode == 0, forced.describe()
    assert forced.json()["written"] == [str(target)]
    assert "imported from pi-multi-pass" in target.read_text(encoding="utf-8")


def test_output_to_another_folder_keeps_the_selector_working(cli: Cli, setup: Path) -> None:
    out = setup / "elsewhere" / "policy.yaml"
    run = cli("import", "-o", str(out), cwd=setup, env=_env(setup))
    assert run.returncode == 0, run.describe()
    assert "selector-path-moved" in run.stdout
    check = cli("validate", str(out), "--format", "json", cwd=setup, env=_env(setup))
    assert check.returncode == 0, check.describe()
    assert not [d for d in check.json()["diagnostics"] if d["code"].startswith("selector")]


def test_a_file_that_does_not_parse_is_reported_with_its_line(setup: Path) -> None:
    broken = FIXTURES / "broken" / "multi-pass.json"
    run = invoke("import", str(broken), "--dry-run", env=_env(setup))
    assert run.returncode == 1
    assert f"{broken}:7:" in run.stderr and "hint:" in run.stderr
    as_json = invoke("import", str(broken), "--dry-run", "--format", "json", env=_env(setup))
    assert as_json.returncode == 1
    assert as_json.json()["error"]["line"] == 7


def test_a_file_that_is_not_a_pi_config_is_refused(setup: Path) -> None:
    auth = FIXTURES / "not-pi" / "auth.json"
    run = invoke("import", str(auth), "--dry-run", env=_env(setup))
    assert run.returncode == 1
    assert "not a pi-multi-pass config" in run.stderr and "auth.json" in run.stderr
    assert "fixture-not-a-real" not in run.output
    yaml_file = setup / "elsewhere" / "multi-pass.yaml"
    yaml_file.write_text("version: 1\n", encoding="utf-8")
    assert "already a YAML policy" in invoke("import", str(yaml_file), env=_env(setup)).stderr


def test_a_missing_config_says_where_it_looked(setup: Path) -> None:
    run = invoke("import", "--agent-dir", str(setup / "elsewhere"), env=_env(setup))
    assert run.returncode == 1
    assert str(setup / "elsewhere" / "multi-pass.json") in run.stderr and "--agent-dir" in run.stderr


def test_a_project_file_alone_and_usage_errors(setup: Path) -> None:
    project_file = setup / "work-repo" / ".pi" / "multi-pass.json"
    run = invoke("import", str(project_file), "--format", "json", env=_env(setup))
    assert run.returncode == 0, run.describe()
    assert run.json()["written"] == [str(project_file.with_suffix(".yaml"))]
    assert not (setup / "agent" / "multi-pass.yaml").exists()
    both = invoke("import", str(project_file), "--project", str(setup / "work-repo"), env=_env(setup))
    assert both.returncode == 1 and "not both" in both.stderr
    assert invoke("import", "--format", "xml", env=_env(setup)).returncode == 2


def test_a_hand_edited_config_imports_into_a_valid_policy(cli: Cli, tmp_path: Path) -> None:
    agent = tmp_path / "agent"
    shutil.copytree(FIXTURES / "quirks", agent)
    run = cli("import", "--agent-dir", str(agent), cwd=tmp_path)
    assert run.returncode == 0, run.describe()
    for heading in ("Behaves differently", "Rewritten by the import", "Left out"):
        assert heading in run.stdout
    check = cli("validate", str(agent / "multi-pass.yaml"), cwd=tmp_path)
    assert check.returncode == 0, check.describe()
    assert "0 error(s)" in check.last_line


def test_help_explains_the_choices_with_examples() -> None:
    run = invoke("import", "--help")
    assert run.returncode == 0
    for needle in ("Examples:", "MULTI_SUB", "--force", "-o -", "--format json", "[9, 9]"):
        assert needle in run.stdout

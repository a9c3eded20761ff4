"""End-to-end tests of ``mp-policy test``: passing and failing suites, JSON, --exclude, nothing to run."""

from __future__ import annotations

import re
import shutil
import textwrap
from pathlib import Path

import pytest
from cli_support import DEMO, Cli

SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")

PASSING = """\
policy: multi-pass.yaml
given:
  at: "2026-11-24T10:30:00+01:00"
  auth: [anthropic, anthropic-2, openai-codex]
cases:
  - name: the chain starts on Claude
    steps:
      - select: {chain: main}
        expect: {target: {provider: anthropic, model: claude-sonnet-4-5}}
"""

FAILING = """\
policy: multi-pass.yaml
given:
  at: "2026-11-24T10:30:00+01:00"
  auth: [anthropic, anthropic-2, openai-codex]
cases:
  - name: passes
    steps:
      - select: {chain: main}
        expect: {target: {provider: anthropic}}
  - name: wrong provider expected
    steps:
      - select: {chain: main}
        expect: {target: {provider: anthropic}}
      - fail: {status: 429, message: rate_limit_error}
        expect: {target: {provider: openai-codex, model: gpt-5}}
"""


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A folder with the demo policy, one passing and one failing test file."""
    shutil.copy(DEMO / "multi-pass.yaml", tmp_path / "multi-pass.yaml")
    (tmp_path / "pass.test.yaml").write_text(PASSING, encoding="utf-8")
    (tmp_path / "fail.test.yaml").write_text(FAILING, encoding="utf-8")
    return tmp_path


def summary(line: str) -> tuple[int, int]:
    """``N passed, M failed`` as numbers (fails the test when the line is something else)."""
    m = SUMMARY.match(line)
    assert m, f"last line is not 'N passed, M failed': {line!r}"
    return int(m.group(1)), int(m.group(2))


def test_the_repository_policies_pass(cli: Cli) -> None:
    explicit, default = cli.many([(("test", "policies"), {}), (("test",), {})])
    assert explicit.returncode == 0, explicit.describe()
    passed, failed = summary(explicit.last_line)
    assert passed >= 9 and failed == 0
    for name in ("policies/demo/multi-pass.test.yaml", "policies/demo/projects/corp/corp.test.yaml"):
        assert re.search(rf"^{re.escape(name)}: [1-9]\d* passed, 0 failed  ok$", explicit.stdout, re.MULTILINE), name
    # Without PATHS, ./policies is searched.
    assert default.returncode == 0 and default.stdout == explicit.stdout


def test_a_failing_case_shows_a_readable_diff(cli: Cli, suite: Path) -> None:
    run = cli("test", suite / "fail.test.yaml")
    assert run.returncode == 1, run.describe()
    out = run.stdout
    assert f"{suite / 'fail.test.yaml'}: 1 passed, 1 failed  FAIL" in out
    assert "  FAIL wrong provider expected" in out
    assert "FAIL passes" not in out
    assert "step 2 (fail):" in out
    assert '$.target.provider: expected "openai-codex", got "anthropic-2"' in out
    assert '$.target.model: expected "gpt-5", got "claude-sonnet-4-5"' in out
    assert summary(run.last_line) == (1, 1)


def test_folders_are_searched_and_counts_add_up(cli: Cli, suite: Path) -> None:
    run, verbose = cli.many([(("test", suite), {}), (("test", "-v", suite), {})])
    assert run.returncode == 1
    assert summary(run.last_line) == (2, 1)
    assert "ok   the chain starts on Claude" in verbose.stdout
    assert "ok   the chain starts on Claude" not in run.stdout


def test_json_output(cli: Cli, suite: Path) -> None:
    run = cli("test", "--format", "json", suite)
    assert run.returncode == 1, run.describe()
    data = run.json()
    assert (data["passed"], data["failed"]) == (2, 1)
    files = {Path(f["path"]).name: f for f in data["files"]}
    assert set(files) == {"pass.test.yaml", "fail.test.yaml"}
    cases = {c["name"]: c for c in files["fail.test.yaml"]["cases"]}
    assert cases["passes"] == {"name": "passes", "passed": True, "failures": []}
    assert cases["wrong provider expected"]["passed"] is False
    assert any('$.target.provider: expected "openai-codex", got "anthropic-2"' in line
               for line in cases["wrong provider expected"]["failures"])
    assert files["pass.test.yaml"]["diagnostics"] == []


def test_exclude_leaves_files_out(cli: Cli, suite: Path) -> None:
    run, everything = cli.many([
        (("test", "--exclude", "fail.test.yaml", suite), {}),
        (("test", "--exclude", "fail.test.yaml", "--exclude", "pass.test.yaml", suite), {}),
    ])
    assert run.returncode == 0, run.describe()
    assert summary(run.last_line) == (1, 0)
    assert "fail.test.yaml" not in run.stdout
    assert everything.returncode == 2, everything.describe()
    assert "no test files" in everything.stderr


def test_a_folder_without_test_files_is_a_usage_error(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "multi-pass.yaml").write_text("version: 1\n", encoding="utf-8")
    run, missing = cli.many([(("test", tmp_path), {}), (("test", tmp_path / "nope"), {})])
    assert run.returncode == 2, run.describe()
    assert f"no test files (*.test.yaml) found in {tmp_path}" in run.stderr
    assert run.stdout == ""
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_a_broken_test_file_fails_with_its_diagnostics(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "syntax.test.yaml").write_text("policy: {pools: [}\n", encoding="utf-8")
    (tmp_path / "missing.test.yaml").write_text(textwrap.dedent("""\
        policy: nothere.yaml
        cases:
          - name: a
            steps:
              - select: {provider: anthropic}
        """), encoding="utf-8")
    run = cli("test", tmp_path)
    assert run.returncode == 1, run.describe()
    assert "parse-error" in run.output and "file-not-found" in run.output
    assert summary(run.last_line) == (0, 2)


def test_engine_errors_inside_a_case_fail_that_case(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "steps.test.yaml").write_text(textwrap.dedent("""\
        policy: {pools: [{name: p, baseProvider: anthropic, members: [anthropic]}]}
        given: {at: "2026-11-24T10:30:00+01:00", auth: [anthropic]}
        cases:
          - name: unknown pool in select
            steps:
              - select: {pool: q}
          - name: fail before any select
            steps:
              - fail: {status: 429}
          - name: fine
            steps:
              - select: {pool: p}
                expect: {target: {provider: anthropic}}
        """), encoding="utf-8")
    run = cli("test", tmp_path)
    assert run.returncode == 1, run.describe()
    assert "there is no pool named 'q'; known: p" in run.stdout
    assert "FAIL fail before any select" in run.stdout
    assert summary(run.last_line) == (1, 2)


CRASHES = {
    # Segment.to_dict drops model=None and Segment.from_dict cannot rebuild it (second fail of a model-less route)
    "model-less-pool-fails-twice": """\
      - name: a pool without a model fails twice
        steps:
          - select: {pool: claude}
          - fail: {status: 429}
          - fail: {status: 429}
            expect: {target: {provider: openai-codex}}
    """,
    # the clock moved past datetime.max: OverflowError
    "clock-past-year-9999": """\
      - name: the far future
        steps:
          - set: {at: "9999-12-31T23:59:59+00:00"}
          - select: {pool: claude}
    """,
}


@pytest.mark.parametrize("crash", list(CRASHES))
def test_a_crashing_case_does_not_abort_the_run(cli: Cli, suite: Path, crash: str) -> None:
    (suite / "crash.test.yaml").write_text(
        'policy: multi-pass.yaml\n'
        'given: {at: "2026-11-24T10:30:00+01:00", auth: [anthropic, anthropic-2, openai-codex]}\n'
        "cases:\n" + textwrap.indent(textwrap.dedent(CRASHES[crash]), "  "), encoding="utf-8")
    run = cli("test", "--exclude", "fail.test.yaml", suite)
    assert run.returncode in (0, 1), run.describe()
    assert "internal error" not in run.stderr
    assert "pass.test.yaml: 1 passed, 0 failed" in run.stdout
    passed, failed = summary(run.last_line)
    assert passed + failed == 2

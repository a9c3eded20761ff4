"""Policy tests (DESIGN §6): the ``match`` function and running ``*.test.yaml`` files with ``run_file``.

``match`` is a subset match: mappings match the keys they give, lists element-wise with the same
length, ``{contains: [...]}`` any order without reusing an element, ``null`` matches null,
timestamps compare as instants and booleans never equal numbers. ``run_file`` drives an engine
through steps (``select``, ``fail``, ``succeed``, ``advance``, ``set``) and reports readable
failures naming the step and the JSON path.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Any

import pytest
from child_process import run_child

from policy_engine.testing.policy_tests import FileResult, discover, match, run_file, run_paths

# --- match -------------------------------------------------------------------------------------


def test_a_mapping_matches_the_keys_it_gives() -> None:
    assert match({"a": 1}, {"a": 1, "b": 2}) == []
    assert match({}, {"a": 1}) == []
    assert match({"t": {"p": "x"}}, {"t": {"p": "x", "m": "y"}, "other": []}) == []


def test_a_missing_key_is_reported_with_its_path() -> None:
    assert match({"target": {"pool": "p"}}, {"target": {"provider": "x"}}) == [
        '$.target.pool: missing (expected "p")'
    ]


def test_a_different_value_is_reported_with_expected_and_actual() -> None:
    assert match({"target": {"provider": "a"}}, {"target": {"provider": "b"}}) == [
        '$.target.provider: expected "a", got "b"'
    ]


def test_a_mapping_does_not_match_a_non_mapping() -> None:
    (problem,) = match({"a": 1}, [1])
    assert problem.startswith("$: expected an object")


def test_lists_match_element_wise_in_order_with_the_same_length() -> None:
    assert match([{"a": 1}, {"b": 2}], [{"a": 1, "x": 0}, {"b": 2}]) == []
    assert match([1, 2], [2, 1]) == ["$[0]: expected 1, got 2", "$[1]: expected 2, got 1"]
    (shorter,) = match([1], [1, 2])
    assert shorter.startswith("$: expected 1 element(s), got 2")
    (longer,) = match({"x": [1, 2]}, {"x": [1]})
    assert longer.startswith("$.x: expected 2 element(s), got 1")
    assert match([], []) == []
    assert match([], [1]) != []


def test_a_list_does_not_match_a_non_list() -> None:
    assert match([1], {"a": 1}) == ["$: expected a list, got {\"a\": 1}"]


def test_contains_matches_elements_in_any_order() -> None:
    actual = [{"provider": "a", "reason": "cooldown"}, {"provider": "b", "reason": "no-auth"}]
    assert match({"contains": [{"reason": "no-auth"}, {"provider": "a"}]}, actual) == []
    assert match({"contains": []}, actual) == []
    assert match({"contains": [1, 3]}, [3, 2, 1]) == []


def test_contains_does_not_reuse_an_element() -> None:
    (problem,) = match({"contains": [{"reason": "cooldown"}, {"reason": "cooldown"}]},
                       [{"provider": "a", "reason": "cooldown"}, {"provider": "b", "reason": "no-auth"}])
    assert "contains[1]" in problem
    assert match({"contains": [1, 1]}, [1, 2, 1]) == []


def test_contains_reports_which_expected_element_is_missing() -> None:
    (problem,) = match({"skipped": {"contains": [{"reason": "cooldown"}]}}, {"skipped": [{"reason": "no-auth"}]})
    assert problem.startswith("$.skipped: no element matches contains[0]")


def test_contains_needs_a_list() -> None:
    (problem,) = match({"contains": [1]}, {"a": 1})
    assert "expected a list containing" in problem


def test_a_mapping_with_contains_and_other_keys_is_an_ordinary_mapping() -> None:
    assert match({"contains": 1, "x": 2}, {"contains": 1, "x": 2, "y": 3}) == []


def test_contains_finds_an_assignment_whenever_one_exists() -> None:
    actual = [{"provider": "anthropic", "reason": "cooldown"}, {"provider": "anthropic-2", "reason": "cooldown"}]
    assert match({"contains": [{"reason": "cooldown"}, {"provider": "anthropic"}]}, actual) == []
    assert match({"contains": [{"a": 1}, {"a": 1, "b": 2}]}, [{"a": 1, "b": 2}, {"a": 1}]) == []


def test_null_matches_only_null() -> None:
    assert match(None, None) == []
    assert match({"target": None}, {"target": None}) == []
    assert match({"target": None}, {"target": {"provider": "a"}}) == [
        '$.target: expected null, got {"provider": "a"}'
    ]
    assert match(None, 0) != []
    assert match(None, "") != []
    assert match(None, []) != []
    assert match({"retryAfter": None}, {}) == ["$.retryAfter: missing (expected null)"]


def test_a_value_does_not_match_null() -> None:
    assert match({"target": {"provider": "a"}}, {"target": None}) != []
    assert match(0, None) != []


@pytest.mark.parametrize(
    ("expected", "actual"),
    [
        ("2026-04-06T10:00:00+00:00", "2026-04-06T12:00:00+02:00"),
        ("2026-04-06T10:00:00Z", "2026-04-06T06:00:00-04:00"),
        ("2026-04-06T10:00:00.000+00:00", "2026-04-06T10:00:00+00:00"),
        ("2026-04-06 10:00:00+00:00", "2026-04-06T10:00:00+00:00"),
    ],
)
def test_timestamps_compare_as_instants_across_offsets(expected: str, actual: str) -> None:
    assert match({"at": expected}, {"at": actual}) == []


def test_timestamps_that_are_different_instants_do_not_match() -> None:
    assert match("2026-04-06T10:00:00+00:00", "2026-04-06T10:00:00+02:00") == [
        "$: expected 2026-04-06T10:00:00+00:00, got 2026-04-06T10:00:00+02:00"
    ]


def test_strings_that_are_not_timestamps_compare_as_text() -> None:
    assert match("anthropic", "anthropic") == []
    assert match("2026-04-06", "2026-04-06") == []
    assert match("2026-04-06", "2026-04-07") != []


@pytest.mark.parametrize(("expected", "actual"), [(True, 1), (1, True), (False, 0), (0, False), (True, "true")])
def test_booleans_never_equal_numbers(expected: Any, actual: Any) -> None:
    assert match(expected, actual) != []


def test_booleans_and_numbers_match_their_own_kind() -> None:
    assert match(True, True) == []
    assert match(False, False) == []
    assert match(True, False) == ["$: expected true, got false"]
    assert match(1, 1.0) == []
    assert match(3, 4) == ["$: expected 3, got 4"]


# --- run_file ------------------------------------------------------------------------------------

POLICY = """\
settings: {timezone: UTC}
subscriptions:
  - {provider: anthropic, index: 2}
  - {provider: anthropic, index: 3}
pools:
  - {name: claude, baseProvider: anthropic, members: [anthropic, anthropic-2, anthropic-3]}
  - {name: codex, baseProvider: openai-codex, members: [openai-codex]}
chains:
  - name: main
    entries:
      - {pool: claude, model: claude-sonnet-4}
      - {pool: codex, model: gpt-5}
"""


def write(directory: Path, name: str, text: str) -> Path:
    """Write a dedented file and return its path."""
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def case_file(tmp_path: Path, cases: str, *, given: str | None = None, policy: str = "policy: policy.yaml\n",
              name: str = "p.test.yaml") -> Path:
    """A test file next to ``policy.yaml`` (written from :data:`POLICY`)."""
    write(tmp_path, "policy.yaml", POLICY)
    given = given if given is not None else (
        "given:\n"
        "  at: '2026-04-06T10:00:00+00:00'\n"
        "  auth: [anthropic, anthropic-2, anthropic-3, openai-codex]\n"
    )
    return write(tmp_path, name, policy + given + "cases:\n" + textwrap.indent(textwrap.dedent(cases), "  "))


def only_failures(result: FileResult) -> list[str]:
    """Every failure line of every case."""
    return [line for case in result.cases for line in case.failures]


def test_a_passing_file(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: rotate
          steps:
            - select: {provider: anthropic, model: claude-sonnet-4}
              expect: {target: {provider: anthropic, via: current}}
            - fail: {status: 429, message: rate_limit_error}
              expect:
                target: {provider: anthropic-2, model: claude-sonnet-4, via: pool}
                error: {kind: rate_limit, rotate: true, cooldownUntil: "2026-04-06T10:05:00Z"}
        - name: chain
          steps:
            - select: {chain: main}
              expect: {target: {provider: anthropic, entry: 0, via: chain}, retryAfter: null}
        """)
    result = run_file(path)
    assert result.diagnostics == []
    assert [(c.name, c.passed) for c in result.cases] == [("rotate", True), ("chain", True)]
    assert (result.passed, result.failed) == (2, 0)


def test_a_failing_file_names_the_step_and_the_json_path(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: wrong expectations
          steps:
            - select: {provider: anthropic, model: claude-sonnet-4}
              expect: {target: {provider: anthropic}}
            - fail: {status: 429, message: rate_limit_error}
              expect: {target: {provider: anthropic-3, via: chain}}
        - name: fine
          steps:
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic}}
        """)
    result = run_file(path)
    assert (result.passed, result.failed) == (1, 1)
    bad = result.cases[0]
    assert not bad.passed
    assert bad.failures == [
        "step 2 (fail):",
        '  $.target.provider: expected "anthropic-3", got "anthropic-2"',
        '  $.target.via: expected "chain", got "pool"',
    ]


def test_a_step_name_is_used_in_failure_messages(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: named step
          steps:
            - name: first pick
              select: {pool: claude, model: m}
              expect: {candidates: [{provider: anthropic}]}
        """)
    (line, detail) = only_failures(run_file(path))
    assert line == "step 1 (first pick):"
    assert detail.startswith("  $.candidates: expected 1 element(s), got 4")


def test_a_request_error_fails_the_case_with_the_message(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: typo
          steps:
            - select: {pool: cluade, model: m}
              expect: {target: null}
        """)
    result = run_file(path)
    (failure,) = only_failures(result)
    assert failure.startswith("step 1 (select): there is no pool named 'cluade'; did you mean 'claude'?")
    assert result.failed == 1


def test_a_broken_test_file_is_reported_with_diagnostics_and_counted_as_failed(tmp_path: Path) -> None:
    path = write(tmp_path, "broken.test.yaml", "policy: {pools: [}\ncases: []\n")
    result = run_file(path)
    assert result.cases == []
    assert result.diagnostics
    assert result.diagnostics[0].severity == "error"
    assert result.diagnostics[0].file == str(path)
    assert result.diagnostics[0].line == 1
    assert (result.passed, result.failed) == (0, 1)


def test_a_schema_invalid_test_file_is_reported_and_counted_as_failed(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: bad step
          steps:
            - selekt: {pool: claude}
        """)
    result = run_file(path)
    assert result.cases == []
    assert any(d.severity == "error" for d in result.diagnostics)
    assert result.failed == 1


def test_an_invalid_inline_policy_is_reported_at_its_line_in_the_test_file(tmp_path: Path) -> None:
    path = write(tmp_path, "inline.test.yaml", """\
        policy:
          pools:
            - {name: p, baseProvider: anthropic, members: [anthropic], strategy: round-robbin}
        given: {at: '2026-04-06T10:00:00+00:00'}
        cases:
          - name: x
            steps:
              - select: {pool: p}
        """)
    result = run_file(path)
    assert result.failed == 1
    (failure,) = only_failures(result)
    assert failure.startswith(f"{path}:3:74: unknown-strategy: pool 'p': unknown strategy 'round-robbin' "
                              "(at $.policy.pools[0].strategy)")
    assert "did you mean 'round-robin'?" in failure


def test_a_missing_policy_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path, "t.test.yaml", """\
        policy: nowhere.yaml
        given: {at: '2026-04-06T10:00:00+00:00'}
        cases:
          - name: x
            steps:
              - select: {pool: p}
        """)
    result = run_file(path)
    assert result.cases == []
    assert result.failed == 1
    assert any("nowhere.yaml" in (d.file or "") + d.message for d in result.diagnostics)


def test_policy_path_is_relative_to_the_test_file_not_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "policies", "multi-pass.yaml", POLICY)
    path = write(tmp_path / "policies" / "tests", "rel.test.yaml", """\
        policy: ../multi-pass.yaml
        project: ../project.yaml
        given:
          at: '2026-04-06T10:00:00+00:00'
          auth: [anthropic, anthropic-2, anthropic-3]
        cases:
          - name: relative
            steps:
              - select: {pool: claude, model: m}
                expect: {target: {provider: anthropic-3}}
        """)
    write(tmp_path / "policies", "project.yaml", "allowedSubs: [anthropic-3]\n")
    monkeypatch.chdir(tmp_path)
    result = run_file(path)
    assert result.diagnostics == []
    assert (result.passed, result.failed) == (1, 0)


def test_set_replaces_auth_quota_at_cooldowns_and_env(tmp_path: Path) -> None:
    policy = """\
        policy:
          settings: {timezone: UTC}
          pools:
            - {name: q, baseProvider: anthropic, members: [anthropic, anthropic-2], strategy: quota-first}
        """
    path = case_file(tmp_path, """\
        - name: set everything
          steps:
            - select: {pool: q, model: m}
              expect:
                target: null
                skipped: [{provider: anthropic, reason: no-auth}, {provider: anthropic-2, reason: unknown}]
            - set: {auth: [anthropic, anthropic-2], env: {MULTI_SUB: "anthropic:1"}}
            - select: {pool: q, model: m}
              expect: {target: {provider: anthropic}, strategy: [{fallback: true}]}
            - set: {quota: {anthropic: 10, anthropic-2: 70}}
            - select: {pool: q, model: m}
              expect: {target: {provider: anthropic-2}, strategy: [{fallback: false}]}
            - set: {cooldowns: {anthropic-2: "2026-04-06T10:30:00Z"}}
            - select: {pool: q, model: m}
              expect: {target: {provider: anthropic}, skipped: [{provider: anthropic-2, reason: cooldown}]}
            - set: {at: "2026-04-06T10:30:00Z"}
            - select: {pool: q, model: m}
              expect: {at: "2026-04-06T10:30:00+00:00", target: {provider: anthropic-2}}
            - set: {auth: []}
            - select: {pool: q, model: m}
              expect: {target: null, retryAfter: null}
        """, given="given:\n  at: '2026-04-06T10:00:00+00:00'\n", policy=textwrap.dedent(policy))
    result = run_file(path)
    assert result.diagnostics == []
    assert only_failures(result) == []
    assert result.cases[0].passed


def test_set_cooldowns_replaces_the_given_ones(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: replace
          steps:
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic-2}}
            - set: {cooldowns: {}}
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic-2}, skipped: []}
            - set: {cooldowns: {anthropic-2: "2026-04-06T10:10:00Z"}}
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic-3}}
        """, given=(
        "given:\n"
        "  at: '2026-04-06T10:00:00+00:00'\n"
        "  auth: [anthropic, anthropic-2, anthropic-3, openai-codex]\n"
        "  cooldowns: {anthropic: '2026-04-06T10:10:00Z'}\n"
    ))
    result = run_file(path)
    assert only_failures(result) == []


def test_advance_moves_the_clock_and_state_carries_between_steps(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: advance
          steps:
            - select: {provider: anthropic, model: m}
            - fail: {status: 429, message: rate_limit_error}
              expect: {target: {provider: anthropic-2}}
            - succeed: {}
            - advance: 3m
            - advance: 60
            - select: {provider: anthropic, model: m}
              expect:
                at: "2026-04-06T10:04:00Z"
                target: {provider: anthropic-2}
                skipped: [{provider: anthropic, reason: cooldown, until: "2026-04-06T10:05:00Z"}]
            - advance: 1m
            - select: {provider: anthropic, model: m}
              expect: {target: {provider: anthropic, via: current}, skipped: []}
        """)
    assert only_failures(run_file(path)) == []


def test_each_case_starts_from_the_given_world(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: makes a cooldown
          steps:
            - select: {pool: claude, model: m}
            - fail: {status: 429, message: rate_limit_error}
              expect: {target: {provider: anthropic-2}}
        - name: sees none of it
          steps:
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic}, skipped: []}
        - name: its own given replaces a key
          given: {auth: [anthropic-3]}
          steps:
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic-3}}
        """)
    result = run_file(path)
    assert [c.passed for c in result.cases] == [True, True, True]


def test_without_a_policy_time_zone_local_time_is_the_offset_of_at(tmp_path: Path) -> None:
    # 10:30 at +05:30 is 05:00Z: a [11, 12) window in local time opens at 11:00+05:30 (05:30Z),
    # not at 11:00Z as it would if the schedule ran on UTC.
    path = write(tmp_path, "tz.test.yaml", """\
        policy:
          pools:
            - name: p
              baseProvider: anthropic
              members: [anthropic]
              strategy: scheduled
              memberSchedule: {anthropic: {role: preferred, windows: [{hours: [11, 12]}]}}
        given: {at: '2026-04-06T10:30:00+05:30', auth: [anthropic]}
        cases:
          - name: offset
            steps:
              - select: {pool: p, model: m}
                expect: {target: null, retryAfter: '2026-04-06T05:30:00Z'}
        """)
    assert only_failures(run_file(path)) == []


def test_discover_and_run_paths_find_test_files_in_folders(tmp_path: Path) -> None:
    case_file(tmp_path, """\
        - name: ok
          steps:
            - select: {pool: claude, model: m}
              expect: {target: {provider: anthropic}}
        """, name="sub/a.test.yaml", policy="policy: ../policy.yaml\n")
    write(tmp_path, "sub/notes.yaml", "not: a test\n")
    found = discover([tmp_path])
    assert [p.name for p in found] == ["a.test.yaml"]
    results = run_paths([tmp_path])
    assert [(r.passed, r.failed) for r in results] == [(1, 0)]
    assert run_paths([tmp_path], exclude=["a.test.yaml"]) == []


# --- known bugs ----------------------------------------------------------------------------------


def test_timestamps_without_seconds_compare_as_instants() -> None:
    assert match("2026-04-06T08:00Z", "2026-04-06T10:00:00+02:00") == []


def test_naive_expected_timestamps_are_the_tests_local_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from zoneinfo import ZoneInfo

    import policy_engine.common.timezones as timezones

    monkeypatch.setattr(timezones, "local_zone", lambda: ZoneInfo("America/New_York"))
    path = write(tmp_path, "naive.test.yaml", """\
        policy:
          pools: [{name: p, baseProvider: anthropic, members: [anthropic]}]
        given: {at: '2026-04-06T10:00:00+02:00', auth: [anthropic]}
        cases:
          - name: naive times are local to the test
            steps:
              - select: {pool: p, model: m}
              - fail: {status: 429, message: rate_limit_error}
                expect: {target: null, retryAfter: '2026-04-06T10:05:00'}
        """)
    assert only_failures(run_file(path)) == []


# --- hostile test files (issue 14) ----------------------------------------------------------------


@pytest.mark.parametrize("at", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00+00:00"])
def test_a_clock_out_of_range_is_a_diagnostic_with_file_and_line(tmp_path: Path, at: str) -> None:
    path = case_file(tmp_path, """\
        - name: one
          steps:
            - select: {chain: main}
        """, given=f"given:\n  at: '{at}'\n")
    result = run_file(path)
    assert result.cases == [] and result.failed == 1
    [diagnostic] = result.diagnostics
    assert (diagnostic.file, diagnostic.line, diagnostic.path) == (str(path), 3, ("given", "at"))
    assert "the year must be between 1970 and 9000" in diagnostic.message


def test_a_clock_out_of_range_in_a_step_is_located_too(tmp_path: Path) -> None:
    path = case_file(tmp_path, """\
        - name: one
          steps:
            - set: {at: '9999-12-31T23:00:00+00:00'}
        """)
    [diagnostic] = run_file(path).diagnostics
    assert diagnostic.path == ("cases", 0, "steps", 0, "set", "at") and diagnostic.line == 8


def test_a_fifo_policy_named_by_a_test_file_is_a_diagnostic(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.yaml")
    path = case_file(tmp_path, "- name: one\n  steps:\n    - select: {chain: main}\n", policy="policy: pipe.yaml\n")
    found = run_child("""
        import json, sys
        from policy_engine.testing.policy_tests import run_file
        result = run_file(sys.argv[1])
        print(json.dumps([d.format() for d in result.diagnostics]))
        """, str(path))
    [line] = found
    assert "pipe.yaml: file-unreadable:" in line and "FIFO" in line

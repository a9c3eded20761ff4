"""Schema and domain validation: every problem, at the right line, with a helpful message."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.common.suggestions import did_you_mean
from policy_engine.policy.days import check_days, expand_days
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import from_object, load_file, load_text
from policy_engine.policy.schema_validator import KINDS, Kind, schema, schema_text
from policy_engine.policy.validation import require_valid, validate_document

CONFORMANCE = Path(__file__).resolve().parents[2].parent / "shared" / "conformance"  # ../shared beside the repo

DESIGN_POLICY = """\
version: 1                      # optional; absent = 1
settings:                       # all optional; the values shown are the defaults, except timezone
  cooldown: 5m                  # cooldown after a rate limit (duration: 90s, 5m, 1h30m)
  timezone: Europe/Vienna       # schedules' clock; default: the machine's local zone
  selectorTimeout: 250ms        # hard limit for one custom selector call
subscriptions:                  # extra accounts; the base account of a provider is implicit (#1)
  - {provider: openai-codex, index: 2, label: work}        # name: openai-codex-2
  - {provider: anthropic, index: 2}
pools:
  - name: codex
    baseProvider: openai-codex
    members: [openai-codex, openai-codex-2, openai-codex-3]  # rotation order
    enabled: true
    strategy: scheduled          # round-robin (default) | quota-first | scheduled | custom | plugin name
    cooldown: 10m                # optional, overrides settings.cooldown
    memberSchedule:
      openai-codex:   {role: preferred, windows: [{hours: [9, 17], days: [mon, tue, wed, thu, fri]}]}
      openai-codex-2: {role: preferred, windows: [{cron: "0 17 * * *", duration: 16h}]}
      openai-codex-3: {role: overflow}
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2]
    enabled: true
    strategy: custom
    selectorScript: selectors/claude.py     # .py (sandboxed Python) or .js/.mjs/.cjs (node)
chains:
  - name: main
    enabled: true
    entries:
      - {pool: claude, model: claude-sonnet-4-5, enabled: true}
      - {pool: codex,  model: gpt-5,             enabled: true}
presets:
  - name: coding-premium
    enabled: true
    entries:
      - {provider: anthropic,         model: claude-sonnet-4-5, enabled: true}
      - {provider: openai-codex,      model: gpt-5,             enabled: true}
      - {provider: google-gemini-cli, model: gemini-2.5-pro,    enabled: true}
"""

DESIGN_TEST = """\
policy: ../multi-pass.yaml        # a path relative to this file, or an inline mapping
project: {allowedSubs: [anthropic-2]}   # optional; a path or an inline mapping
given:                            # the world, shared by all cases; a key in a case's `given` replaces it
  at: "2026-04-06T10:30:00+02:00" # the clock (local time = this offset)
  auth: [anthropic, anthropic-2]  # providers with credentials
  env: {MULTI_SUB: "anthropic:1"}
  cooldowns: {anthropic-3: "2026-04-06T10:33:00+02:00"}
  quota: {openai-codex: 58, openai-codex-2: 12}      # remaining percent, bottleneck
  models: {anthropic: [claude-sonnet-4-5]}           # catalogue per base provider (optional)
cases:
  - name: rotates within the pool on a 429
    steps:
      - select: {provider: anthropic, model: claude-sonnet-4-5}
        expect: {target: {provider: anthropic}}
      - fail: {provider: anthropic, status: 429, message: "rate_limit_error"}
        expect: {target: {provider: anthropic-2, model: claude-sonnet-4-5, via: pool}}
      - advance: 5m
      - fail: {provider: anthropic-2, status: 429, headers: {retry-after: "120"}}
        expect: {target: null}
"""


def validate(text: str, kind: Kind = "policy", tmp_path: Path | None = None, name: str = "p.yaml") -> list[Diagnostic]:
    if tmp_path is None:
        return validate_document(load_text(text, name), kind)
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return validate_document(load_file(path), kind)


def only(diagnostics: list[Diagnostic], code: str | None = None) -> Diagnostic:
    assert len(diagnostics) == 1, [d.format() for d in diagnostics]
    if code is not None:
        assert diagnostics[0].code == code, diagnostics[0].format()
    return diagnostics[0]


def pool_with(window: str) -> str:
    return (
        "pools:\n"
        "  - name: codex\n"
        "    baseProvider: openai-codex\n"
        "    members: [openai-codex]\n"
        "    strategy: scheduled\n"
        "    memberSchedule:\n"
        "      openai-codex:\n"
        "        role: preferred\n"
        f"        windows: [{window}]\n"
    )


WINDOW = ("pools", 0, "memberSchedule", "openai-codex", "windows", 0)


# --- valid documents -----------------------------------------------------------------------------


def conformance_files() -> list[Path]:
    return sorted(CONFORMANCE.glob("*.test.yaml"))


def test_the_conformance_files_are_found() -> None:
    if not CONFORMANCE.is_dir():
        pytest.skip("../shared/conformance is not beside this checkout")
    assert len(conformance_files()) >= 9


@pytest.mark.parametrize("path", conformance_files(), ids=lambda p: p.name)
def test_conformance_files_validate(path: Path) -> None:
    doc = load_file(path)
    assert validate_document(doc, "test") == []
    for key, kind in (("policy", "policy"), ("project", "project")):
        if isinstance(doc.data.get(key), dict):
            assert validate_document(doc.subdocument((key,)), kind) == []  # type: ignore[arg-type]


def test_design_example_policy_validates(tmp_path: Path) -> None:
    assert validate(DESIGN_POLICY, "policy", tmp_path, "multi-pass.yaml") == []


def test_design_example_test_file_validates(tmp_path: Path) -> None:
    assert validate(DESIGN_TEST, "test", tmp_path, "x.test.yaml") == []


def test_design_example_project_overlay_validates() -> None:
    assert validate("allowedSubs: [anthropic-2]\n", "project") == []
    assert validate("{}", "project") == []


def test_a_pi_multi_pass_json_file_is_a_valid_policy(tmp_path: Path) -> None:
    config = {
        "subscriptions": [{"provider": "openai-codex", "index": 2, "label": "work"}],
        "pools": [
            {
                "name": "codex",
                "baseProvider": "openai-codex",
                "members": ["openai-codex", "openai-codex-2"],
                "enabled": True,
                "strategy": "scheduled",
                "memberSchedule": {
                    "openai-codex": {
                        "role": "preferred",
                        "windows": [{"hours": [9, 17], "days": ["mon"], "dateRange": {"from": "2026-01-01"}}],
                    }
                },
            }
        ],
        "chains": [
            {"name": "main", "enabled": True, "entries": [{"pool": "codex", "model": "gpt-5", "enabled": True}]}
        ],
        "presets": [],
    }
    assert validate(json.dumps(config, indent=2), "policy", tmp_path, "multi-pass.json") == []


def test_every_setting_and_error_rule_field_is_accepted() -> None:
    text = """\
settings:
  cooldown: 90
  timezone: UTC
  selectorTimeout: 0.25
  turnTtl: 1h
  quotaTtl: 60s
  quotaBudget: 50ms
  rotateOn: [rate_limit, quota_exhausted, overloaded, auth]
  state: sqlite:///tmp/state.db
errorRules:
  - {provider: anthropic, status: 400, type: invalid_request_error, code: x, match: "out of extra usage",
     kind: quota_exhausted, rotate: true, retryAfter: 1h}
  - {status: [500, 502], kind: other}
pools:
  - {name: p, baseProvider: x, members: [x], options: {anything: [1, 2]}, timezone: America/New_York}
"""
    assert validate(text) == []


# --- the schema files ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
def test_schema_files_are_valid_draft_2020_12(kind: Kind) -> None:
    from jsonschema import Draft202012Validator

    document = json.loads(schema_text(kind))
    Draft202012Validator.check_schema(document)
    assert document["$id"] == f"https://mp-policy.dev/schemas/{kind}.schema.json"
    assert schema(kind) == document


def walk_properties(node: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        for name, value in node.get("properties", {}).items():
            yield f"{where}.{name}", value
        for key, value in node.items():
            yield from walk_properties(value, f"{where}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk_properties(value, f"{where}[{index}]")


@pytest.mark.parametrize("kind", KINDS)
def test_every_property_has_a_description_and_objects_are_closed(kind: Kind) -> None:
    document = schema(kind)
    definitions = {**schema("policy")["$defs"], **document.get("$defs", {})}
    for where, prop in walk_properties(document):
        if "$ref" in prop and "description" not in prop:
            target = definitions[prop["$ref"].rsplit("/", 1)[-1]]
            assert "description" in target, where
        elif "then" not in where:
            assert "description" in prop, where

    def closed(node: Any, where: str) -> None:
        if isinstance(node, dict):
            if "properties" in node and "then" not in where:
                assert node.get("additionalProperties") is False, where
            for key, value in node.items():
                closed(value, f"{where}/{key}")
        elif isinstance(node, list):
            for value in node:
                closed(value, where)

    closed(document, "")


def test_inlined_validator_agrees_with_the_referencing_one() -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    registry = Registry().with_resources((schema(k)["$id"], DRAFT202012.create_resource(schema(k))) for k in KINDS)
    bad = load_text(
        "policy:\n  pools: [{name: p, membrs: [], members: [], strategy: 1}]\n  version: 3\n"
        "project: {subscriptions: [], allowedSubs: [1]}\n"
        "cases: [{name: c, steps: [{select: {}, fail: {}}, {advance: -1}, {set: {at: 3}}]}]\n"
    )
    reference = Draft202012Validator(schema("test"), registry=registry)
    expected = sorted((tuple(e.absolute_path), str(e.validator)) for e in reference.iter_errors(bad.data))
    from policy_engine.policy.schema_validator import validator_for as _validator

    actual = sorted((tuple(e.absolute_path), str(e.validator)) for e in _validator("test").iter_errors(bad.data))
    assert actual == expected
    assert len(actual) >= 8


# --- messages ------------------------------------------------------------------------------------


def test_yaml_boolean_in_a_string_field(tmp_path: Path) -> None:
    text = "presets:\n  - name: off\n    entries: [{provider: anthropic, model: m}]\n"
    error = only(validate(text, "policy", tmp_path), "yaml-boolean")
    assert (error.file, error.line, error.col) == (str(tmp_path / "p.yaml"), 2, 11)
    assert error.path == ("presets", 0, "name")
    assert "'off' was read as the boolean false" in error.message
    assert error.hint is not None and 'quote it: "off"' in error.hint and "yes/no/on/off" in error.hint


def test_yaml_boolean_in_a_list_of_days() -> None:
    error = only(validate(pool_with("{days: [mon, on]}")), "yaml-boolean")
    assert error.path == (*WINDOW, "days", 1)
    assert "'on' was read as the boolean true" in error.message


def test_unknown_key_points_at_the_key_with_did_you_mean(tmp_path: Path) -> None:
    text = "pools:\n  - name: codex\n    baseProvider: openai-codex\n    members: [a]\n    membrs: [b]\n"
    error = only(validate(text, "policy", tmp_path), "unknown-key")
    assert (error.line, error.col) == (5, 5)
    assert error.path == ("pools", 0, "membrs")
    assert error.message == "unknown key 'membrs' in pool 'codex'"
    assert error.hint == "did you mean 'members'?"


def test_unknown_top_level_key_lists_the_allowed_ones() -> None:
    error = only(validate("version: 1\nfoo: 2\n"), "unknown-key")
    assert (error.line, error.col, error.path) == (2, 1, ("foo",))
    assert error.hint is not None and "pools" in error.hint and "errorRules" in error.hint


def test_snake_case_key_suggests_the_camel_case_one() -> None:
    error = only(validate("pools: [{name: p, base_provider: x, baseProvider: x, members: [x]}]\n"))
    assert error.hint == "did you mean 'baseProvider'?"


def test_several_errors_are_reported_at_once_in_source_order(tmp_path: Path) -> None:
    text = (
        "version: 2\n"
        "settings:\n"
        "  cooldown: 5 minutes\n"
        "  timezone: Europe/Viena\n"
        "pools:\n"
        "  - name: p\n"
        "    baseProvider: anthropic\n"
        "    members: []\n"
        "errorRules:\n"
        "  - {kind: ratelimit, match: '(unclosed'}\n"
    )
    errors = validate(text, "policy", tmp_path)
    assert [(e.code, e.line) for e in errors] == [
        ("version", 1),
        ("duration", 3),
        ("timezone", 4),
        ("min-items", 8),
        ("enum", 10),
        ("regex", 10),
    ]
    assert all(e.file == str(tmp_path / "p.yaml") for e in errors)
    assert errors[3].message == "Pool needs at least 1 member."
    assert errors[4].hint == "did you mean 'rate_limit'?"


def test_missing_required_key_names_the_object(tmp_path: Path) -> None:
    error = only(validate("pools:\n  - name: codex\n    members: [a]\n", "policy", tmp_path), "required")
    assert error.message == "pool 'codex' is missing the required key 'baseProvider'"
    assert (error.line, error.col, error.path) == (2, 5, ("pools", 0))


def test_enum_lists_the_allowed_values() -> None:
    text = pool_with("{hours: [9, 17]}").replace("role: preferred", "role: prefered")
    error = only(validate(text), "enum")
    assert "preferred, default, overflow" in error.message
    assert error.hint == "did you mean 'preferred'?"


def test_quoted_number_where_a_number_is_expected() -> None:
    error = only(validate("errorRules: [{status: '429', kind: rate_limit}]\n"), "type")
    assert error.hint == "write the number without quotes: 429"


def test_number_where_text_is_expected_suggests_quotes() -> None:
    error = only(validate("chains: [{name: c, entries: [{pool: p, model: 4.10}]}]\n"), "type")
    assert error.hint == 'quote it: "4.10"'


def test_duplicate_members() -> None:
    error = only(validate("pools: [{name: p, baseProvider: a, members: [a, b, a]}]\n"), "duplicate-item")
    assert error.path == ("pools", 0, "members", 2)


# --- windows -------------------------------------------------------------------------------------


def test_empty_hours_window(tmp_path: Path) -> None:
    error = only(validate(pool_with("{hours: [9, 9]}"), "policy", tmp_path), "hours")
    assert error.message == "empty window: [9, 9] never opens; write [0, 24] for the whole day"
    assert error.path == (*WINDOW, "hours")
    assert (error.line, error.col) == (9, 27)


@pytest.mark.parametrize(
    ("hours", "index"),
    [("[24, 5]", 0), ("[9, 25]", 1), ("[-1, 5]", 0)],
)
def test_hours_out_of_range(hours: str, index: int) -> None:
    error = only(validate(pool_with(f"{{hours: {hours}}}")), "hours")
    assert error.path == (*WINDOW, "hours", index)


def test_hours_need_two_numbers() -> None:
    assert only(validate(pool_with("{hours: [9]}")), "hours").path == (*WINDOW, "hours")
    assert only(validate(pool_with("{hours: [1, 2, 3]}")), "hours").path == (*WINDOW, "hours")
    assert only(validate(pool_with("{hours: [9, '17']}")), "hours").path == (*WINDOW, "hours", 1)


def test_whole_day_and_wrapping_hours_are_fine() -> None:
    assert validate(pool_with("{hours: [0, 24]}, {hours: [22, 6]}, {hours: [23, 0]}")) == []


def test_valid_day_ranges() -> None:
    assert validate(pool_with("{days: [mon-fri, sun]}, {days: [fri-mon]}, {days: [mon-sun]}")) == []


@pytest.mark.parametrize(
    ("day", "suggestion"),
    [("Mon", "mon"), ("monday", "mon"), ("Thurs", "thu"), ("Mon-Fri", "mon-fri"), ("frii", "fri")],
)
def test_misspelt_days_get_a_did_you_mean(day: str, suggestion: str) -> None:
    error = only(validate(pool_with(f"{{days: [tue, {day}]}}")), "days")
    assert error.path == (*WINDOW, "days", 1)
    assert day in error.message
    assert error.hint is not None and error.hint.startswith(f"did you mean '{suggestion}'?")


def test_bad_day_items() -> None:
    errors = validate(pool_with("{days: [xyz, mon-, tue-tue, mon-tue-wed]}"))
    assert [(e.code, e.path[-1]) for e in errors] == [("days", 0), ("days", 1), ("days", 2), ("days", 3)]


def test_check_days_and_expand_days() -> None:
    assert check_days(["mon", "fri-mon", 3]) == []
    [problem] = check_days(["mon", "Tue"])
    assert problem.index == 1 and problem.hint is not None and "'tue'" in problem.hint
    assert expand_days(["mon-fri"]) == ("mon", "tue", "wed", "thu", "fri")
    assert expand_days(["fri-mon"]) == ("mon", "fri", "sat", "sun")
    assert expand_days(["mon-sun"]) == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert expand_days(["sun-sat"]) == ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
    assert expand_days(["wed", "mon"]) == ("mon", "wed")
    with pytest.raises(ValueError, match="Mon"):
        expand_days(["Mon"])


def test_date_range_backwards_and_bad_dates() -> None:
    error = only(validate(pool_with("{dateRange: {from: 2026-06-30, to: 2026-06-01}}")), "date-range")
    assert error.path == (*WINDOW, "dateRange")
    error = only(validate(pool_with("{dateRange: {from: 2026-02-30}}")), "date")
    assert error.path == (*WINDOW, "dateRange", "from")
    error = only(validate(pool_with("{dateRange: {to: 1 June}}")), "date")
    assert "YYYY-MM-DD" in error.message


def test_bad_cron() -> None:
    error = only(validate(pool_with('{cron: "0 25 * * *", duration: 1h}')), "cron")
    assert error.path == (*WINDOW, "cron")
    error = only(validate(pool_with('{cron: "0 0 30 2 *", duration: 1h}')), "cron")
    assert "never fires" in error.message


def test_cron_window_needs_a_duration_and_no_hours_or_days() -> None:
    error = only(validate(pool_with('{cron: "0 22 * * fri"}')), "required")
    assert error.message == "a window with 'cron' also needs 'duration'"
    error = only(validate(pool_with("{duration: 2h}")), "required")
    assert error.message == "a window with 'duration' also needs 'cron'"
    errors = validate(pool_with('{cron: "0 22 * * *", duration: 2h, hours: [1, 2], days: [mon]}'))
    assert [(e.code, e.path[-1]) for e in errors] == [("window", "hours"), ("window", "days")]


# --- other formats -------------------------------------------------------------------------------


def test_bad_time_zone_with_did_you_mean(tmp_path: Path) -> None:
    error = only(validate("settings:\n  timezone: Europe/Viena\n", "policy", tmp_path), "timezone")
    assert (error.line, error.col, error.path) == (2, 13, ("settings", "timezone"))
    assert error.hint == "did you mean 'Europe/Vienna'?"


def test_unsafe_time_zone_names_are_just_unknown() -> None:
    for name in ("../../etc/passwd", "/etc/localtime", ""):
        assert only(validate(json.dumps({"settings": {"timezone": name}}))).code == "timezone"


@pytest.mark.parametrize("value", ["5 min", "1x", "-5m", "h"])
def test_bad_duration(value: str) -> None:
    error = only(
        validate(json.dumps({"pools": [{"name": "p", "baseProvider": "a", "members": ["a"], "cooldown": value}]}))
    )
    assert error.code == "duration"
    assert error.path == ("pools", 0, "cooldown")


def test_negative_number_duration() -> None:
    error = only(validate("settings: {cooldown: -5}\n"), "duration")
    assert "negative" in error.message


def test_invalid_regex_in_error_rule() -> None:
    error = only(validate("errorRules:\n  - {match: 'rate[limit', kind: rate_limit}\n"), "regex")
    assert error.path == ("errorRules", 0, "match")
    assert "regular expression" in error.message


def test_version_must_be_one() -> None:
    error = only(validate("version: 2\n"), "version")
    assert "version 1" in error.message


def test_error_kind_must_be_known_in_rotate_on() -> None:
    error = only(validate("settings: {rotateOn: [rate_limit, overload]}\n"), "enum")
    assert error.path == ("settings", "rotateOn", 1)
    assert error.hint == "did you mean 'overloaded'?"


# --- project overlays ----------------------------------------------------------------------------


def test_project_overlay_cannot_declare_subscriptions(tmp_path: Path) -> None:
    text = "allowedSubs: [anthropic-2]\nsubscriptions:\n  - {provider: anthropic, index: 3}\n"
    error = only(validate(text, "project", tmp_path, "multi-pass.yaml"))
    assert error.code == "project-subscriptions"
    assert (error.line, error.col, error.path) == (2, 1, ("subscriptions",))
    assert error.hint is not None and error.hint.startswith("accounts are global: declare subscriptions in the global")
    assert "allowedSubs" in error.hint


def test_project_overlay_checks_its_pools_like_a_policy() -> None:
    errors = validate("pools: [{name: p, baseProvider: a, members: [a], cooldown: soon}]\nallowedSub: [a]\n", "project")
    assert [e.code for e in errors] == ["duration", "unknown-key"]
    assert errors[1].hint == "did you mean 'allowedSubs'?"


# --- test files ----------------------------------------------------------------------------------


INLINE_TEST = """\
policy:
  pools:
    - name: p
      baseProvider: anthropic
      members: [anthropic]
      memberSchedule:
        anthropic: {role: preferred, windows: [{hours: [9, 9]}]}
      strategy: scheduled
      stratgy: x
given: {at: "2026-04-06T10:00:00+00:00"}
cases:
  - name: c
    steps:
      - select: {pool: p}
"""


def test_inline_policy_errors_use_the_test_file_lines(tmp_path: Path) -> None:
    path = tmp_path / "x.test.yaml"
    path.write_text(INLINE_TEST, encoding="utf-8")
    doc = load_file(path)
    errors = validate_document(doc, "test")
    assert [(e.code, e.file, e.line, e.col, e.path) for e in errors] == [
        ("hours", str(path), 7, 56, ("policy", "pools", 0, "memberSchedule", "anthropic", "windows", 0, "hours")),
        ("unknown-key", str(path), 9, 7, ("policy", "pools", 0, "stratgy")),
    ]
    assert validate_document(doc.subdocument(("policy",)), "policy") == errors


def test_test_file_steps() -> None:
    text = """\
cases:
  - name: c
    steps:
      - {select: {pool: p}, fail: {status: 429}}
      - {expect: {target: null}}
      - {selct: {pool: p}}
      - {advance: 5 minutes}
      - {succeed: }
      - {succeed: {}}
      - {set: {at: "2026-04-06T10:00:00", quota: {a: 120, b: {remaining: 5}}}}
      - {fail: {status: 429, headers: {retry-after: 120}}}
"""
    errors = validate(text, "test")
    assert [(e.code, e.line) for e in errors] == [
        ("step", 4),
        ("step", 5),
        ("unknown-key", 6),
        ("duration", 7),
        ("date-time", 10),
        ("range", 10),
        ("type", 11),
    ]
    assert "only one of" in errors[0].message and "select and fail" in errors[0].message
    assert "needs one of: select, fail, succeed, advance, set" in errors[1].message
    assert errors[2].hint == "did you mean 'select'?"
    assert errors[6].hint == 'quote it: "120"'


def test_test_file_needs_cases() -> None:
    error = only(validate("policy: p.yaml\n", "test"), "required")
    assert error.message == "the policy test is missing the required key 'cases'"


def test_test_file_policy_must_be_a_path_or_a_mapping() -> None:
    error = only(validate("policy: [a]\ncases: [{name: c, steps: [{advance: 1m}]}]\n", "test"), "type")
    assert "path to a policy file" in error.message


# --- wrong shapes never raise --------------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "[]", "hello", "42", "null", "- a\n- b\n"])
@pytest.mark.parametrize("kind", KINDS)
def test_wrong_top_level_types_are_diagnostics(text: str, kind: Kind) -> None:
    error = only(validate(text, kind))
    assert error.code == "type"
    assert error.path == ()
    assert error.file == "p.yaml"


@pytest.mark.parametrize(
    "data",
    [
        {"pools": [1, None, "x", [], {}]},
        {"pools": [{"memberSchedule": {"a": {"windows": [None, 1, {"hours": None, "days": "mon"}]}}}]},
        {"pools": {"name": "p"}, "chains": "x", "settings": [], "errorRules": [{"status": []}]},
        {"settings": {"timezone": 5, "cooldown": None, "rotateOn": "rate_limit"}},
        {"version": "1", "subscriptions": [{"provider": ""}]},
    ],
)
@pytest.mark.parametrize("kind", KINDS)
def test_garbage_gives_diagnostics_not_exceptions(data: dict[str, Any], kind: Kind) -> None:
    errors = validate_document(from_object(data), kind)
    assert errors
    assert all(isinstance(e, Diagnostic) and e.code and e.message for e in errors)


def test_null_json_document_is_not_called_empty(tmp_path: Path) -> None:
    error = only(validate("null", "policy", tmp_path, "p.json"), "type")
    assert error.message == "the policy must be a mapping, not null (an empty value)"
    assert (error.line, error.col) == (1, 1)


def test_empty_member_name_in_a_schedule() -> None:
    error = only(validate('pools: [{name: p, baseProvider: a, members: [a], memberSchedule: {"": {}}}]\n'), "key")
    assert error.message == "'memberSchedule' has an empty key"


def test_diagnostics_from_objects_have_paths_but_no_lines() -> None:
    error = only(
        validate_document(from_object({"pools": [{"name": "p", "baseProvider": "a", "members": []}]}), "policy")
    )
    assert (error.line, error.col, error.path, error.file) == (None, None, ("pools", 0, "members"), "<inline>")


# --- helpers -------------------------------------------------------------------------------------


def test_require_valid() -> None:
    doc = load_text("version: 1\n")
    assert require_valid(doc, "policy") is doc
    with pytest.raises(PolicyError) as caught:
        require_valid(load_text("version: 1\nsettings: {cooldown: x}\n"), "policy")
    assert caught.value.errors[0].code == "duration"


def test_did_you_mean() -> None:
    assert did_you_mean("membrs", ["name", "members"]) == "members"
    assert did_you_mean("BASE_PROVIDER", ["baseProvider"]) == "baseProvider"
    assert did_you_mean("zzz", ["name", "members"]) is None


def test_unknown_kind_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="kind"):
        validate_document(LoadedDocument(data={}, source="x"), "nonsense")  # type: ignore[arg-type]


def test_quota_endpoints_take_a_url_or_a_list_of_urls() -> None:
    ok = ("settings:\n  quotaEndpoints:\n    anthropic: https://proxy.example/anthropic\n"
          "    google-antigravity: [http://127.0.0.1:8080/a, https://b.example]\n")
    assert [d for d in validate(ok) if d.severity == "error"] == []
    bad = only(validate("settings:\n  quotaEndpoints:\n    anthropic: ftp://x\n"))
    assert bad.path == ("settings", "quotaEndpoints", "anthropic") and "http:// or https:// URL" in bad.message
    item = only(validate("settings:\n  quotaEndpoints:\n    anthropic: [https://a.example, 'no url']\n"))
    assert item.path == ("settings", "quotaEndpoints", "anthropic", 1)
    empty = only(validate("settings:\n  quotaEndpoints:\n    anthropic: []\n"))
    assert empty.path == ("settings", "quotaEndpoints", "anthropic")


# --- path-like fields that no file name can hold (issue 14, class 4) -------------------------------


@pytest.mark.parametrize(("text", "problem"), [
    ('"sel\\u0000ector.py"', "contains a NUL byte (at character 4)"),
    ('"sel\\udc80.py"', "contains a lone surrogate '\\udc80' (at character 4)"),
    ('"\\ud800"', "contains a lone surrogate '\\ud800' (at character 1)"),
])
def test_a_selector_script_no_file_can_be_named_by_is_an_error_at_the_field(text: str, problem: str) -> None:
    source = ('{\n "pools": [\n  {"name": "p", "baseProvider": "anthropic", "members": ["anthropic"],\n'
              f'   "strategy": "custom", "selectorScript": {text}}}\n ]\n}}\n')
    doc = load_text(source, "multi-pass.json")
    [found] = [d for d in validate_document(doc, "policy") if d.code == "path"]
    assert found.severity == "error" and found.path == ("pools", 0, "selectorScript")
    assert (found.line, found.col) == (4, 44)
    assert found.message.startswith(f"selectorScript {problem}") and found.message.endswith("cannot name a file")


def test_a_state_url_with_a_nul_byte_is_an_error_at_the_field() -> None:
    doc = load_text('settings:\n  state: "sqlite:///tmp/a\\0b.db"\n', "multi-pass.yaml")
    [found] = validate_document(doc, "policy")
    assert (found.code, found.path, found.line) == ("path", ("settings", "state"), 2)


def test_paths_in_a_policy_test_and_its_inline_policy_are_checked() -> None:
    text = json.dumps({"policy": {"settings": {"state": "sqlite:///x\udc80.db"}}, "project": "proj\u0000",
                       "given": {"at": "2026-01-01T00:00:00+00:00"}, "cases": []})
    found = [d for d in validate_document(load_text(text, "t.test.yaml"), "test") if d.code == "path"]
    assert sorted(d.path for d in found) == [("policy", "settings", "state"), ("project",)]
    assert all(d.line is not None for d in found)


def test_ordinary_paths_pass() -> None:
    doc = load_text('settings: {state: "sqlite:///~/état.db"}\npools:\n  - {name: p, baseProvider: anthropic, '
                    "members: [anthropic], strategy: custom, selectorScript: sélecteurs/p.py}\n")
    assert [d for d in validate_document(doc, "policy") if d.code == "path"] == []


# --- silent accepts (issue 14, class 9) ------------------------------------------------------------


@pytest.mark.parametrize("key", ["turnTtl", "selectorTimeout", "quotaTtl"])
@pytest.mark.parametrize("value", ["0", "0s", "0ms", "0.0"])
def test_a_zero_turn_ttl_selector_timeout_or_quota_ttl_is_a_located_error(key: str, value: str) -> None:
    error = only(validate(f"settings:\n  {key}: {value}\n"), "zero-duration")
    assert (error.line, error.col, error.path) == (2, 3 + len(key) + 2, ("settings", key))
    assert error.message.startswith(f"settings.{key} is 0: ")
    assert error.hint is not None and error.hint.startswith(f"write a duration of more than 0, or leave {key} out")


def test_a_negative_turn_ttl_is_refused_too() -> None:
    assert only(validate("settings: {turnTtl: -5}\n")).code == "duration"
    assert only(validate("settings: {turnTtl: -5m}\n")).code == "duration"


def test_zero_turn_ttl_in_a_project_overlay_and_in_a_test_policy() -> None:
    assert only(validate("settings: {turnTtl: 0}\n", "project"), "zero-duration").path == ("settings", "turnTtl")
    text = ('policy: {settings: {selectorTimeout: 0}}\ngiven: {at: "2026-04-06T10:30:00+02:00"}\n'
            "cases: [{name: c, steps: [{select: {provider: anthropic}}]}]\n")
    assert only(validate(text, "test"), "zero-duration").path == ("policy", "settings", "selectorTimeout")
    # A 0 cooldown (rest not at all: the turn still moves on), quotaBudget (never wait for a check) or an
    # error rule's retryAfter (add no wait) means something; so does every other positive duration.
    text = ("settings: {cooldown: 0, quotaBudget: 0s, turnTtl: 1s, selectorTimeout: 1ms, quotaTtl: 1s}\n"
            "pools: [{name: p, baseProvider: anthropic, members: [anthropic], cooldown: 0}]\n"
            "errorRules: [{status: 400, kind: other, retryAfter: 0}]\n")
    assert validate(text) == []


def test_an_empty_window_is_a_located_error_in_yaml() -> None:
    error = only(validate(pool_with("{}")), "empty-window")
    assert (error.line, error.path, error.severity) == (9, WINDOW, "error")
    assert error.message == "an empty window {} says nothing about when it is open"
    assert error.hint is not None and "leave out windows" in error.hint
    # DESIGN §3: a window without hours lasts the whole of each listed day (and each day of a date range)
    assert validate(pool_with("{days: [mon]}")) == []
    assert validate(pool_with("{dateRange: {from: 2026-06-01, to: 2026-06-30}}")) == []
    assert validate(pool_with("{hours: [0, 24]}")) == []


def test_an_empty_window_in_a_multi_pass_json_is_a_warning_as_pi_reads_it(tmp_path: Path) -> None:
    policy = {"pools": [{"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"],
                         "strategy": "scheduled",
                         "memberSchedule": {"openai-codex": {"role": "preferred", "windows": [{}]}}}]}
    error = only(validate(json.dumps(policy, indent=2), tmp_path=tmp_path, name="multi-pass.json"), "empty-window")
    assert (error.severity, error.path) == ("warning", WINDOW)
    assert "open all the time" in error.message and "mp-policy import" in (error.hint or "")


@pytest.mark.parametrize(("window", "code", "key", "words"), [
    ("{days: []}", "days", "days", "an empty days list [] names no day"),
    ("{hours: [9, 17], dateRange: {}}", "date-range", "dateRange", "an empty dateRange {} names no date"),
])
def test_an_empty_days_list_or_date_range_is_a_located_error_in_yaml(window: str, code: str, key: str,
                                                                    words: str) -> None:
    """They read as every day (every date): the opposite of what they seem to say, like an empty window."""
    error = only(validate(pool_with(window)), code)
    assert (error.path, error.severity) == ((*WINDOW, key), "error")
    assert error.message.startswith(words) and error.hint


def test_an_empty_days_list_in_a_multi_pass_json_is_a_warning(tmp_path: Path) -> None:
    policy = {"pools": [{"name": "codex", "baseProvider": "openai-codex", "members": ["openai-codex"],
                         "strategy": "scheduled",
                         "memberSchedule": {"openai-codex": {"role": "preferred", "windows": [{"days": []}]}}}]}
    error = only(validate(json.dumps(policy, indent=2), tmp_path=tmp_path, name="multi-pass.json"), "days")
    assert error.severity == "warning" and "read as no limit at all" in error.message


def test_a_cron_window_of_zero_duration_is_a_located_error() -> None:
    error = only(validate(pool_with('{cron: "0 9 * * *", duration: 0s}')), "zero-duration")
    assert (error.path, error.message) == ((*WINDOW, "duration"), "a cron window lasting 0 never opens")


@pytest.mark.parametrize(("text", "path", "character", "position"), [
    ('pools: [{name: "claude\\e[2J", baseProvider: anthropic, members: [anthropic]}]\n', ("pools", 0, "name"),
     "U+001B (ESC)", 7),
    ('pools: [{name: p, baseProvider: anthropic, members: ["anthropic\\r"]}]\n', ("pools", 0, "members", 0),
     "U+000D (CR)", 10),
    ('pools: [{name: p, baseProvider: "anthropic\\a", members: [anthropic]}]\n', ("pools", 0, "baseProvider"),
     "U+0007 (BEL)", 10),
    ('subscriptions: [{provider: anthropic, label: "work\\u202e"}]\n', ("subscriptions", 0, "label"),
     "U+202E (RIGHT-TO-LEFT OVERRIDE)", 5),
    ('subscriptions: [{provider: "anthropic\\t"}]\n', ("subscriptions", 0, "provider"), "U+0009 (TAB)", 10),
    ('chains: [{name: "c\\u2066", entries: [{pool: p, model: m}]}]\n', ("chains", 0, "name"),
     "U+2066 (LEFT-TO-RIGHT ISOLATE)", 2),
    ('presets: [{name: p, entries: [{provider: anthropic, model: "m\\x9b31m"}]}]\n',
     ("presets", 0, "entries", 0, "model"), "U+009B (CSI)", 2),
    ('pools: [{name: p, baseProvider: anthropic, members: [anthropic], strategy: "x\\n"}]\n',
     ("pools", 0, "strategy"), "U+000A (LF)", 2),
    ('errorRules: [{provider: "anthropic\\x7f", kind: other}]\n', ("errorRules", 0, "provider"), "U+007F (DEL)", 10),
])
def test_control_characters_in_names_are_located_errors(text: str, path: tuple[Any, ...], character: str,
                                                         position: int) -> None:
    error = only([d for d in validate(text) if d.code == "control-character"])
    assert error.path == path and error.line == 1
    assert f"contains {character} at character {position} of " in error.message
    assert error.hint is not None and error.hint.startswith("names are printed on terminals")


def test_a_member_schedule_key_with_an_escape_is_located_at_the_key() -> None:
    text = ('pools: [{name: p, baseProvider: anthropic, members: [anthropic], strategy: scheduled,\n'
            '         memberSchedule: {"anthropic\\e[2J": {role: overflow}}}]\n')
    error = only(validate(text), "control-character")
    assert error.path == ("pools", 0, "memberSchedule", "anthropic\x1b[2J") and error.line == 2
    assert "U+001B (ESC) at character 10" in error.message
    assert "\\x1b" in error.format() and "\x1b" not in error.format()


def test_control_characters_in_allowed_subs_and_in_test_case_names() -> None:
    error = only(validate('allowedSubs: ["anthropic-2\\u202e"]\n', "project"), "control-character")
    assert error.path == ("allowedSubs", 0)
    text = ('policy: {}\ngiven: {at: "2026-04-06T10:30:00+02:00"}\n'
            'cases: [{name: "ok\\r", steps: [{name: "s\\e", select: {provider: anthropic}}]}]\n')
    found = {d.path: d.code for d in validate(text, "test")}
    assert found == {("cases", 0, "name"): "control-character", ("cases", 0, "steps", 0, "name"): "control-character"}
    text = ("subscriptions: [{provider: anthropic, index: 2, label: Büro (Wien) – privat 日本}]\n"
            "pools: [{name: Überlauf Pool, baseProvider: anthropic, members: [anthropic, anthropic-2]}]\n")
    assert validate(text) == []

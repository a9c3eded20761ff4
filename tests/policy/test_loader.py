"""Loading YAML and JSON files with source positions, and refusing what cannot be trusted."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from child_process import run_child

from policy_engine.common.diagnostics import Diagnostic, PolicyError
from policy_engine.policy.document import LoadedDocument
from policy_engine.policy.loader import from_object, load_file, load_text


def write(tmp_path: Path, name: str, text: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def load_errors(path: Path, **kwargs: object) -> list[Diagnostic]:
    with pytest.raises(PolicyError) as caught:
        load_file(path, **kwargs)  # type: ignore[arg-type]
    return caught.value.diagnostics


POLICY = """\
version: 1
settings:
  cooldown: 5m
pools:
  - name: codex
    baseProvider: openai-codex
    members: [openai-codex, openai-codex-2]
"""


# --- positions -----------------------------------------------------------------------------------


def test_positions_of_values_and_keys_are_one_based(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "p.yaml", POLICY))
    assert doc.data["pools"][0]["members"] == ["openai-codex", "openai-codex-2"]
    assert doc.position(()) == (1, 1)
    assert doc.position(("settings", "cooldown")) == (3, 13)
    assert doc.key_position(("settings", "cooldown")) == (3, 3)
    assert doc.position(("pools", 0)) == (5, 5)
    assert doc.position(("pools", 0, "members", 1)) == (7, 29)
    assert doc.key_position(("pools", 0, "members")) == (7, 5)
    assert doc.source == str(tmp_path / "p.yaml")
    assert doc.path == (tmp_path / "p.yaml").resolve()
    assert doc.root == ()


def test_position_falls_back_to_the_nearest_ancestor(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "p.yaml", POLICY))
    assert doc.position(("pools", 0, "strategy")) == (5, 5)
    assert doc.key_position(("pools", 0, "strategy")) == (5, 5)
    assert doc.position(("nothing", "here")) == (1, 1)


def test_columns_count_characters_not_bytes() -> None:
    doc = load_text("é: [ab, cd]\n", "<inline>")
    assert doc.position(("é", 1)) == (1, 9)


def test_subdocument_keeps_the_file_positions_and_the_full_path(tmp_path: Path) -> None:
    text = "policy:\n  pools:\n    - name: p\n      members: [a]\ncases: []\n"
    doc = load_file(write(tmp_path, "x.test.yaml", text))
    policy = doc.subdocument(("policy",))
    assert policy.data == {"pools": [{"name": "p", "members": ["a"]}]}
    assert policy.root == ("policy",)
    assert policy.source == doc.source
    assert policy.path == doc.path
    assert policy.position(()) == (2, 3)
    assert policy.position(("pools", 0, "members", 0)) == (4, 17)
    assert policy.key_position(("pools", 0, "members")) == (4, 7)
    diagnostic = policy.diagnostic("x", "message", ("pools", 0, "members"), at_key=True)
    assert diagnostic.path == ("policy", "pools", 0, "members")
    assert (diagnostic.file, diagnostic.line, diagnostic.col) == (doc.source, 4, 7)


def test_from_object_has_no_positions() -> None:
    doc = from_object({"version": 1})
    assert isinstance(doc, LoadedDocument)
    assert doc.source == "<inline>"
    assert doc.position(("version",)) is None
    assert doc.diagnostic("x", "m", ("version",)).line is None


# --- values --------------------------------------------------------------------------------------


def test_timestamps_stay_strings() -> None:
    doc = load_text(
        "at: 2026-04-06T10:30:00+02:00\ndateRange: {from: 2026-06-01, to: 2026-06-30}\nspaced: 2026-04-06 10:30:00\n"
    )
    assert doc.data == {
        "at": "2026-04-06T10:30:00+02:00",
        "dateRange": {"from": "2026-06-01", "to": "2026-06-30"},
        "spaced": "2026-04-06 10:30:00",
    }


def test_yaml_booleans_stay_booleans_and_keep_their_source_text() -> None:
    doc = load_text("a: off\nb: yes\nc: On\nd: true\ne: 'off'\n")
    assert doc.data == {"a": False, "b": True, "c": True, "d": True, "e": "off"}
    assert doc.scalar_text[("a",)] == "off"
    assert doc.scalar_text[("c",)] == "On"
    assert ("e",) not in doc.scalar_text


def test_numbers_read_as_in_json_and_times_of_day_stay_strings() -> None:
    doc = load_text("a: 1e5\nb: 1.5E-3\nc: 10:30\nd: 42\ne: ~\nf:\ng: '='\nh: =\n")
    assert doc.data == {"a": 100000.0, "b": 0.0015, "c": "10:30", "d": 42, "e": None, "f": None, "g": "=", "h": "="}
    assert doc.scalar_text[("a",)] == "1e5"


def test_anchors_aliases_and_merge_keys_are_allowed_in_moderation() -> None:
    text = (
        "defaults: &d {baseProvider: anthropic, enabled: true}\n"
        "pools:\n"
        "  - {<<: *d, name: a, members: [anthropic]}\n"
        "  - <<: *d\n"
        "    name: b\n"
        "    enabled: false\n"
        "    members: &m [anthropic-2]\n"
        "  - {<<: [*d], name: c, members: *m}\n"
    )
    doc = load_text(text)
    pools = doc.data["pools"]
    assert pools[0] == {"baseProvider": "anthropic", "enabled": True, "name": "a", "members": ["anthropic"]}
    assert pools[1]["enabled"] is False
    assert pools[2]["members"] == ["anthropic-2"]
    assert pools[2]["members"] is not pools[1]["members"]
    assert doc.position(("pools", 1, "name")) == (5, 11)
    assert doc.position(("pools", 0, "baseProvider")) == (1, 29)  # where the merged value is written


def test_json_file_with_tabs_and_escaped_slashes(tmp_path: Path) -> None:
    text = '{\n\t"pools": [\n\t\t{"name": "a\\/b", "members": ["x"], "n": 1e3}\n\t]\n}\n'
    doc = load_file(write(tmp_path, "multi-pass.json", text))
    assert doc.data == {"pools": [{"name": "a/b", "members": ["x"], "n": 1000.0}]}
    assert doc.position(("pools", 0, "name")) == (3, 12)


def test_json_escapes_libyaml_refuses_fall_back_to_json(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "p.json", '{"label": "\\ud83d\\ude00", "n": 2}'))
    assert doc.data == {"label": "\U0001f600", "n": 2}


def test_empty_file_is_null(tmp_path: Path) -> None:
    assert load_file(write(tmp_path, "empty.yaml", "")).data is None
    assert load_file(write(tmp_path, "comment.yaml", "# nothing yet\n")).data is None


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "bom.json", b'\xef\xbb\xbf{"version": 1}'))
    assert doc.data == {"version": 1}


# --- refusals ------------------------------------------------------------------------------------


def test_duplicate_key_in_yaml(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "pools:\n  - name: a\n    members: [x]\n    name: b\n")
    [error] = load_errors(path)
    assert error.code == "duplicate-key"
    assert (error.file, error.line, error.col) == (str(path), 4, 5)
    assert error.path == ("pools", 0, "name")
    assert "'name'" in error.message and "line 2" in error.message


def test_duplicate_key_in_json(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{\n  "version": 1,\n  "pools": [],\n  "version": 1\n}\n')
    [error] = load_errors(path)
    assert error.code == "duplicate-key"
    assert (error.line, error.col) == (4, 3)
    assert error.path == ("version",)
    assert "'version'" in error.message and "line 2" in error.message


def test_duplicate_key_in_json_that_only_json_can_read(tmp_path: Path) -> None:
    path = write(tmp_path, "p.json", '{"a": "\\ud83d\\ude00",\n "a": 2}')
    [error] = load_errors(path)
    assert error.code == "duplicate-key"
    assert (error.line, error.col) == (2, 2)
    assert "line 1" in error.message


def test_billion_laughs_is_refused_without_expanding(tmp_path: Path) -> None:
    lines = ['lol0: &lol0 "lol"']
    for level in range(1, 10):
        refs = ", ".join([f"*lol{level - 1}"] * 9)
        lines.append(f"lol{level}: &lol{level} [{refs}]")
    errors = load_errors(write(tmp_path, "bomb.yaml", "\n".join(lines) + "\n"))
    assert [e.code for e in errors] == ["alias-limit"]
    assert errors[0].line is not None
    assert "alias" in errors[0].message


def test_an_alias_inside_its_own_anchor_is_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        load_text("a: &x [1, *x]\n")
    assert caught.value.diagnostics[0].code == "alias-limit"
    assert caught.value.diagnostics[0].path == ("a", 1)


def test_file_too_large_is_refused_before_reading(tmp_path: Path) -> None:
    path = write(tmp_path, "big.yaml", "a: " + "x" * 2000 + "\n")
    [error] = load_errors(path, max_bytes=1000)
    assert error.code == "file-too-large"
    assert error.file == str(path)
    assert "1,000" in error.message


def test_default_size_limit_is_one_mebibyte(tmp_path: Path) -> None:
    path = write(tmp_path, "big.json", "[" + "1," * 600_000 + "1]")
    assert [e.code for e in load_errors(path)] == ["file-too-large"]


def test_missing_file(tmp_path: Path) -> None:
    [error] = load_errors(tmp_path / "nope.yaml")
    assert error.code == "file-not-found"
    assert error.file == str(tmp_path / "nope.yaml")


def test_directory_is_not_a_file(tmp_path: Path) -> None:
    [error] = load_errors(tmp_path)
    assert error.code == "file-unreadable"


def test_multiple_documents(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "version: 1\n---\nversion: 1\n")
    [error] = load_errors(path)
    assert error.code == "multiple-documents"
    assert (error.line, error.col) == (2, 1)


def test_python_tags_are_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        load_text("a: !!python/object/apply:os.system ['true']\nb: !!binary aGk=\n")
    errors = caught.value.diagnostics
    assert [(e.code, e.line, e.path) for e in errors] == [("parse-error", 1, ("a",)), ("parse-error", 2, ("b",))]
    assert "!!python/object/apply:os.system" in errors[0].message


def test_non_string_keys_are_refused_with_a_hint_to_quote() -> None:
    with pytest.raises(PolicyError) as caught:
        load_text("env:\n  on: x\n  1: y\n")
    errors = caught.value.diagnostics
    assert [(e.code, e.line, e.col) for e in errors] == [("non-string-key", 2, 3), ("non-string-key", 3, 3)]
    assert errors[0].hint == 'quote it: "on"'
    assert "boolean" in errors[0].message


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(PolicyError) as caught:
        load_text("a: 1\nb: {x: 1, x: 2}\na: 2\nyes: 3\n")
    assert [(e.code, e.line) for e in caught.value.diagnostics] == [
        ("duplicate-key", 2),
        ("duplicate-key", 3),
        ("non-string-key", 4),
    ]


def test_parse_error_has_the_parser_position_and_a_hint(tmp_path: Path) -> None:
    [error] = load_errors(write(tmp_path, "p.yaml", "pools:\n\t- name: a\n"))
    assert error.code == "parse-error"
    assert (error.line, error.col) == (2, 1)
    assert error.hint is not None and "tab" in error.hint


def test_unquoted_colon_value_is_a_parse_error(tmp_path: Path) -> None:
    [error] = load_errors(write(tmp_path, "p.yaml", "a: 1\nmessage: error: try again\n"))
    assert error.code == "parse-error"
    assert error.line == 2
    assert error.hint is not None and "quoted" in error.hint


def test_invalid_json_reports_the_json_position(tmp_path: Path) -> None:
    [error] = load_errors(write(tmp_path, "p.json", '{\n  "a": 1,\n  "b": \n}\n'))
    assert error.code == "parse-error"
    assert error.line == 4
    assert "JSON" in error.message


def test_text_that_is_not_utf8(tmp_path: Path) -> None:
    [error] = load_errors(write(tmp_path, "p.yaml", b"a: 1\nb: caf\xe9\n"))
    assert error.code == "parse-error"
    assert (error.line, error.col) == (2, 7)


def test_deep_nesting_is_refused() -> None:
    with pytest.raises(PolicyError) as caught:
        load_text("[" * 500 + "]" * 500)
    assert caught.value.diagnostics[0].code == "nesting-limit"


def test_loaded_json_round_trips(tmp_path: Path) -> None:
    data = {"version": 1, "pools": [{"name": "p", "members": ["a", "b"], "enabled": True, "n": None}]}
    doc = load_file(write(tmp_path, "p.json", json.dumps(data, indent=2)))
    assert doc.data == data


def test_json_trailing_commas_and_comments_get_a_hint(tmp_path: Path) -> None:
    from policy_engine.common.diagnostics import PolicyError
    from policy_engine.policy.loader import load_file

    for text, words in (('{"pools": [1,2,],\n}', "comma"), ('{\n  // note\n  "pools": []\n}', "comments")):
        path = tmp_path / "multi-pass.json"
        path.write_text(text, encoding="utf-8")
        with pytest.raises(PolicyError) as info:
            load_file(path)
        hint = info.value.diagnostics[0].hint
        assert hint is not None and words in hint


# --- the bounded reader (issue 14) ----------------------------------------------------------------


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "p.yaml")
    found = run_child("""
        import json, sys
        from policy_engine.common.diagnostics import PolicyError
        from policy_engine.policy.loader import load_file
        try:
            load_file(sys.argv[1])
        except PolicyError as exc:
            print(json.dumps([[d.code, d.message] for d in exc.diagnostics]))
        """, str(tmp_path / "p.yaml"))
    assert found == [["file-unreadable", f"{tmp_path / 'p.yaml'} is a FIFO (named pipe), not a regular file"]]


def test_a_device_is_refused_as_a_device_not_as_too_large(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").symlink_to("/dev/zero")
    [error] = load_errors(tmp_path / "p.yaml")
    assert error.code == "file-unreadable" and "character device" in error.message


def test_a_symlink_loop_is_named(tmp_path: Path) -> None:
    (tmp_path / "p.yaml").symlink_to("p.yaml")
    [error] = load_errors(tmp_path / "p.yaml")
    assert error.code == "file-unreadable" and "symbolic link loop" in error.message and error.hint


def test_the_cap_follows_the_kind_of_file(tmp_path: Path) -> None:
    from policy_engine.common.bounded_read import FileKind

    small = FileKind("a tiny thing", 10, "keep it tiny")
    path = write(tmp_path, "p.yaml", "version: 1\n# more than ten bytes\n")
    [error] = load_errors(path, kind=small)
    assert error.code == "file-too-large" and "too large to be a tiny thing" in error.message
    assert error.hint == "keep it tiny"


def test_a_lone_surrogate_escape_in_json_keeps_positions(tmp_path: Path) -> None:
    doc = load_file(write(tmp_path, "p.json", '{\n  "pools": [\n    {"selectorScript": "a\\udc80.py"}\n  ]\n}'))
    assert doc.data == {"pools": [{"selectorScript": "a\udc80.py"}]}
    assert doc.position(("pools", 0, "selectorScript")) == (3, 24)

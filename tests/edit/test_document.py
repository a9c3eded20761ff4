"""PolicyDocument: round-trip edits of YAML (comments, order, formatting kept) and JSON, checks, safe writes."""

from __future__ import annotations

import difflib
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest
from child_process import run_child

from policy_engine.edit.document import (
    BlockList,
    BlockMap,
    FileChangedError,
    FlowList,
    FlowMap,
    PolicyDocument,
    UnreadableFileError,
    UnsafeTargetError,
    unified_diff,
)
from policy_engine.edit.yaml_text import Indentation, detect_indentation, merge_text
from policy_engine.policy.loader import load_text

REPO = Path(__file__).resolve().parents[2]

#: A policy written by hand: a file comment, a document start, aligned values and comments, quotes,
#: blank lines between entries, comment lines above entries and inside them.
COMMENTED = """\
# My routing policy. Keep it short.
---
version: 1
settings:
  cooldown:   5m          # aligned by hand
  timezone: "Europe/Vienna"

subscriptions:
  - {provider: openai-codex, index: 2, label: work}     # the company account
  - {provider: openai-codex, index: 3, label: personal}
  - {provider: anthropic, index: 2}

pools:
  # Claude: stay on one account until it is rate-limited.
  - name: claude
    baseProvider: anthropic
    members: [anthropic, anthropic-2]
    enabled: true

  # Codex: office hours first.
  # Two lines of comment.
  - name: codex
    baseProvider: openai-codex
    members: [openai-codex, openai-codex-2, openai-codex-3]
    enabled: true
    strategy: scheduled
    memberSchedule:
      openai-codex:   {role: preferred, windows: [{hours: [9, 17], days: [mon-fri]}]}
      openai-codex-3: {role: overflow}
    # selectorScript: maybe later

  - name: gemini
    baseProvider: google-gemini-cli
    members: [google-gemini-cli]
    enabled: true

# Chains fall back from pool to pool.
chains:
  - name: main
    enabled: true
    entries:
      - {pool: claude, model: "claude-sonnet-4-5", enabled: true}   # first
      - {pool: codex, model: 'gpt-5', enabled: true}
      - {pool: gemini, model: gemini-2.5-pro, enabled: true}

presets:
  - name: coding-premium
    enabled: true
    entries:
      - {provider: anthropic, model: claude-sonnet-4-5, enabled: true}
"""


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(lines removed from ``old``, lines added in ``new``), by a line diff: everything else is untouched."""
    a, b = old.splitlines(), new.splitlines()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added


def open_text(tmp_path: Path, text: str, name: str = "multi-pass.yaml", kind: str = "policy") -> PolicyDocument:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return PolicyDocument.open(path, kind)  # type: ignore[arg-type]


def data_of(text: str) -> Any:
    return load_text(text).data


# --------------------------------------------------------------------------------- merge_text


def test_merge_text_applies_the_edit_and_keeps_the_original_form_elsewhere() -> None:
    original = "a:   1   # aligned\nb: 2\n---\nc: 3\n"
    base = "a: 1     # aligned\nb: 2\nc: 3\n"       # what a re-dump makes of it
    edited = "a: 1     # aligned\nb: 20\nc: 3\n"
    assert merge_text(original, base, edited) == "a:   1   # aligned\nb: 20\n---\nc: 3\n"


def test_merge_text_without_an_edit_is_the_original() -> None:
    assert merge_text("x:  1\n", "x: 1\n", "x: 1\n") == "x:  1\n"


def test_merge_text_takes_the_edit_on_a_reformatted_line() -> None:
    assert merge_text("x:  1\ny: 2\n", "x: 1\ny: 2\n", "x: 5\ny: 2\n") == "x: 5\ny: 2\n"


def test_merge_text_keeps_insertions_in_place() -> None:
    original = "k:    [a]\nz: 1\n"
    base = "k: [a]\nz: 1\n"
    edited = "k: [a]\nn: new\nz: 1\n"
    assert merge_text(original, base, edited) == "k:    [a]\nn: new\nz: 1\n"


# ------------------------------------------------------------------------------ indentation


@pytest.mark.parametrize(("text", "expected"), [
    ("pools:\n  - name: a\n    members: [x]\n", Indentation(2, 2)),
    ("pools:\n- name: a\n  members: [x]\nsettings:\n  cooldown: 5m\n", Indentation(2, 0)),
    ("settings:\n    cooldown: 5m\npools:\n    - name: a\n      memberSchedule:\n          x: {role: overflow}\n",
     Indentation(4, 4)),
    ("", Indentation(2, 2)),
])
def test_detect_indentation(text: str, expected: Indentation) -> None:
    assert detect_indentation(text) == expected


@pytest.mark.parametrize("text", [
    "pools:\n- name: a\n  baseProvider: anthropic\n  members: [anthropic]\n",
    "pools:\n    - name: a\n      baseProvider: anthropic\n      members: [anthropic]\n",
])
def test_new_entries_follow_the_file_indentation(tmp_path: Path, text: str) -> None:
    doc = open_text(tmp_path, text)
    doc.append(("pools",), BlockMap(name="b", baseProvider="anthropic", members=FlowList(["anthropic-2"]),
                                    memberSchedule=BlockMap({"anthropic-2": FlowMap(role="overflow")})))
    first_lines = text.splitlines()
    new_lines = doc.text.splitlines()
    dash = first_lines[1][: len(first_lines[1]) - len(first_lines[1].lstrip())]
    key = first_lines[2][: len(first_lines[2]) - len(first_lines[2].lstrip())]
    assert new_lines[4] == f"{dash}- name: b"
    assert new_lines[5] == f"{key}baseProvider: anthropic"
    assert data_of(doc.text)["pools"][1]["memberSchedule"] == {"anthropic-2": {"role": "overflow"}}


# ----------------------------------------------------------------------- YAML: removing entries


def test_removing_a_middle_entry_takes_its_comments_and_leaves_everything_else(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("pools", 1))
    codex = COMMENTED[COMMENTED.index("\n  # Codex: office hours"):COMMENTED.index("\n  - name: gemini")]
    assert "# selectorScript: maybe later" in codex  # a comment inside the entry goes with it
    assert doc.text == COMMENTED.replace(codex, "")
    assert [p["name"] for p in doc.data["pools"]] == ["claude", "gemini"]


def test_removing_the_first_entry_keeps_the_next_entrys_comment(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("pools", 0))
    claude = ("  # Claude: stay on one account until it is rate-limited.\n  - name: claude\n"
              "    baseProvider: anthropic\n    members: [anthropic, anthropic-2]\n    enabled: true\n\n")
    assert claude in COMMENTED
    assert doc.text == COMMENTED.replace(claude, "")
    assert "pools:\n  # Codex: office hours first.\n" in doc.text


def test_removing_the_last_entry_keeps_the_comment_of_the_next_section(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("pools", 2))
    gemini = ("\n  - name: gemini\n    baseProvider: google-gemini-cli\n    members: [google-gemini-cli]\n"
              "    enabled: true\n")
    assert doc.text == COMMENTED.replace(gemini, "")
    assert "    # selectorScript: maybe later\n\n# Chains fall back from pool to pool.\nchains:" in doc.text


def test_removing_a_flow_entry_with_an_end_of_line_comment(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("chains", 0, "entries", 0))
    removed, added = changed_lines(COMMENTED, doc.text)
    assert removed == ['      - {pool: claude, model: "claude-sonnet-4-5", enabled: true}   # first']
    assert added == []


def test_removing_the_only_entry_leaves_an_empty_list(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("presets", 0))
    assert doc.data["presets"] == []
    removed, added = changed_lines(COMMENTED, doc.text)
    assert added == ["presets: []"]
    assert removed == ["presets:", "  - name: coding-premium", "    enabled: true", "    entries:",
                       "      - {provider: anthropic, model: claude-sonnet-4-5, enabled: true}"]


def test_removing_a_mapping_key_and_a_flow_list_item(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.delete(("pools", 1, "memberSchedule", "openai-codex-3"))
    doc.delete(("pools", 0, "members", 1))
    removed, added = changed_lines(COMMENTED, doc.text)
    assert removed == ["    members: [anthropic, anthropic-2]", "      openai-codex-3: {role: overflow}"]
    assert added == ["    members: [anthropic]"]


# -------------------------------------------------------------------------- YAML: adding, setting


def test_appending_an_entry_follows_the_siblings_style_and_spacing(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.append(("pools",), BlockMap(name="copilot", baseProvider="github-copilot",
                                    members=FlowList(["github-copilot"]), enabled=True))
    doc.append(("chains", 0, "entries"), {"pool": "copilot", "model": "gpt-4.1", "enabled": True})
    gemini = "    members: [google-gemini-cli]\n    enabled: true\n"
    last_entry = "      - {pool: gemini, model: gemini-2.5-pro, enabled: true}\n"
    expected = COMMENTED.replace(gemini, gemini + "\n  - name: copilot\n    baseProvider: github-copilot\n"
                                 "    members: [github-copilot]\n    enabled: true\n")
    expected = expected.replace(last_entry, last_entry + "      - {pool: copilot, model: gpt-4.1, enabled: true}\n")
    assert doc.text == expected  # a blank line before it, like its siblings; what follows keeps its own


def test_setting_values_changes_only_their_lines(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.set(("pools", 1), "enabled", False)
    doc.set(("chains", 0, "entries", 1), "enabled", False)
    doc.set(("settings",), "cooldown", "10m")
    removed, added = changed_lines(COMMENTED, doc.text)
    assert removed == ["  cooldown:   5m          # aligned by hand", "    enabled: true",
                       "      - {pool: codex, model: 'gpt-5', enabled: true}"]
    assert added[1:] == ["    enabled: false", "      - {pool: codex, model: 'gpt-5', enabled: false}"]
    assert added[0].startswith("  cooldown: 10m") and added[0].endswith("# aligned by hand")


def test_inserting_keys_in_order_and_at_the_end(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    order = ["name", "baseProvider", "members", "enabled", "strategy", "cooldown"]
    doc.set(("pools", 0), "strategy", "quota-first", order=order)
    doc.set(("pools", 1), "cooldown", "10m", order=order)           # between strategy and memberSchedule
    doc.set(("pools", 2), "timezone", "UTC")                         # last key of the last pool
    removed, added = changed_lines(COMMENTED, doc.text)
    assert removed == []
    assert added == ["    strategy: quota-first", "    cooldown: 10m", "    timezone: UTC"]
    assert "    strategy: scheduled\n    cooldown: 10m\n    memberSchedule:" in doc.text
    assert "    timezone: UTC\n\n# Chains fall back" in doc.text


def test_replacing_a_block_value_keeps_the_key_in_place(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.set(("pools", 1), "memberSchedule", BlockMap({"openai-codex-2": FlowMap(role="overflow")}))
    removed, added = changed_lines(COMMENTED, doc.text)
    assert removed == ["      openai-codex:   {role: preferred, windows: [{hours: [9, 17], days: [mon-fri]}]}",
                       "      openai-codex-3: {role: overflow}"]
    assert added == ["      openai-codex-2: {role: overflow}"]


def test_a_new_top_level_section_goes_in_order_with_a_blank_line(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.set((), "errorRules", BlockList([FlowMap(provider="anthropic", status=400, kind="quota_exhausted")]),
            order=["version", "settings", "subscriptions", "pools", "chains", "presets", "errorRules"])
    assert doc.text == COMMENTED + "\nerrorRules:\n  - {provider: anthropic, status: 400, kind: quota_exhausted}\n"


@pytest.mark.parametrize("value", ["off", "yes", "No", "2026-06-01", "1.5", "012", "null", "~", "1:30", ""])
def test_new_strings_that_yaml_11_would_misread_are_quoted(tmp_path: Path, value: str) -> None:
    doc = open_text(tmp_path, "presets: []\n")
    doc.append(("presets",), BlockMap(name=value or "x", entries=BlockList([FlowMap(provider="anthropic",
                                                                                    model=value)])))
    loaded = data_of(doc.text)["presets"][0]
    assert loaded["entries"][0]["model"] == value
    assert loaded["name"] == (value or "x")


def test_an_empty_flow_list_becomes_a_block_list_for_block_entries(tmp_path: Path) -> None:
    doc = open_text(tmp_path, "# pools come later\npools: []  # none yet\nchains: []\n")
    doc.append(("pools",), BlockMap(name="a", baseProvider="anthropic", members=FlowList(["anthropic"])))
    assert doc.text == ("# pools come later\npools:\n  - name: a\n    baseProvider: anthropic\n"
                        "    members: [anthropic]\nchains: []\n")  # the value's own comment goes with it


def test_a_new_or_comment_only_file_gets_a_block_mapping(tmp_path: Path) -> None:
    doc = PolicyDocument.open(tmp_path / "new.yaml", "policy")
    assert not doc.exists and not doc.changed and doc.data == {}
    doc.set((), "subscriptions", BlockList([FlowMap(provider="anthropic", index=2)]))
    assert doc.text == "subscriptions:\n  - {provider: anthropic, index: 2}\n"
    assert doc.changed and doc.diff().startswith("--- /dev/null\n+++ b/")
    doc = open_text(tmp_path, "# only a comment\n\n")
    doc.set((), "version", 1)
    assert doc.text == "# only a comment\nversion: 1\n"
    doc = open_text(tmp_path, "{}\n")
    doc.set((), "version", 1)
    assert doc.text == "version: 1\n"


def test_windows_line_endings_and_a_byte_order_mark_are_kept(tmp_path: Path) -> None:
    text = "\ufeff# comment\r\npools:\r\n  - name: a\r\n    baseProvider: anthropic\r\n    members: [anthropic]\r\n"
    doc = open_text(tmp_path, text)
    doc.set(("pools", 0), "enabled", False)
    doc.save()
    raw = (tmp_path / "multi-pass.yaml").read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf# comment\r\n")
    assert raw.endswith(b"    members: [anthropic]\r\n    enabled: false\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")


def test_a_file_without_a_final_newline_keeps_it_that_way(tmp_path: Path) -> None:
    doc = open_text(tmp_path, "pools:\n  - name: a\n    baseProvider: anthropic\n    members: [anthropic]")
    doc.set(("pools", 0), "enabled", True)
    assert doc.text.endswith("    enabled: true")


def test_the_demo_policy_every_entry_removed(tmp_path: Path) -> None:
    """Removing any entry of the demo's lists removes exactly that entry and keeps every other line."""
    text = (REPO / "policies" / "demo" / "multi-pass.yaml").read_text(encoding="utf-8")
    original = data_of(text)
    for section in ("subscriptions", "pools", "chains", "presets"):
        for index in range(len(original[section])):
            doc = open_text(tmp_path, text)
            doc.delete((section, index))
            expected = json.loads(json.dumps(original))
            del expected[section][index]
            assert data_of(doc.text) == expected, (section, index)
            removed, added = changed_lines(text, doc.text)
            assert added == ([f"{section}: []"] if not expected[section] else []), (section, index)
            assert all(line.strip() == "" or line.lstrip().startswith("#") or line in text.splitlines()
                       for line in removed)


# --------------------------------------------------------------------------------------- JSON


def test_json_in_pi_multi_pass_format_round_trips_byte_for_byte(tmp_path: Path) -> None:
    source = REPO / "policies" / "pi-multi-pass-json" / "agent" / "multi-pass.json"
    text = source.read_text(encoding="utf-8")
    doc = open_text(tmp_path, text, "multi-pass.json")
    assert doc.format == "json" and not doc.changed
    doc.append(("subscriptions",), FlowMap(provider="anthropic", index=3))
    doc.delete(("subscriptions", 3))
    assert doc.text == text and not doc.changed


def test_json_edits_keep_indentation_key_order_and_the_final_newline(tmp_path: Path) -> None:
    doc = open_text(tmp_path, '{\n\t"pools": [\n\t\t{"name": "a", "baseProvider": "anthropic", '
                              '"members": ["anthropic"]}\n\t]\n}\n', "multi-pass.json")
    doc.set(("pools", 0), "enabled", False, order=["name", "baseProvider", "members", "enabled"])
    doc.set((), "version", 1, order=["version", "pools"])
    assert doc.text == ('{\n\t"version": 1,\n\t"pools": [\n\t\t{"name": "a", "baseProvider": "anthropic", '
                        '"members": ["anthropic"], "enabled": false}\n\t]\n}\n')
    doc = PolicyDocument.open(tmp_path / "new.json", "project")
    doc.set((), "allowedSubs", ["anthropic-2"])
    assert doc.text == '{\n  "allowedSubs": [\n    "anthropic-2"\n  ]\n}\n'


# -------------------------------------------------------------------------- unreadable files


@pytest.mark.parametrize(("name", "content", "line", "needle"), [
    ("multi-pass.yaml", "pools:\n  - name: a\n    members: [a\n", 4, "flow sequence"),
    ("multi-pass.yaml", "pools:\n\t- name: a\n", 2, ""),
    ("multi-pass.yaml", "pools: []\npools: []\n", 2, "duplicate key"),
    ("multi-pass.json", '{"pools": [],}\n', 1, "invalid JSON"),
    ("multi-pass.json", '// pi config\n{"pools": []}\n', 1, "invalid JSON"),
    ("multi-pass.yaml", "- just\n- a list\n", 1, "not a mapping"),
])
def test_a_file_that_does_not_parse_is_refused_with_its_line(tmp_path: Path, name: str, content: str, line: int,
                                                              needle: str) -> None:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UnreadableFileError) as caught:
        PolicyDocument.open(path, "policy")
    first = caught.value.diagnostics[0]
    assert first.line == line and first.file == str(path)
    assert needle in first.message
    assert path.read_text(encoding="utf-8") == content


def test_utf16_and_non_utf8_files_are_refused(tmp_path: Path) -> None:
    utf16 = tmp_path / "a.yaml"
    utf16.write_bytes("pools: []\n".encode("utf-16"))
    with pytest.raises(UnreadableFileError, match="UTF-16"):
        PolicyDocument.open(utf16, "policy")
    latin = tmp_path / "b.yaml"
    latin.write_bytes("pools: [] # caf\xe9\n".encode("latin-1"))
    with pytest.raises(UnreadableFileError, match="not UTF-8"):
        PolicyDocument.open(latin, "policy")


# ------------------------------------------------------------------------ validation, writing


def test_validate_reports_schema_and_compile_errors_of_the_result(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    assert [d for d in doc.validate() if d.severity == "error"] == []
    doc.set(("chains", 0, "entries", 0), "pool", "clade")
    doc.set(("pools", 0), "membrs", ["x"])
    codes = {d.code for d in doc.validate() if d.severity == "error"}
    assert codes == {"unknown-key"}  # schema errors first: the compile step runs on a valid schema only
    doc.delete(("pools", 0, "membrs"))
    errors = [d for d in doc.validate() if d.severity == "error"]
    assert [(d.code, d.json_path) for d in errors] == [("unknown-pool", "$.chains[0].entries[0].pool")]
    assert errors[0].line is not None and "did you mean 'claude'" in (errors[0].hint or "")


def test_a_project_overlay_is_validated_with_its_global_policy(tmp_path: Path) -> None:
    global_doc = open_text(tmp_path, COMMENTED).loaded()
    overlay = PolicyDocument.open(tmp_path / ".pi" / "multi-pass.yaml", "project")
    overlay.set((), "chains", BlockList([BlockMap(name="work", entries=BlockList([FlowMap(pool="codex",
                                                                                          model="gpt-5")]))]))
    assert [d for d in overlay.validate(global_doc=global_doc) if d.severity == "error"] == []
    overlay.set((), "pools", BlockList([]))
    errors = [d.code for d in overlay.validate(global_doc=global_doc) if d.severity == "error"]
    assert errors == ["unknown-pool"]


def test_save_writes_atomically_and_keeps_the_file_mode(tmp_path: Path) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text(COMMENTED, encoding="utf-8")
    os.chmod(path, 0o600)
    doc = PolicyDocument.open(path, "policy")
    doc.set(("pools", 2), "enabled", False)
    doc.save()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == doc.text
    assert not doc.changed
    assert [p.name for p in tmp_path.iterdir()] == ["multi-pass.yaml"]  # no temporary file left behind


def test_unified_diff_names_the_file_and_marks_a_missing_final_newline() -> None:
    diff = unified_diff("a: 1", "a: 2\n", "p.yaml")
    assert diff.splitlines()[:2] == ["--- a/p.yaml", "+++ b/p.yaml"]
    assert "\\ No newline at end of file" in diff
    assert unified_diff("a: 1\n", "", "p.yaml", deleted=True).splitlines()[1] == "+++ /dev/null"


def test_a_symlinked_policy_inside_its_root_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "dotfiles" / "multi-pass.yaml"
    real.parent.mkdir()
    real.write_text(COMMENTED, encoding="utf-8")
    link = tmp_path / "agent" / "multi-pass.yaml"
    link.parent.mkdir()
    link.symlink_to(real)
    doc = PolicyDocument.open(link, "policy", root=tmp_path)
    doc.set(("pools", 0), "enabled", False)
    doc.save()
    assert link.is_symlink()
    assert real.read_text(encoding="utf-8") == doc.text != COMMENTED
    with pytest.raises(UnsafeTargetError, match="outside"):  # the root defaults to the link's own folder
        PolicyDocument.open(link, "policy")
    assert PolicyDocument.open(link, "policy", for_writing=False).data == doc.data  # reading is fine


def test_a_write_refused_at_save_names_the_option_the_file_was_opened_with(tmp_path: Path) -> None:
    project = tmp_path / "project"
    overlay = project / ".pi" / "multi-pass.yaml"
    overlay.parent.mkdir(parents=True)
    overlay.write_text("allowedSubs: [anthropic]\n", encoding="utf-8")
    doc = PolicyDocument.open(overlay, "project", root=project, option="--project")
    doc.set((), "allowedSubs", FlowList(["anthropic-2"]))
    outside = tmp_path / "elsewhere.yaml"
    outside.write_text("allowedSubs: [anthropic]\n", encoding="utf-8")
    overlay.unlink()
    overlay.symlink_to(outside)  # swapped for a link out of the project after it was opened
    with pytest.raises(UnsafeTargetError) as refused:
        doc.save()
    assert refused.value.code == "link-outside"
    assert refused.value.hint.startswith(f"to edit that file, name it: --project {outside}")
    assert outside.read_text(encoding="utf-8") == "allowedSubs: [anthropic]\n"
    with pytest.raises(UnsafeTargetError) as removal:
        doc.remove()
    assert "--project" in removal.value.hint and "--policy" not in removal.value.hint
    assert overlay.is_symlink()


def test_a_file_changed_meanwhile_is_not_overwritten(tmp_path: Path) -> None:
    doc = open_text(tmp_path, COMMENTED)
    doc.set(("pools", 0), "enabled", False)
    path = tmp_path / "multi-pass.yaml"
    path.write_text(COMMENTED + "# someone else was here\n", encoding="utf-8")
    with pytest.raises(FileChangedError, match="changed by another program"):
        doc.save()
    assert path.read_text(encoding="utf-8").endswith("# someone else was here\n")
    new = PolicyDocument.open(tmp_path / "new.yaml", "policy")
    new.set((), "version", 1)
    (tmp_path / "new.yaml").write_text("version: 1\n", encoding="utf-8")
    with pytest.raises(FileChangedError):
        new.save()


# ------------------------------------------------------------------------ hostile files (issue 14)

_OPEN_IN_CHILD = """
    import json, sys
    from policy_engine.edit.document import PolicyDocument
    try:
        PolicyDocument.open(sys.argv[1], "policy")
    except Exception as exc:
        print(json.dumps([type(exc).__name__, str(exc), [d.message for d in getattr(exc, "diagnostics", [])]]))
    else:
        print(json.dumps(["opened", "", []]))
    """


def test_opening_a_fifo_for_editing_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "multi-pass.yaml")
    kind, message, diagnostics = run_child(_OPEN_IN_CHILD, str(tmp_path / "multi-pass.yaml"))
    assert kind in ("UnreadableFileError", "UnsafeTargetError")
    assert "FIFO" in message + " ".join(diagnostics)


def test_a_file_replaced_by_a_fifo_counts_as_changed_without_waiting(tmp_path: Path) -> None:
    path = tmp_path / "multi-pass.yaml"
    path.write_text("pools: []\n", encoding="utf-8")
    changed = run_child("""
        import json, os, sys
        from policy_engine.edit.document import PolicyDocument
        doc = PolicyDocument.open(sys.argv[1], "policy")
        os.unlink(sys.argv[1])
        os.mkfifo(sys.argv[1])
        print(json.dumps(doc.unchanged_on_disk()))
        """, str(path))
    assert changed is False

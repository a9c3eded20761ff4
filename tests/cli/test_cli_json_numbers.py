"""JSON policies through the CLI: edits keep a hand-formatted file's lines, and non-finite numbers are refused.

``NaN``, ``Infinity``, ``-Infinity`` and ``1e400`` in a ``.json`` policy are a located error
(file:line:col) for ``validate`` and for every edit (the file is left as it is), and no edit ever
writes one.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_support import file_signature, invoke
from edit_support import changed_lines

#: Written by hand: 4 spaces, one-line subscriptions, an escaped é, numbers spelled 1e3 and 2.50, no final newline.
HAND = (
    '{\n'
    '    "version": 1,\n'
    '    "settings": {"cooldown": 1e3, "selectorTimeout": 2.50},\n'
    '    "subscriptions": [\n'
    '        {"provider": "anthropic", "index": 2, "label": "caf\\u00e9"},\n'
    '        {"provider": "openai-codex", "index": 2}\n'
    '    ],\n'
    '    "pools": [\n'
    '        {"name": "claude", "baseProvider": "anthropic", "members": ["anthropic", "anthropic-2"]}\n'
    '    ]\n'
    '}'
)


def test_subs_add_changes_two_lines_of_a_hand_formatted_json_policy(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.json"
    policy.write_text(HAND, encoding="utf-8")
    run = invoke("subs", "add", "anthropic", "--label", "Büro", "--agent-dir", tmp_path)
    assert run.returncode == 0, run.describe()
    after = policy.read_text(encoding="utf-8")
    assert changed_lines(HAND, after) == (
        ['        {"provider": "openai-codex", "index": 2}'],
        ['        {"provider": "openai-codex", "index": 2},',
         '        {"provider": "anthropic", "index": 3, "label": "B\\u00fcro"}'])
    assert not after.endswith("\n")
    run = invoke("subs", "remove", "anthropic-3", "--agent-dir", tmp_path)
    assert run.returncode == 0, run.describe()
    assert policy.read_text(encoding="utf-8") == HAND


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400", "-1" + "0" * 400])
def test_non_finite_numbers_in_a_json_policy_are_located_errors(tmp_path: Path, number: str) -> None:
    text = HAND.replace('"cooldown": 1e3', f'"cooldown": {number}')
    policy = tmp_path / "multi-pass.json"
    policy.write_text(text, encoding="utf-8")
    before = file_signature(policy)
    run = invoke("validate", policy, "--format", "json")
    assert run.returncode == 1, run.describe()
    found = [d for d in run.json()["diagnostics"] if d["code"] == "non-finite-number"]
    assert [(d["line"], d["col"], d["path"]) for d in found] == [(3, 30, "$.settings.cooldown")]
    for args in (["subs", "add", "anthropic"], ["pool", "toggle", "claude"]):
        run = invoke(*args, "--agent-dir", tmp_path)
        assert run.returncode == 1, run.describe()
        assert f"multi-pass.json:3:30: non-finite-number: {number[:12]}" in run.stderr
        assert "cannot be read, so it was not changed" in run.stderr
    assert file_signature(policy) == before


def test_a_non_finite_value_is_never_copied_into_a_json_overlay(tmp_path: Path) -> None:
    """A YAML global policy may say .inf; the first pool edit of a JSON overlay copies the pools, and must
    refuse instead of writing Infinity."""
    agent = tmp_path / "agent"
    agent.mkdir()
    (agent / "multi-pass.yaml").write_text(
        "pools:\n  - {name: claude, baseProvider: anthropic, members: [anthropic], cooldown: .inf}\n", encoding="utf-8")
    overlay = tmp_path / "repo" / ".pi" / "multi-pass.json"
    overlay.parent.mkdir(parents=True)
    overlay.write_text('{"allowedSubs": ["anthropic"]}\n', encoding="utf-8")
    before = file_signature(overlay)
    for extra in ([], ["--dry-run"]):
        run = invoke("pool", "toggle", "claude", "--project", tmp_path / "repo", "--agent-dir", agent, "--format",
                     "json", *extra)
        assert run.returncode == 1, run.describe()
        out = run.json()
        assert out["code"] == "non-finite-number" and out["written"] is False
        assert "$.pools[0].cooldown is inf" in out["error"] and "Infinity" not in out.get("diff", "")
    assert file_signature(overlay) == before
    assert json.loads(overlay.read_text(encoding="utf-8")) == {"allowedSubs": ["anthropic"]}

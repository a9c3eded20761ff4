"""YamlText: a list replaced by another keeps the lines of the items that stay (with their comments)."""

from __future__ import annotations

import pytest

from policy_engine.edit.markers import FlowList
from policy_engine.edit.yaml_text import YamlText

BLOCK = """\
pools:
  - name: claude
    members:   # rotation order
      - anthropic     # first
      # the backup, below the first
      - anthropic-2   # second
        # (a note inside anthropic-2)
      - anthropic-3
    # after the members
    enabled: true
"""

SPACED = """\
pools:
  - name: claude
    members:
    - anthropic     # first

    - anthropic-2   # second
    enabled: true
"""

PATH = ("pools", 0)


def replaced(text: str, members: list[object]) -> YamlText:
    yaml = YamlText(text, "multi-pass.yaml")
    yaml.set(PATH, "members", members, None)
    return yaml


def test_the_members_that_stay_keep_their_lines_and_a_new_one_gets_its_own() -> None:
    text = replaced(BLOCK, ["anthropic", "anthropic-2", "anthropic-3", "anthropic-4"]).render()
    assert text == BLOCK.replace("      - anthropic-3\n", "      - anthropic-3\n      - anthropic-4\n")


def test_a_removed_member_takes_its_own_comments_with_it() -> None:
    text = replaced(BLOCK, ["anthropic", "anthropic-3"]).render()
    gone = ("      # the backup, below the first\n      - anthropic-2   # second\n"
            "        # (a note inside anthropic-2)\n")
    assert text == BLOCK.replace(gone, "")


def test_reordering_moves_each_member_with_its_comments() -> None:
    text = replaced(BLOCK, ["anthropic-3", "anthropic-2", "anthropic"]).render()
    assert text == BLOCK.replace(
        "      - anthropic     # first\n      # the backup, below the first\n      - anthropic-2   # second\n"
        "        # (a note inside anthropic-2)\n      - anthropic-3\n",
        "      - anthropic-3\n      # the backup, below the first\n      - anthropic-2   # second\n"
        "        # (a note inside anthropic-2)\n      - anthropic     # first\n")


def test_a_new_member_in_the_middle_and_the_blank_separators_stay_in_place() -> None:
    text = replaced(SPACED, ["anthropic-2", "anthropic-3", "anthropic"]).render()
    assert text == SPACED.replace("    - anthropic     # first\n\n    - anthropic-2   # second\n",
                                  "    - anthropic-2   # second\n\n    - anthropic-3\n\n    - anthropic     # first\n")


@pytest.mark.parametrize(("old", "new", "written"), [
    ("1", ["1"], '"1"'),            # a string is not the number
    ("true", [1], "1"),            # a number is not the boolean
    ("anthropic", [True], "true"),
])
def test_only_an_equal_item_of_the_same_kind_keeps_its_line(old: str, new: list[object], written: str) -> None:
    text = replaced(f"pools:\n  - name: claude\n    members:\n      - {old}   # old\n", new).render()
    assert text == f"pools:\n  - name: claude\n    members:\n      - {written}\n"


def test_a_flow_list_keeps_the_comment_after_it() -> None:
    text = replaced("pools:\n  - name: claude\n    members: [anthropic, anthropic-2]  # note\n",
                    ["anthropic-2", "anthropic"]).render()
    assert text == "pools:\n  - name: claude\n    members: [anthropic-2, anthropic]  # note\n"


@pytest.mark.parametrize(("value", "written"), [
    ([], "    members: []\n"),
    (FlowList(["anthropic"]), "    members: [anthropic]\n"),
])
def test_an_empty_or_flow_marked_list_is_written_anew(value: list[str], written: str) -> None:
    text = replaced(BLOCK, value).render()
    assert written in text
    assert "- anthropic" not in text
    assert text.endswith("    # after the members\n    enabled: true\n")

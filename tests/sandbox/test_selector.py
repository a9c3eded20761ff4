"""Selector scripts: where they are found, when they are re-read, and how answers become an order."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from child_process import run_child

from policy_engine.sandbox.selector import Selector, interpret, resolve_script

CONFIGURED = frozenset({"a", "a-2", "a-3"})


def test_relative_paths_start_at_the_declaring_folder_home_and_absolute_paths_work(tmp_path: Path) -> None:
    assert resolve_script("selectors/x.py", str(tmp_path)) == tmp_path / "selectors" / "x.py"
    assert resolve_script("~/sel.js", str(tmp_path)) == Path(os.path.expanduser("~")) / "sel.js"
    assert resolve_script(str(tmp_path / "abs.py"), "/elsewhere") == tmp_path / "abs.py"


@pytest.mark.parametrize(("answer", "order", "fallback"), [
    (None, ["a", "a-2", "a-3"], False),
    ([], ["a", "a-2", "a-3"], False),
    ("a-3", ["a-3", "a", "a-2"], False),
    (["a-3", "a-2"], ["a-3", "a-2", "a"], False),
    (["a-3", "a-3", "a"], ["a-3", "a", "a-2"], False),
    (["ghost", "a-2"], ["a-2", "a", "a-3"], False),
    ("ghost", None, True),
    (["ghost", "phantom"], None, True),
    (42, None, True),
    ({"provider": "a"}, None, True),
    (["a", 3], None, True),
    (True, None, True),
])
def test_answers_become_an_order_or_a_fallback(answer: object, order: list[str] | None, fallback: bool) -> None:
    got, note = interpret(answer, ["a", "a-2", "a-3"], CONFIGURED)
    assert got == order
    assert note


def test_a_chosen_member_that_is_not_eligible_is_ignored_not_a_fallback() -> None:
    order, note = interpret(["a-3", "a"], ["a", "a-2"], CONFIGURED)
    assert order == ["a", "a-2"]
    assert "a-3 not eligible now" in note
    order, note = interpret("a-3", ["a", "a-2"], CONFIGURED)
    assert order == ["a", "a-2"] and "not eligible" in note


def test_the_script_is_re_read_when_it_changes_and_problems_are_named(tmp_path: Path) -> None:
    script = tmp_path / "pick.py"
    selector = Selector.for_pool("p", "pick.py", str(tmp_path))
    text, problem = selector.source()
    assert text is None and problem is not None and "not found" in problem and str(script) in problem
    script.write_text("def select(ctx):\n    return None\n")
    assert selector.source() == ("def select(ctx):\n    return None\n", None)
    script.write_text("def select(ctx):\n    return 'a-2'  # changed\n")
    os.utime(script, ns=(1, 1))  # a different stamp even on coarse clocks
    assert "changed" in (selector.source()[0] or "")
    script.write_bytes(b"\xff\xfe not utf-8")
    assert "not UTF-8" in (selector.source()[1] or "")
    script.write_text("x" * (300 * 1024))
    assert "larger than" in (selector.source()[1] or "")


def test_unknown_file_types_and_missing_settings_are_explained(tmp_path: Path) -> None:
    (tmp_path / "pick.rb").write_text("")
    assert "unsupported file type '.rb'" in (Selector.for_pool("p", "pick.rb", str(tmp_path)).source()[1] or "")
    assert "no selectorScript" in (Selector.for_pool("p", None, str(tmp_path)).source()[1] or "")
    assert Selector.for_pool("p", "x.mjs", None).language == "javascript"
    assert Selector.for_pool("p", "x.CJS", None).language == "javascript"
    assert Selector.for_pool("p", "x.py", None).language == "python"


# --- hostile script files (issue 14): a reason, never a hang ---------------------------------------

_SOURCE_IN_CHILD = """
    import json, sys
    from policy_engine.sandbox.selector import Selector
    print(json.dumps(list(Selector.for_pool("p", sys.argv[1], sys.argv[2]).source())))
    """


@pytest.mark.parametrize(("make", "reason"), [
    (os.mkfifo, "is a FIFO (named pipe), not a regular file"),
    (lambda path: path.symlink_to("/dev/zero"), "is a character device, not a regular file"),
    (lambda path: path.mkdir(), "is a directory, not a regular file"),
    (lambda path: path.symlink_to(path.name), "is a symbolic link loop"),
])
def test_a_script_that_is_no_regular_file_is_a_reason_not_a_hang(tmp_path: Path, make: Any, reason: str) -> None:
    make(tmp_path / "pick.py")
    text, problem = run_child(_SOURCE_IN_CHILD, "pick.py", str(tmp_path))
    assert text is None
    assert problem.startswith(f"selector pick.py: {reason}"), problem


def test_a_script_name_the_system_refuses_is_a_reason(tmp_path: Path) -> None:
    for name in ("pi\0ck.py", "pi\ud800ck.py"):
        text, problem = Selector.for_pool("p", name, str(tmp_path)).source()
        assert text is None and problem is not None and "the file name cannot be used" in problem

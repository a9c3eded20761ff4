"""Compiling Python selectors (never running them) and the guards of the restricted globals.

The guard tests run small, trusted snippets in this process with the selector's globals; the
worker process, its limits and the hostile corpus are covered by test_python_runner.py and
test_hostile_python.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import policy_engine
from policy_engine.sandbox.base import SourceProblem
from policy_engine.sandbox.python_compile import MAX_SOURCE_CHARS, check_source, compile_selector
from policy_engine.sandbox.python_guards import (
    MAX_ITEMS,
    SelectorTimeout,
    SoftTimeout,
    guarded_getattr,
    guarded_getitem,
    guarded_getiter,
    guarded_write,
    make_globals,
    safe_builtins,
)


def problems(source: str) -> list[SourceProblem]:
    return check_source(source, "sel.py")


def run_select(source: str, ctx: Any = None) -> Any:
    """Compile ``source`` and run ``select(ctx)`` here, with the selector's globals."""
    compiled = compile_selector(source, "sel.py")
    assert compiled.ok, compiled.problems
    namespace = make_globals()
    exec(compiled.code, namespace)
    return namespace["select"](ctx if ctx is not None else {"members": ["a", "b", "c"]})


# --- compiling -----------------------------------------------------------------------------


def test_a_normal_selector_compiles_without_problems() -> None:
    source = (
        "PREFERRED = {'night': 'b', 'day': 'a'}\n"
        "def select(ctx):\n"
        "    part = 'night' if ctx['hour'] < 7 else 'day'\n"
        "    ranked = sorted(ctx['members'], key=lambda m: -ctx['quota'].get(m, 0))\n"
        "    return [PREFERRED[part]] + [m for m in ranked if m != PREFERRED[part]]\n"
    )
    assert problems(source) == []
    assert compile_selector(source, "sel.py").ok


@pytest.mark.parametrize(("source", "line", "needle"), [
    ("import os\ndef select(ctx):\n    return None\n", 1, "'import os' is not allowed"),
    ("def select(ctx):\n    import json, os\n    return None\n", 2, "'import json, os' is not allowed"),
    ("def select(ctx):\n    x = 1\n    from os import system\n", 3, "'from os import ...' is not allowed"),
    ("from . import thing\ndef select(ctx):\n    return None\n", 1, "'from . import ...' is not allowed"),
    ("class A:\n    pass\ndef select(ctx):\n    return None\n", 1, "class definitions are not allowed"),
    ("def gen():\n    yield 1\ndef select(ctx):\n    return None\n", 2, "'yield' is not allowed"),
    ("def select(ctx):\n    with ctx:\n        pass\n", 2, "'with' statements are not allowed"),
    ("def select(ctx):\n    x = 1\n    def f():\n        nonlocal x\n    return x\n", 4, "'nonlocal' is not allowed"),
    ("def select(ctx):\n    global _state\n    return None\n", 2, "'global _state' is not allowed"),
    ("def select(ctx):\n    try:\n        pass\n    finally:\n        return 1\n", 5, "'return' inside 'finally'"),
    ("def select(ctx):\n    while True:\n        try:\n            pass\n        finally:\n            continue\n", 6,
     "'continue' inside 'finally'"),
    ("def select(ctx):\n    match ctx:\n        case _:\n            pass\n", 2, "'match' statements"),
    ("async def select(ctx):\n    return None\n", 1, "async code is not allowed"),
    ("def select(ctx):\n    n: int = 1\n    return n\n", 2, "annotated assignments"),
    ("def select(ctx):\n    return ().__class__\n", 2, '"__class__" is an invalid attribute name'),
    ("def select(ctx):\n    return __import__('os')\n", 2, '"__import__" is an invalid variable name'),
    ("def select(ctx):\n    g = (x for x in [1])\n    return g.gi_frame\n", 3, '"gi_frame" is a restricted name'),
    ("def select(ctx):\n    return exec('1')\n", 2, "Exec calls are not allowed"),
    ("def select(ctx):\n    return (\n", 2, "SyntaxError"),
    ("def select(ctx):\n    pass\nreturn 5\n", 3, "'return' outside function"),
])
def test_refused_constructs_are_reported_with_their_line(source: str, line: int, needle: str) -> None:
    found = problems(source)
    assert found, source
    assert any(needle in p.message and p.line == line for p in found), found
    assert not compile_selector(source, "sel.py").ok


def test_syntax_errors_carry_line_and_column() -> None:
    [problem] = problems("def select(ctx):\n    return ctx[\n")
    assert problem.message.startswith("SyntaxError")
    assert problem.line == 2 and problem.column is not None


def test_import_problems_carry_the_column() -> None:
    [problem] = problems("def select(ctx):\n    if ctx:\n        import os\n")
    assert (problem.line, problem.column) == (3, 9)


@pytest.mark.parametrize("source", [
    "def pick(ctx):\n    return None\n",
    "select = lambda ctx: None\n",
    "def helper():\n    def select(ctx):\n        return None\n",
])
def test_a_missing_top_level_select_is_a_problem(source: str) -> None:
    assert any("def select(ctx)" in p.message for p in problems(source))


@pytest.mark.parametrize(("signature", "ok"), [
    ("ctx", True), ("ctx, extra=None", True), ("*args", True), ("", False), ("a, b", False), ("ctx, *, k", False),
])
def test_select_must_be_callable_with_one_argument(signature: str, ok: bool) -> None:
    found = problems(f"def select({signature}):\n    return None\n")
    assert (found == []) is ok, found


def test_global_of_a_public_name_is_allowed_for_module_state() -> None:
    source = "COUNT = 0\ndef select(ctx):\n    global COUNT\n    COUNT += 1\n    return COUNT\n"
    assert problems(source) == []


def test_a_huge_source_is_refused_before_parsing() -> None:
    [problem] = problems("#" * (MAX_SOURCE_CHARS + 1))
    assert "too large" in problem.message


def test_absurd_nesting_is_a_problem_not_a_crash() -> None:
    found = problems("def select(ctx):\n    return " + "-" * 200_000 + "1\n")
    assert found


def _stack_depth() -> int:
    frame, depth = sys._getframe(), 0
    while frame is not None:
        depth += 1
        frame = frame.f_back
    return depth


def test_a_compile_that_ran_out_of_stack_is_not_cached() -> None:
    """The same script compiles later from a shallower stack: the failure must not stick to its hash."""
    source = "def select(ctx):\n    return " + "-(" * 40 + "1" + ")" * 40 + "  # stack\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + 40)  # nearly out of stack, as in a deep caller
    try:
        starved = compile_selector(source, "deep.py")
    finally:
        sys.setrecursionlimit(limit)
    assert not starved.ok, starved
    again = compile_selector(source, "deep.py")
    assert again.ok, again.problems
    assert compile_selector(source, "deep.py") is again  # a success is cached as before
    assert starved.transient and "RecursionError" in starved.problems[0].message, starved


MEMORY_STARVED = """
import json, os, resource, sys
from policy_engine.sandbox.python_compile import compile_selector

source = "def select(ctx):\\n    return None\\n" + "x = [a for a in b if a]\\n" * 2000
pages = int(open("/proc/self/statm").read().split()[0])
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
resource.setrlimit(resource.RLIMIT_AS, (pages * resource.getpagesize() + (4 << 20), hard))
try:
    starved = compile_selector(source, "big.py")
finally:
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
again = compile_selector(source, "big.py")
print(json.dumps([starved.ok, getattr(starved, "transient", None), [p.message for p in starved.problems], again.ok]))
"""


def test_a_compile_that_ran_out_of_memory_is_not_cached() -> None:
    package_root = str(Path(policy_engine.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", MEMORY_STARVED], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "PYTHONPATH": package_root}, check=False)
    assert done.returncode == 0, done.stderr
    starved_ok, transient, messages, again_ok = json.loads(done.stdout.strip().splitlines()[-1])
    assert not starved_ok and "MemoryError" in messages[0], messages
    assert again_ok  # with memory back, the same script compiles: the failure was not cached
    assert transient


def test_compiled_results_are_cached_by_source_hash() -> None:
    source = "def select(ctx):\n    return 'cached'\n"
    assert compile_selector(source, "a.py") is compile_selector(source, "b.py")


def test_check_never_runs_the_script() -> None:
    # A module body that would loop forever: check returns at once because it only compiles.
    assert problems("while True:\n    pass\ndef select(ctx):\n    return None\n") == []


# --- the guards ------------------------------------------------------------------------------


def test_dangerous_names_are_absent_from_the_builtins() -> None:
    for name in ("__import__", "open", "type", "vars", "dir", "globals", "locals", "eval", "exec", "compile", "help",
                 "input", "breakpoint", "memoryview", "object", "super", "setattr", "delattr", "id", "BaseException",
                 "SystemExit", "KeyboardInterrupt", "GeneratorExit", "__build_class__", "classmethod", "property"):
        assert name not in safe_builtins, name
    namespace = make_globals()
    assert namespace["__builtins__"] is not safe_builtins  # each script gets its own copy


@pytest.mark.parametrize(("obj", "name"), [
    ((x for x in []), "gi_frame"),
    ((x for x in []), "gi_code"),
    (lambda: 0, "func_globals"),
    (len, "__self__"),
    (str, "mro"),
    (str, "format"),
    ("", "format"),
    ("", "format_map"),
    ({}, "__class__"),
    (ValueError("x"), "with_traceback"),
    (ValueError("x"), "args"),
    ({}.keys(), "mapping"),
    ([].append, "__self__"),
    (int, "real"),
])
def test_getattr_refuses_everything_but_methods_of_plain_data(obj: Any, name: str) -> None:
    with pytest.raises(AttributeError):
        guarded_getattr(obj, name)


@pytest.mark.parametrize(("obj", "name"), [
    ("abc", "upper"), ([], "append"), ({}, "get"), (set(), "add"), (frozenset(), "union"), ((), "count"),
    (1, "bit_length"), (1.5, "is_integer"), (True, "real"), (str, "lower"), (dict, "fromkeys"),
])
def test_getattr_allows_methods_of_plain_data(obj: Any, name: str) -> None:
    assert guarded_getattr(obj, name) is not None


def test_getattr_default_and_hasattr_follow_the_guard() -> None:
    with pytest.raises(AttributeError):
        run_select("def select(ctx):\n    return getattr(select, 'x', 2)\n")
    assert run_select("def select(ctx):\n    return [getattr(ctx, 'nope', 1), hasattr(ctx, 'get'),"
                      " hasattr(select, 'func_globals')]\n") == [1, True, False]


def test_getitem_indexes_only_plain_containers() -> None:
    assert guarded_getitem({"a": 1}, "a") == 1
    assert guarded_getitem([1, 2, 3], slice(1, None)) == [2, 3]
    assert guarded_getitem("abc", -1) == "c"
    with pytest.raises(TypeError):
        guarded_getitem(list, int)  # list[int] would be a GenericAlias
    with pytest.raises(TypeError):
        guarded_getitem([1], "0")


def test_getiter_refuses_objects_that_are_not_plain_iterables() -> None:
    assert list(guarded_getiter({"a": 1}.items())) == [("a", 1)]
    with pytest.raises(TypeError):
        guarded_getiter(str)


def test_write_allows_only_the_scripts_own_lists_dicts_and_sets() -> None:
    assert guarded_write([]) == []
    for target in ("", (), 1, len, str):
        with pytest.raises(TypeError):
            guarded_write(target)
    assert run_select("def select(ctx):\n    ctx['members'][0] = 'z'\n    del ctx['members'][1]\n"
                      "    return ctx['members']\n") == ["z", "c"]


def test_print_is_collected_and_never_written(capsys: pytest.CaptureFixture[str]) -> None:
    value = run_select("def select(ctx):\n    print('hello', file=ctx)\n    print('x' * 100000)\n"
                       "    return len(printed)\n")
    assert value == 64 * 1024
    assert capsys.readouterr() == ("", "")


def test_guarded_builtins_behave_like_the_real_ones() -> None:
    source = (
        "def select(ctx):\n"
        "    m = ctx['members']\n"
        "    return [sorted(m, key=lambda s: s, reverse=True), min(m), max(3, 9, 4), min([], default=0),\n"
        "            sum(range(5)), any(x == 'b' for x in m), all(m), list(enumerate(m, 1)),\n"
        "            list(zip(m, range(2))), list(map(str.upper, m)), list(filter(None, [0, 1, 2])),\n"
        "            list(reversed(m)), next(iter(m)), next((x for x in []), 'none'), pow(2, 10), 2 ** 3,\n"
        "            round(2.567, 2), divmod(7, 2), {k: v for k, v in zip(m, m)}]\n"
    )
    assert run_select(source) == [
        ["c", "b", "a"], "a", 9, 0, 10, True, True, [(1, "a"), (2, "b"), (3, "c")], [("a", 0), ("b", 1)],
        ["A", "B", "C"], [1, 2], ["c", "b", "a"], "a", "none", 1024, 8, 2.57, (3, 1),
        {"a": "a", "b": "b", "c": "c"},
    ]


def test_zip_strict_reports_uneven_lengths() -> None:
    with pytest.raises(ValueError, match="zip"):
        run_select("def select(ctx):\n    return list(zip([1, 2], [1], strict=True))\n")


@pytest.mark.parametrize("expression", [
    "pow(10, 10**9)", "10 ** (10 ** 8)", "round(1, -10**9)", f"sorted(range({MAX_ITEMS + 1}))",
    "[a for a, *b in [range(10**9)]]", "pow(2, 10, 1 << 200000)",
])
def test_c_level_hogs_are_refused_before_they_start(expression: str) -> None:
    with pytest.raises((OverflowError, ValueError)):
        run_select(f"def select(ctx):\n    return {expression}\n")


def test_unpacking_and_augmented_assignment_go_through_the_guards() -> None:
    source = (
        "def select(ctx):\n"
        "    a, (b, c) = 1, [2, 3]\n"
        "    first, *rest = ctx['members']\n"
        "    n = 2\n"
        "    n **= 3\n"
        "    n += a\n"
        "    for k, v in {'x': 1}.items():\n"
        "        n += v\n"
        "    return [a, b, c, first, rest, n]\n"
    )
    assert run_select(source) == [1, 2, 3, "a", ["b", "c"], 10]


def test_except_clauses_cannot_catch_the_soft_timeout() -> None:
    source = (
        "def select(ctx):\n"
        "    try:\n"
        "        ctx['boom']\n"
        "    except:\n"
        "        return 'caught'\n"
    )
    assert run_select(source, {}) == "caught"  # a bare except still catches ordinary errors
    SoftTimeout.fired = True
    try:
        with pytest.raises(SelectorTimeout):
            run_select(source, {})
    finally:
        SoftTimeout.fired = False

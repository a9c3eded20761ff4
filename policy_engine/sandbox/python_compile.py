"""Compiling Python selector scripts: RestrictedPython plus the selector's own rules.

Used by the parent (``PythonRunner.check``, which ``mp-policy validate`` relies on: it only
compiles, it never runs user code) and by the worker (which runs the code object).

What compiling enforces
-----------------------
1. Our AST pass (:class:`SelectorChecker`) refuses, with line and column:

   - ``import`` / ``from ... import`` (there is nothing to import; the builtins have no
     ``__import__`` either);
   - ``class`` definitions (no metaclass games, no ``__del__`` running outside the call);
   - ``yield`` (generator *functions*: their ``finally`` blocks could run user code when the
     generator is garbage-collected, outside the time-limited call; generator *expressions* are
     fine);
   - ``with`` (no context managers exist in the sandbox; ``__exit__`` could swallow errors);
   - ``nonlocal``, ``global`` of a private name, ``async`` code, ``match`` (class patterns read
     attributes without going through ``_getattr_``);
   - ``return`` / ``break`` / ``continue`` directly inside ``finally`` (they would swallow the
     worker's soft-timeout exception);
   - a missing top-level ``def select(ctx):`` (callable with one positional argument).

2. RestrictedPython's transformer (a subclass, :class:`SelectorPolicy`) refuses names and
   attributes starting with ``_``, the attribute names of frames/generators/tracebacks it knows,
   ``exec``/``eval`` calls, ``try``/``except*``; and rewrites attribute, item, iteration, unpacking,
   augmented-assignment and ``print`` operations into calls of the guards of
   :mod:`policy_engine.sandbox.python_guards`. Our subclass also rewrites ``a ** b`` to
   ``_pow_(a, b)`` (no ``10 ** 10 ** 8`` in C), bare ``except:`` to ``except Exception:`` and
   every ``except X:`` to ``except (_except_() or X):`` so a script can neither catch the
   soft-timeout exception (it derives from ``BaseException``, which is not in the builtins) nor
   turn it into an exception it can catch.

Compiling is bounded before it starts: a script longer than :data:`MAX_SOURCE_CHARS` is refused
unparsed (compiling costs about 10 µs a character at worst, measured: 64 KiB of
``x[1][2]`` statements take about 0.7 s, 256 KiB about 3 s), and only worker processes compile
untrusted scripts, under the call's deadline (:mod:`~policy_engine.sandbox.python_runner`); the
engine's own process never does.

Compiled results are cached by :func:`~policy_engine.sandbox.base.source_hash` (the first
filename seen for a source is the one its code object carries). A compile that failed for want of
resources (``MemoryError``, ``RecursionError``: they depend on the process's state and its stack
depth, not on the script alone) is marked :attr:`CompiledSelector.transient` and never cached, so
it is tried again next time instead of disabling the script for the life of the process.
"""

from __future__ import annotations

import ast
import re
import threading
from collections import OrderedDict
from dataclasses import field
from types import CodeType
from typing import Any

from RestrictedPython import compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from policy_engine.common.records import dataclass

from .base import MAX_PYTHON_SOURCE_CHARS, SourceProblem, source_hash

__all__ = [
    "MAX_SOURCE_CHARS",
    "CompiledSelector",
    "SelectorChecker",
    "SelectorPolicy",
    "check_source",
    "compile_selector",
]

MAX_SOURCE_CHARS = MAX_PYTHON_SOURCE_CHARS  # a selector is a few lines; refuse pathological inputs before parsing
CACHE_SIZE = 128

_RP_ERROR = re.compile(r"^Line (\d+|None): (.*)$", re.DOTALL)


@dataclass(frozen=True)
class CompiledSelector:
    """The result of compiling one script: a code object, or the problems that stop it."""

    code: CodeType | None
    problems: tuple[SourceProblem, ...] = ()
    codes: frozenset[CodeType] = field(default_factory=frozenset)  # every code object of the script
    transient: bool = False  # failed for want of memory or stack: worth trying again, never cached

    @property
    def ok(self) -> bool:
        """True when the script compiled."""
        return self.code is not None and not self.problems


class SelectorPolicy(RestrictingNodeTransformer):
    """RestrictedPython's transformer plus two rewrites: ``a ** b`` and bare ``except:``."""

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        """``a ** b`` becomes ``_pow_(a, b)`` (a guarded ``pow``)."""
        node = super().visit_BinOp(node)
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
            call = ast.Call(func=ast.Name("_pow_", ast.Load()), args=[node.left, node.right], keywords=[])
            copy_locations(call, node)
            copy_locations(call.func, node)
            return call
        return node

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> Any:
        """``except X:`` becomes ``except (_except_() or X):``; a bare ``except:`` catches ``Exception``.

        ``_except_()`` re-raises the soft timeout once it has fired, before ``X`` is evaluated.
        """
        node = super().visit_ExceptHandler(node)
        if isinstance(node, ast.ExceptHandler):
            caught = node.type if node.type is not None else ast.Name("Exception", ast.Load())
            guard = ast.Call(func=ast.Name("_except_", ast.Load()), args=[], keywords=[])
            node.type = ast.BoolOp(op=ast.Or(), values=[guard, caught])
            for new in (caught, guard, guard.func, node.type):
                copy_locations(new, node)
        return node


def _problem(node: ast.AST, message: str) -> SourceProblem:
    line = getattr(node, "lineno", None)
    col = getattr(node, "col_offset", None)
    return SourceProblem(message, line, None if col is None else col + 1)


class SelectorChecker(ast.NodeVisitor):
    """The selector's own rules (see the module docstring); collects :class:`SourceProblem`."""

    def __init__(self) -> None:
        self.problems: list[SourceProblem] = []

    def refuse(self, node: ast.AST, message: str) -> None:
        """Record a problem at ``node``."""
        self.problems.append(_problem(node, message))

    def visit_Import(self, node: ast.Import) -> None:
        """``import x`` is refused."""
        names = ", ".join(alias.name for alias in node.names)
        self.refuse(node, f"'import {names}' is not allowed: selectors cannot import modules")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        """``from x import y`` is refused."""
        module = "." * node.level + (node.module or "")
        self.refuse(node, f"'from {module} import ...' is not allowed: selectors cannot import modules")

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        """Class definitions are refused."""
        self.refuse(node, f"class definitions are not allowed in a selector (class {node.name})")
        self.generic_visit(node)

    def visit_Yield(self, node: ast.Yield) -> None:
        """Generator functions are refused."""
        self.refuse(node, "'yield' is not allowed in a selector (generator expressions are)")
        self.generic_visit(node)

    def visit_YieldFrom(self, node: ast.YieldFrom) -> None:
        """Generator functions are refused."""
        self.refuse(node, "'yield from' is not allowed in a selector")
        self.generic_visit(node)

    def visit_With(self, node: ast.With) -> None:
        """``with`` is refused."""
        self.refuse(node, "'with' statements are not allowed in a selector")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        """Annotated assignments are refused by RestrictedPython; say how to fix it."""
        self.refuse(node, "annotated assignments ('x: int = ...') are not allowed in a selector; drop the annotation")
        self.generic_visit(node)

    def visit_Nonlocal(self, node: ast.Nonlocal) -> None:
        """``nonlocal`` is refused."""
        self.refuse(node, "'nonlocal' is not allowed in a selector")

    def visit_Global(self, node: ast.Global) -> None:
        """``global`` is allowed for public names only (module state between calls)."""
        for name in node.names:
            if name.startswith("_"):
                self.refuse(node, f"'global {name}' is not allowed: names starting with '_' are reserved")

    def _refuse_async(self, node: ast.AST) -> None:
        self.refuse(node, "async code is not allowed in a selector")
        self.generic_visit(node)

    visit_AsyncFunctionDef = _refuse_async
    visit_AsyncFor = _refuse_async
    visit_AsyncWith = _refuse_async
    visit_Await = _refuse_async

    def visit_Match(self, node: ast.AST) -> None:
        """``match`` is refused (class patterns read attributes unguarded)."""
        self.refuse(node, "'match' statements are not allowed in a selector")

    def visit_Try(self, node: ast.Try) -> None:
        """No ``return``/``break``/``continue`` directly in ``finally`` (they swallow exceptions)."""
        for statement in node.finalbody:
            self._check_finally(statement, in_loop=False)
        self.generic_visit(node)

    visit_TryStar = visit_Try

    def _check_finally(self, node: ast.AST, in_loop: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return
        if isinstance(node, ast.Return) or (isinstance(node, (ast.Break, ast.Continue)) and not in_loop):
            word = type(node).__name__.lower()
            self.refuse(node, f"'{word}' inside 'finally' is not allowed in a selector (it would swallow errors)")
            return
        loop = isinstance(node, (ast.For, ast.While, ast.AsyncFor))
        for child in ast.iter_child_nodes(node):
            # a loop's else-clause is not part of the loop for break/continue
            inside = in_loop or (loop and child not in getattr(node, "orelse", []))
            self._check_finally(child, inside)

    def check_select(self, tree: ast.Module) -> None:
        """There must be a top-level ``def select(ctx)`` callable with one positional argument."""
        selects = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "select"]
        if not selects:
            self.problems.append(SourceProblem("the script must define a top-level function 'def select(ctx):'"))
            return
        args = selects[-1].args
        positional = len(args.posonlyargs) + len(args.args)
        required = positional - len(args.defaults)
        required_kw = sum(1 for default in args.kw_defaults if default is None)
        if (positional < 1 and args.vararg is None) or required > 1 or required_kw:
            self.refuse(selects[-1], "select must take exactly one argument: 'def select(ctx):'")


def _collect_codes(code: CodeType) -> frozenset[CodeType]:
    found: set[CodeType] = set()
    stack = [code]
    while stack:
        current = stack.pop()
        if current in found:
            continue
        found.add(current)
        stack.extend(const for const in current.co_consts if isinstance(const, CodeType))
    return frozenset(found)


def _rp_problems(messages: tuple[str, ...] | list[str]) -> list[SourceProblem]:
    problems = []
    for message in messages:
        match = _RP_ERROR.match(message)
        if match is None:
            problems.append(SourceProblem(message))
            continue
        line = None if match.group(1) == "None" else int(match.group(1))
        problems.append(SourceProblem(match.group(2).strip(), line))
    return problems


def _short_of(exc: BaseException, step: str) -> CompiledSelector:
    """A compile that ran out of memory or stack: reported, marked transient (never cached)."""
    why = "it is nested too deeply" if isinstance(exc, RecursionError) else "out of memory"
    return CompiledSelector(None, (SourceProblem(f"the script cannot be {step}: {type(exc).__name__} ({why})"),),
                            transient=True)


def _compile(source: str, filename: str) -> CompiledSelector:
    if len(source) > MAX_SOURCE_CHARS:
        return CompiledSelector(None, (SourceProblem(f"the script is too large (over {MAX_SOURCE_CHARS} characters)"),))
    try:
        tree = ast.parse(source, filename, mode="exec")
    except SyntaxError as exc:
        return CompiledSelector(None, (SourceProblem(f"SyntaxError: {exc.msg}", exc.lineno, exc.offset),))
    except (RecursionError, MemoryError) as exc:  # absurd nesting, or a process short of memory
        return _short_of(exc, "parsed")
    except ValueError as exc:  # null bytes
        return CompiledSelector(None, (SourceProblem(f"the script cannot be parsed: {type(exc).__name__}"),))
    checker = SelectorChecker()
    try:
        checker.visit(tree)
    except (RecursionError, MemoryError) as exc:
        return _short_of(exc, "checked")
    checker.check_select(tree)
    try:
        result = compile_restricted_exec(tree, filename, policy=SelectorPolicy)
    except SyntaxError as exc:  # e.g. 'return' outside function, found by the compiler
        problem = SourceProblem(f"SyntaxError: {exc.msg}", exc.lineno, exc.offset)
        return CompiledSelector(None, (*checker.problems, problem))
    except (RecursionError, MemoryError) as exc:
        return _short_of(exc, "compiled")
    except ValueError as exc:
        return CompiledSelector(None, (SourceProblem(f"the script cannot be compiled: {type(exc).__name__}"),))
    ours = checker.problems
    seen_lines = {problem.line for problem in ours if problem.line is not None}
    theirs = [problem for problem in _rp_problems(result.errors) if problem.line not in seen_lines]
    problems = sorted(ours + theirs, key=lambda p: (p.line is not None, p.line or 0, p.column or 0))
    if problems or result.code is None:
        return CompiledSelector(None, tuple(problems) or (SourceProblem("the script does not compile"),))
    return CompiledSelector(result.code, (), _collect_codes(result.code))


_cache: OrderedDict[str, CompiledSelector] = OrderedDict()
_cache_lock = threading.Lock()


def compile_selector(source: str, filename: str = "<selector>", key: str | None = None) -> CompiledSelector:
    """Compile ``source`` (cached under its :func:`source_hash`, or ``key`` when the caller has it)."""
    key = key or source_hash(source)
    with _cache_lock:
        cached = _cache.get(key)
        if cached is not None:
            _cache.move_to_end(key)
            return cached
    compiled = _compile(source, filename)
    if compiled.transient:
        return compiled
    with _cache_lock:
        _cache[key] = compiled
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
    return compiled


def check_source(source: str, filename: str = "<selector>") -> list[SourceProblem]:
    """The problems that stop ``source`` from running (empty when it compiles). Never runs it."""
    return list(compile_selector(source, filename).problems)

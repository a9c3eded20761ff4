"""The restricted globals a Python selector runs with: every guard RestrictedPython's code calls.

One module on purpose (about 500 lines): the allow-list is one security boundary, audited as a whole.

Security model
--------------
RestrictedPython (see :mod:`policy_engine.sandbox.python_compile`) rewrites the script so that
every attribute read becomes ``_getattr_(obj, "name")``, every subscript ``_getitem_(obj, key)``,
every loop ``_getiter_(iterable)``, every write to an attribute or item goes through
``_write_(obj)``, every ``x += y`` through ``_inplacevar_``, every tuple unpacking through
``_unpack_sequence_`` / ``_iter_unpack_sequence_``, every ``f(*a, **k)`` through ``_apply_``,
every ``print`` through ``_print_`` and (our own addition) every ``a ** b`` through ``_pow_``. It
also refuses, at compile time, any name or attribute starting with ``_``. On its own it guards
nothing: the guards below decide what the script may touch.

The principle is an ALLOW-LIST of plain data. A selector only ever needs the JSON-like values it
is given and builds, so:

- ``_getattr_`` reads attributes only of instances of ``str``, ``int``, ``float``, ``bool``,
  ``list``, ``tuple``, ``dict``, ``set``, ``frozenset`` and ``None`` (their methods: ``.lower()``,
  ``.get()``, ``.append()`` ...), and the methods defined on those types themselves
  (``str.lower``, ``dict.fromkeys``), never a name starting with ``_`` and never
  ``str.format`` / ``str.format_map`` (their format strings walk attributes:
  ``"{0.__class__}".format(x)``). Everything else is refused: functions and lambdas
  (``__globals__``), generators (``gi_frame`` → ``f_back`` → ``f_globals``: no underscore, so
  RestrictedPython's ``safer_getattr`` would let them through), frames, code objects, tracebacks,
  exceptions (``with_traceback``, ``args``), bound methods, modules, other classes, ``mro``.
- ``_getitem_`` indexes only ``dict`` (any key) and ``list`` / ``tuple`` / ``str`` / ``range``
  (integers and slices).
- ``_getiter_`` iterates only the built-in containers, their views and iterators, and generator
  expressions.
- ``_write_`` lets the script modify only ``list``, ``dict`` and ``set`` objects; every such
  object it can reach is its own (``ctx`` is a fresh copy per call).
- ``_print_`` collects what ``print`` writes in memory (capped) and discards it; ``file=`` is
  ignored, so ``print`` can never write anywhere.
- The builtins are a fixed, deliberate set of pure functions. There is no ``__import__``,
  ``open``, ``type``, ``object``, ``super``, ``vars``, ``dir``, ``globals``, ``locals``,
  ``eval``, ``exec``, ``compile``, ``help``, ``input``, ``breakpoint``, ``memoryview``, ``id``,
  ``setattr`` or ``delattr``; ``getattr`` / ``hasattr`` / ``iter`` / ``next`` are the guarded ones.
  ``BaseException``, ``SystemExit``, ``KeyboardInterrupt`` and ``GeneratorExit`` are absent so a
  script cannot name (and catch) the worker's soft-timeout exception, which derives directly from
  ``BaseException``; bare ``except:`` is compiled as ``except Exception:``, and every ``except``
  clause first calls ``_except_()``, which re-raises the timeout once it has fired (so it cannot
  be converted into a catchable exception either).
- ``sorted``, ``min``, ``max``, ``sum``, ``any``, ``all``, ``enumerate``, ``zip``, ``map``,
  ``filter`` and ``reversed`` are guarded versions: they iterate through ``_getiter_`` in Python
  (so the worker's soft-timeout signal can interrupt them, unlike a C loop), and ``sorted`` and
  sequence unpacking refuse to materialise more than :data:`MAX_ITEMS` items. ``pow`` / ``**`` /
  ``round`` refuse arguments whose result would take unbounded CPU time in C
  (``pow(10, 10**9)``, ``round(1, -10**9)``).

``list``, ``tuple``, ``set``, ``frozenset`` and ``dict`` stay the real types (so ``isinstance``
works); they iterate their argument in C, which is harmless here because nothing the script can
reach yields anything it could not reach anyway. RestrictedPython never limits CPU or memory:
that is the worker process's job (soft timer, ``RLIMIT_CPU``, ``RLIMIT_AS``, parent deadline).
"""

from __future__ import annotations

import builtins
import operator
import types
from collections.abc import Callable, Iterator
from typing import Any

__all__ = [
    "ALLOWED_ATTRIBUTE_TYPES",
    "MAX_ITEMS",
    "MAX_POW_BITS",
    "SelectorTimeout",
    "SoftTimeout",
    "make_globals",
    "safe_builtins",
]

MAX_ITEMS = 100_000  # items sorted() / unpacking / iter-based helpers may materialise
MAX_POW_BITS = 100_000  # a ** b (integers) refuses results larger than this many bits
MAX_PRINTED_CHARS = 64 * 1024  # print output kept (then discarded with the call)
MAX_ROUND_DIGITS = 1_000

_NoneType = type(None)

ALLOWED_ATTRIBUTE_TYPES: frozenset[type] = frozenset(
    {str, int, float, bool, list, tuple, dict, set, frozenset, _NoneType}
)
"""Types whose instances' public attributes (methods) a selector may read."""

_ALLOWED_TYPE_OBJECTS: frozenset[type] = frozenset({str, int, float, bool, list, tuple, dict, set, frozenset})
_REFUSED_NAMES = frozenset({"format", "format_map", "mro"})
_INDEXABLE_SEQUENCES = (list, tuple, str, range)
_WRITABLE_TYPES = frozenset({list, dict, set})
_REVERSIBLE_TYPES = frozenset({list, tuple, str, range, dict, type({}.keys()), type({}.values()), type({}.items())})


def _iterator_types() -> frozenset[type]:
    samples: list[Any] = [
        "", "é", b"", [], (), set(), frozenset(), {}, {}.keys(), {}.values(), {}.items(), range(0), range(2**70),
    ]
    found = {type(iter(sample)) for sample in samples}
    found |= {type(reversed(sample)) for sample in ([], "", (), range(0), range(2**70), {}, {}.keys())}
    found.add(types.GeneratorType)
    return frozenset(found)


_ITERATOR_TYPES = _iterator_types()
_ITERABLE_TYPES: frozenset[type] = frozenset(
    {str, bytes, list, tuple, set, frozenset, dict, range, type({}.keys()), type({}.values()), type({}.items())}
) | _ITERATOR_TYPES


def _describe(obj: object) -> str:
    kind = type(obj)
    if kind is type:
        return f"the type {obj.__name__!r}"  # type: ignore[attr-defined]
    return f"a {kind.__name__} object"


# --- the soft timeout ----------------------------------------------------------------------------


class SelectorTimeout(BaseException):
    """Raised inside a script when the call's soft timeout fires (by the worker's ``SIGALRM`` handler).

    It derives from ``BaseException`` directly, a name scripts cannot use, and every ``except``
    clause first calls :func:`guarded_except`; so no script can catch it.
    """


class SoftTimeout:
    """The state of the current call's soft timeout (set by the worker, read by the guards)."""

    armed: bool = False
    fired: bool = False


def guarded_except() -> None:
    """Evaluated before the type of every ``except`` clause (``except (_except_() or X):``).

    Once the call's soft timeout has fired no handler may catch anything: otherwise a script could
    turn the timeout into another exception (an ``except`` clause whose type expression raises, a
    ``finally`` that raises) and catch that one.
    """
    if SoftTimeout.fired:
        raise SelectorTimeout


# --- attribute, item and iteration guards -------------------------------------------------


def guarded_getattr(obj: Any, name: str, *default: Any) -> Any:
    """``obj.name`` for the allowed data types only (see the module docstring)."""
    if type(name) is not str:
        raise TypeError("an attribute name must be a string")
    if len(default) > 1:
        raise TypeError(f"getattr expected at most 3 arguments, got {2 + len(default)}")
    if name.startswith("_"):
        raise AttributeError(f"attribute {name!r} is not allowed in a selector (it starts with '_')")
    kind = type(obj)
    if kind in ALLOWED_ATTRIBUTE_TYPES:
        if kind is str and name in _REFUSED_NAMES:
            raise AttributeError(f"str.{name} is not allowed in a selector; use an f-string or '%' instead")
    elif kind is type and obj in _ALLOWED_TYPE_OBJECTS:
        member = vars(obj).get(name)
        if member is None or name in _REFUSED_NAMES or not callable(member):
            raise AttributeError(f"attribute {name!r} of {_describe(obj)} is not allowed in a selector")
    else:
        raise AttributeError(f"attribute {name!r} of {_describe(obj)} is not allowed in a selector")
    if default:
        return getattr(obj, name, default[0])
    return getattr(obj, name)


def guarded_hasattr(obj: Any, name: str) -> bool:
    """``hasattr`` through :func:`guarded_getattr` (refused attributes are reported as missing)."""
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj: Any, key: Any) -> Any:
    """``obj[key]`` on a dict, or on a list/tuple/str/range with an integer or a slice."""
    kind = type(obj)
    if kind is dict:
        return obj[key]
    if kind in _INDEXABLE_SEQUENCES:
        if type(key) is slice or isinstance(key, int):
            return obj[key]
        raise TypeError(f"{kind.__name__} indices must be integers or slices, not {type(key).__name__}")
    raise TypeError(f"{_describe(obj)} cannot be indexed in a selector")


def guarded_getiter(obj: Any) -> Iterator[Any]:
    """``iter(obj)`` for built-in containers, their views and iterators, and generator expressions."""
    if type(obj) not in _ITERABLE_TYPES:
        raise TypeError(f"{_describe(obj)} cannot be iterated in a selector")
    return iter(obj)


def guarded_next(iterator: Any, *default: Any) -> Any:
    """``next(iterator[, default])`` for the iterators a selector can hold."""
    if type(iterator) not in _ITERATOR_TYPES:
        raise TypeError(f"{_describe(iterator)} is not an iterator")
    return next(iterator, *default)


def guarded_iter(obj: Any) -> Iterator[Any]:
    """``iter(obj)`` (the one-argument form only)."""
    return guarded_getiter(obj)


def guarded_write(obj: Any) -> Any:
    """The target of ``obj[k] = v`` / ``obj.a = v`` / ``del obj[k]``: only lists, dicts and sets."""
    if type(obj) in _WRITABLE_TYPES:
        return obj
    raise TypeError(f"{_describe(obj)} cannot be modified in a selector")


def _items(iterable: Any) -> Iterator[Any]:
    """Iterate in Python (not in C), so that the soft-timeout signal can interrupt the loop."""
    # An explicit loop (not ``yield from``): its backward jump is where the signal is handled.
    for item in guarded_getiter(iterable):  # noqa: UP028
        yield item


def _materialise(iterable: Any, what: str, limit: int = MAX_ITEMS) -> list[Any]:
    out: list[Any] = []
    append = out.append
    for item in guarded_getiter(iterable):
        if len(out) >= limit:
            raise ValueError(f"{what} accepts at most {limit} items in a selector")
        append(item)
    return out


def guarded_unpack_sequence(it: Any, spec: dict[str, Any], _getiter_: Callable[[Any], Iterator[Any]]) -> list[Any]:
    """``a, (b, c) = it``: at most :data:`MAX_ITEMS` items, nested targets unpacked the same way."""
    ret = _materialise(it, "unpacking")
    if len(ret) < spec["min_len"]:
        return ret
    for idx, child_spec in spec["childs"]:
        ret[idx] = guarded_unpack_sequence(ret[idx], child_spec, _getiter_)
    return ret


def guarded_iter_unpack_sequence(
    it: Any, spec: dict[str, Any], _getiter_: Callable[[Any], Iterator[Any]]
) -> Iterator[list[Any]]:
    """``for a, b in it``: each item is unpacked with :func:`guarded_unpack_sequence`."""
    for ob in guarded_getiter(it):
        yield guarded_unpack_sequence(ob, spec, _getiter_)


# --- guarded builtins -------------------------------------------------------------------------

_MISSING = object()


def guarded_sorted(iterable: Any, /, *, key: Callable[[Any], Any] | None = None, reverse: bool = False) -> list[Any]:
    """``sorted`` of at most :data:`MAX_ITEMS` items, gathered through the guarded iterator."""
    items = _materialise(iterable, "sorted()")
    items.sort(key=key, reverse=reverse)
    return items


def _min_max(func: Callable[..., Any], name: str, args: tuple[Any, ...], key: Any, default: Any) -> Any:
    if not args:
        raise TypeError(f"{name} expected at least 1 argument, got 0")
    kwargs: dict[str, Any] = {}
    if key is not None:
        kwargs["key"] = key
    if len(args) == 1:
        if default is not _MISSING:
            kwargs["default"] = default
        return func(_items(args[0]), **kwargs)
    if default is not _MISSING:
        raise TypeError(f"Cannot specify a default for {name}() with multiple positional arguments")
    return func(args, **kwargs)


def guarded_min(*args: Any, key: Callable[[Any], Any] | None = None, default: Any = _MISSING) -> Any:
    """``min`` iterating through the guarded iterator."""
    return _min_max(builtins.min, "min", args, key, default)


def guarded_max(*args: Any, key: Callable[[Any], Any] | None = None, default: Any = _MISSING) -> Any:
    """``max`` iterating through the guarded iterator."""
    return _min_max(builtins.max, "max", args, key, default)


def guarded_sum(iterable: Any, /, start: Any = 0) -> Any:
    """``sum`` iterating through the guarded iterator."""
    return builtins.sum(_items(iterable), start)


def guarded_any(iterable: Any, /) -> bool:
    """``any`` iterating through the guarded iterator."""
    return builtins.any(_items(iterable))


def guarded_all(iterable: Any, /) -> bool:
    """``all`` iterating through the guarded iterator."""
    return builtins.all(_items(iterable))


def guarded_enumerate(iterable: Any, start: int = 0) -> Iterator[tuple[int, Any]]:
    """``enumerate`` as a generator over the guarded iterator."""
    index = operator.index(start)
    for item in guarded_getiter(iterable):
        yield index, item
        index += 1


def guarded_zip(*iterables: Any, strict: bool = False) -> Iterator[tuple[Any, ...]]:
    """``zip`` (with ``strict=``) as a generator over guarded iterators."""
    iterators = [guarded_getiter(it) for it in iterables]
    if not iterators:
        return
    while True:
        row = []
        for position, iterator in builtins.enumerate(iterators):
            try:
                row.append(next(iterator))
            except StopIteration:
                if strict:
                    if position:
                        raise ValueError(f"zip() argument {position + 1} is shorter than the others") from None
                    for other, rest in builtins.enumerate(iterators[1:], 2):
                        for _ in rest:
                            raise ValueError(f"zip() argument {other} is longer than the others") from None
                return
        yield tuple(row)


def guarded_map(func: Callable[..., Any], *iterables: Any) -> Iterator[Any]:
    """``map`` as a generator over guarded iterators."""
    if not iterables:
        raise TypeError("map() must have at least two arguments.")
    for args in guarded_zip(*iterables):
        yield func(*args)


def guarded_filter(func: Callable[[Any], Any] | None, iterable: Any) -> Iterator[Any]:
    """``filter`` as a generator over the guarded iterator."""
    for item in guarded_getiter(iterable):
        if (item if func is None else func(item)):
            yield item


def guarded_reversed(seq: Any) -> Iterator[Any]:
    """``reversed`` of a built-in sequence or dict."""
    if type(seq) not in _REVERSIBLE_TYPES:
        raise TypeError(f"{_describe(seq)} cannot be reversed in a selector")
    return builtins.reversed(seq)


def guarded_pow(base: Any, exp: Any, mod: Any = None) -> Any:
    """``pow`` and ``**``: refuses integer results (or moduli) larger than :data:`MAX_POW_BITS` bits."""
    if mod is not None:
        if isinstance(mod, int) and mod.bit_length() > MAX_POW_BITS:
            raise OverflowError("pow(): the modulus is too large for a selector")
        return builtins.pow(base, exp, mod)
    # |base| ** exp has about exp * log2(|base|) bits; refuse before spending minutes in C.
    if (
        isinstance(base, int) and isinstance(exp, int) and exp > 0 and base not in (0, 1, -1)
        and (exp > MAX_POW_BITS or exp * (abs(base).bit_length() - 1) > MAX_POW_BITS)
    ):
        raise OverflowError(f"the result of ** / pow() would have more than {MAX_POW_BITS} bits")
    return builtins.pow(base, exp)


def guarded_round(number: Any, ndigits: Any = None) -> Any:
    """``round`` with ``|ndigits| <= 1000`` (``round(1, -10**9)`` computes ``10**10**9`` in C)."""
    if ndigits is None:
        return builtins.round(number)
    if isinstance(ndigits, int) and abs(ndigits) > MAX_ROUND_DIGITS:
        raise ValueError(f"round(): ndigits must be between -{MAX_ROUND_DIGITS} and {MAX_ROUND_DIGITS}")
    return builtins.round(number, ndigits)


def guarded_apply(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``f(*args, **kwargs)`` (RestrictedPython routes star-calls here)."""
    return func(*args, **kwargs)


_INPLACE_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "+=": operator.iadd,
    "-=": operator.isub,
    "*=": operator.imul,
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": operator.imod,
    "**=": guarded_pow,
    "<<=": operator.ilshift,
    ">>=": operator.irshift,
    "&=": operator.iand,
    "^=": operator.ixor,
    "|=": operator.ior,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    """``name op= value`` for a plain variable (``**=`` goes through :func:`guarded_pow`)."""
    try:
        func = _INPLACE_OPERATORS[op]
    except KeyError:
        raise TypeError(f"the operator {op} is not allowed in a selector") from None
    return func(target, value)


class DiscardingPrinter:
    """``print`` for selectors: text is kept in memory (at most 64 KiB) and thrown away with the call.

    RestrictedPython compiles ``print(...)`` to ``_print._call_print(...)`` with
    ``_print = _print_(_getattr_)`` at the top of the function, and ``printed`` to ``_print()``.
    ``file=`` and ``flush=`` are ignored: nothing is ever written to a stream.
    """

    __slots__ = ("_parts", "_size")

    def __init__(self, _getattr: object = None) -> None:
        self._parts: list[str] = []
        self._size = 0

    def __call__(self) -> str:
        return "".join(self._parts)

    def _call_print(self, *objects: Any, sep: Any = " ", end: Any = "\n", file: Any = None, flush: Any = False) -> None:
        sep = sep if type(sep) is str else " "
        end = end if type(end) is str else "\n"
        if self._size >= MAX_PRINTED_CHARS:
            return
        text = sep.join(str(obj) for obj in objects) + end
        text = text[: MAX_PRINTED_CHARS - self._size]
        self._size += len(text)
        self._parts.append(text)


_PLAIN_BUILTINS: tuple[str, ...] = (
    "abs", "bin", "bool", "callable", "chr", "dict", "divmod", "float", "frozenset", "hash", "hex", "int",
    "isinstance", "issubclass", "len", "list", "oct", "ord", "range", "repr", "set", "str", "tuple",
)
_EXCEPTIONS: tuple[str, ...] = (
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError", "LookupError",
    "NameError", "NotImplementedError", "OverflowError", "RecursionError", "RuntimeError", "StopIteration",
    "TypeError", "UnboundLocalError", "UnicodeDecodeError", "UnicodeEncodeError", "UnicodeError", "ValueError",
    "ZeroDivisionError",
)


def _build_safe_builtins() -> dict[str, Any]:
    table: dict[str, Any] = {name: getattr(builtins, name) for name in _PLAIN_BUILTINS + _EXCEPTIONS}
    table.update(
        {
            "None": None,
            "True": True,
            "False": False,
            "all": guarded_all,
            "any": guarded_any,
            "enumerate": guarded_enumerate,
            "filter": guarded_filter,
            "getattr": guarded_getattr,
            "hasattr": guarded_hasattr,
            "iter": guarded_iter,
            "map": guarded_map,
            "max": guarded_max,
            "min": guarded_min,
            "next": guarded_next,
            "pow": guarded_pow,
            "reversed": guarded_reversed,
            "round": guarded_round,
            "sorted": guarded_sorted,
            "sum": guarded_sum,
            "zip": guarded_zip,
        }
    )
    return table


safe_builtins: dict[str, Any] = _build_safe_builtins()
"""The builtins of a selector (a copy goes into each script's globals)."""

_GUARDS: dict[str, Any] = {
    "_getattr_": guarded_getattr,
    "_getitem_": guarded_getitem,
    "_getiter_": guarded_getiter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": guarded_write,
    "_inplacevar_": guarded_inplacevar,
    "_apply_": guarded_apply,
    "_print_": DiscardingPrinter,
    "_pow_": guarded_pow,
    "_except_": guarded_except,
}


def make_globals(name: str = "selector") -> dict[str, Any]:
    """Fresh globals for one script: its own copy of the safe builtins plus the guards.

    ``__builtins__`` must always be present: without it CPython would hand the script the real
    builtins module.
    """
    namespace: dict[str, Any] = {"__builtins__": dict(safe_builtins), "__name__": name}
    namespace.update(_GUARDS)
    return namespace

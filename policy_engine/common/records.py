"""``dataclass``, the standard library's, with cheaper class creation: the engine's records are defined with it.

On Python 3.11 :func:`dataclasses.dataclass` writes the source of every method it adds and compiles
it with ``exec``: about 60 µs a method, five or six methods a frozen class. With some fifty records
imported by a one-shot command, that was an eighth of a cold ``mp-policy eval``. This decorator lets
the standard library add ``__init__`` (and a frozen class's ``__setattr__`` / ``__delattr__``),
which must be compiled to be fast, and gives ``__repr__``, ``__eq__`` and ``__hash__`` as shared
functions over the class's field names instead: no compilation, the same results.

What stays exactly as :func:`dataclasses.dataclass` has it: the signature and defaults, the fields
(:func:`dataclasses.fields`, :func:`dataclasses.replace`, :func:`dataclasses.asdict`),
``__dataclass_params__``, ``__match_args__``, slots, frozen errors, and these rules:

- ``__repr__`` is ``ClassName(a=1, b='x')`` over the fields with ``repr=True``, ``...`` for a
  record that contains itself;
- ``__eq__`` compares the tuples of the fields with ``compare=True`` when both are of the same
  class, else returns ``NotImplemented``;
- ``__hash__``: a frozen class with ``eq`` hashes the fields whose ``hash`` is true (or, when
  ``None``, whose ``compare`` is); a mutable class with ``eq`` is unhashable.

A frozen record's ``__init__`` is also its own. The standard library's stores every field through
``object.__setattr__`` (it must get past the class's ``__setattr__``, which refuses), about 80 ns a
field on Python 3.11, more than the rest of the call: a decision creates a few dozen frozen fields.
Ours has the same signature, defaults, default factories, ``init=False`` fields, ``__post_init__``
call and error for a non-default field after a default one, and stores each value where
``object.__setattr__`` would have put it, directly: into the instance's ``__dict__``, or through the
slot's own descriptor. A field that a data descriptor of the class (a property, say) would
intercept keeps ``object.__setattr__``; a class with ``InitVar`` fields or an ``__init__`` of its
own keeps the standard library's.

A class that defines one of these methods itself, or asks for ``order`` or ``unsafe_hash``, is
handed to :func:`dataclasses.dataclass` whole. Type checkers and editors see the records as
dataclasses (:func:`typing.dataclass_transform`). ``tests/common/test_records.py`` compares the two
over every combination of options.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
from types import MemberDescriptorType
from typing import Any, TypeVar, dataclass_transform, overload

__all__ = ["dataclass"]

_T = TypeVar("_T")
_OWN = ("__repr__", "__eq__", "__hash__")


@overload
def dataclass(cls: type[_T], /) -> type[_T]: ...


@overload
def dataclass(*, init: bool = True, repr: bool = True, eq: bool = True, order: bool = False,
              unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True, kw_only: bool = False,
              slots: bool = False, weakref_slot: bool = False) -> Callable[[type[_T]], type[_T]]: ...


@dataclass_transform(field_specifiers=(dataclasses.field, dataclasses.Field))
def dataclass(cls: type[_T] | None = None, /, *, init: bool = True, repr: bool = True, eq: bool = True,
              order: bool = False, unsafe_hash: bool = False, frozen: bool = False, match_args: bool = True,
              kw_only: bool = False, slots: bool = False,
              weakref_slot: bool = False) -> type[_T] | Callable[[type[_T]], type[_T]]:
    """:func:`dataclasses.dataclass` with the same arguments and result, defined faster (see the module)."""

    def wrap(c: type[_T]) -> type[_T]:
        if order or unsafe_hash or any(name in c.__dict__ for name in _OWN):
            return dataclasses.dataclass(c, init=init, repr=repr, eq=eq, order=order, unsafe_hash=unsafe_hash,
                                         frozen=frozen, match_args=match_args, kw_only=kw_only, slots=slots,
                                         weakref_slot=weakref_slot)
        own_init = init and frozen and "__init__" not in c.__dict__ and not _has_init_vars(c)
        documented = bool(c.__doc__)
        made = dataclasses.dataclass(c, init=init and not own_init, repr=False, eq=False, frozen=frozen,
                                     match_args=match_args, kw_only=kw_only, slots=slots, weakref_slot=weakref_slot)
        fields = dataclasses.fields(made)  # type: ignore[arg-type]
        if own_init:
            made.__init__ = _frozen_init(made, fields)  # type: ignore[method-assign]
            made.__dataclass_params__.init = True  # type: ignore[attr-defined]
            if not documented:  # the standard library's class doc is its signature, from the __init__
                made.__doc__ = made.__name__ + str(inspect.signature(made)).replace(" -> None", "")
        if repr:
            made.__repr__ = _repr([f.name for f in fields if f.repr])  # type: ignore[method-assign]
        if eq:
            made.__eq__ = _eq(_values([f.name for f in fields if f.compare]))  # type: ignore[method-assign]
            hashed = [f.name for f in fields if (f.compare if f.hash is None else f.hash)]
            made.__hash__ = _hash(_values(hashed)) if frozen else None  # type: ignore[method-assign,assignment]
        for name in _OWN:
            method = made.__dict__.get(name)
            if method is not None:
                method.__qualname__ = f"{made.__qualname__}.{name}"
        params = made.__dataclass_params__  # type: ignore[attr-defined]
        params.repr, params.eq = repr, eq
        return made

    return wrap if cls is None else wrap(cls)


def _has_init_vars(c: type) -> bool:
    """Whether the class or a base declares an ``InitVar`` (written as a string or not); ``True`` when an
    annotation cannot be read (deferred annotations naming what is not defined yet): the standard library
    then decides."""
    for k in c.__mro__:
        try:
            annotations = inspect.get_annotations(k)
        except Exception:  # any failure: leave the class to the standard library
            return True
        for annotation in annotations.values():
            if isinstance(annotation, dataclasses.InitVar) or annotation is dataclasses.InitVar or (
                    isinstance(annotation, str) and "InitVar" in annotation):
                return True
    return False


class _Factory:
    """The default of a parameter whose field has a default factory (shown as the standard library shows it)."""

    def __repr__(self) -> str:
        return "<factory>"


_FACTORY = _Factory()


def _store(cls: type, name: str, k: int, names: dict[str, Any]) -> str:
    """The statement that stores ``{}`` into field ``name`` (number ``k``) where ``object.__setattr__`` would."""
    where = next((c.__dict__[name] for c in cls.__mro__ if name in c.__dict__), None)
    if isinstance(where, MemberDescriptorType):  # a slot: its descriptor's __set__ skips the class's __setattr__
        names[f"__rec_set{k}"] = where.__set__
        return f"__rec_set{k}(__rec_self, {{}})"
    if hasattr(type(where), "__set__") or hasattr(type(where), "__delete__"):  # a data descriptor decides
        names["__rec_setattr"] = object.__setattr__
        return f"__rec_setattr(__rec_self, {name!r}, {{}})"
    return f"__rec_dict[{name!r}] = {{}}"  # the body looks up the instance's __dict__ first (_frozen_init)


def _frozen_init(cls: type, fields: tuple[dataclasses.Field[Any], ...]) -> Callable[..., None]:
    """The ``__init__`` of a frozen record: the standard library's, storing each value directly (see the module)."""
    missing = dataclasses.MISSING
    seen_default = False
    for f in fields:
        if not f.init or f.kw_only:
            continue
        if f.default is not missing or f.default_factory is not missing:
            seen_default = True
        elif seen_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
    names: dict[str, Any] = {"__rec_factory": _FACTORY}
    positional, body = ["__rec_self"], []
    keyword: list[str] = []
    for k, f in enumerate(fields):
        names[f"__rec_type{k}"] = f.type
        if f.default_factory is not missing:
            names[f"__rec_default{k}"] = f.default_factory
            value = f"__rec_default{k}() if {f.name} is __rec_factory else {f.name}" if f.init else \
                f"__rec_default{k}()"
            default = " = __rec_factory"
        elif f.init:
            value, default = f.name, ""
            if f.default is not missing:
                names[f"__rec_default{k}"] = f.default
                default = f" = __rec_default{k}"
        elif "__slots__" in cls.__dict__ and f.default is not missing:
            names[f"__rec_default{k}"] = f.default  # a slot has no class attribute to fall back on
            value = f"__rec_default{k}"
        else:
            continue  # reading it finds the class attribute, as with the standard library
        if f.init:
            (keyword if f.kw_only else positional).append(f"{f.name}: __rec_type{k}{default}")
        body.append(_store(cls, f.name, k, names).format(value))
    if any(line.startswith("__rec_dict[") for line in body):
        body.insert(0, "__rec_dict = __rec_self.__dict__")
    if hasattr(cls, "__post_init__"):
        body.append("__rec_self.__post_init__()")
    params = positional + (["*", *keyword] if keyword else [])
    lines = "\n".join(f"  {line}" for line in body or ["pass"])
    source = f"def __rec_make({', '.join(names)}):\n def __init__({', '.join(params)}) -> None:\n{lines}\n" \
             " return __init__"
    scope: dict[str, Any] = {}
    # generated from the field names, as the standard library does; without this module's __future__ import, so
    # the annotations are the fields' types, not the names of the variables holding them
    exec(compile(source, f"<{cls.__qualname__}.__init__>", "exec", dont_inherit=True), {}, scope)
    made: Callable[..., None] = scope["__rec_make"](**names)
    made.__qualname__ = f"{cls.__qualname__}.__init__"
    made.__module__ = cls.__module__
    return made


def _values(names: list[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of an instance's values of ``names``."""
    if len(names) > 1:
        return attrgetter(*names)  # type: ignore[return-value]
    if names:
        one = attrgetter(names[0])
        return lambda instance: (one(instance),)
    return lambda instance: ()


def _repr(names: list[str]) -> Callable[[Any], str]:
    getters = [(f"{name}=", attrgetter(name)) for name in names]

    @recursive_repr()
    def __repr__(self: Any) -> str:
        return f"{self.__class__.__qualname__}({', '.join(label + repr(get(self)) for label, get in getters)})"

    return __repr__


def _eq(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any, Any], Any]:
    def __eq__(self: Any, other: Any) -> Any:
        if other.__class__ is self.__class__:
            return values(self) == values(other)
        return NotImplemented

    return __eq__


def _hash(values: Callable[[Any], tuple[Any, ...]]) -> Callable[[Any], int]:
    def __hash__(self: Any) -> int:
        return hash(values(self))

    return __hash__

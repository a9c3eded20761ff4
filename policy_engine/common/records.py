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

A class that defines one of these methods itself, or asks for ``order`` or ``unsafe_hash``, is
handed to :func:`dataclasses.dataclass` whole. Type checkers and editors see the records as
dataclasses (:func:`typing.dataclass_transform`). ``tests/common/test_records.py`` compares the two
over every combination of options.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from operator import attrgetter
from reprlib import recursive_repr
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
        made = dataclasses.dataclass(c, init=init, repr=False, eq=False, frozen=frozen, match_args=match_args,
                                     kw_only=kw_only, slots=slots, weakref_slot=weakref_slot)
        fields = dataclasses.fields(made)
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

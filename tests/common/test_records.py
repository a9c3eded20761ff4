"""The engine's ``dataclass`` gives what the standard library's gives, over every combination of options."""

from __future__ import annotations

import dataclasses
import itertools
import pickle
import re
from typing import Any, ClassVar

import pytest

from policy_engine.common import records

OPTIONS = ("frozen", "slots", "eq", "repr", "kw_only")
COMBINATIONS = [dict(zip(OPTIONS, values, strict=True)) for values in itertools.product((False, True), repeat=5)]


def _make(decorator: Any, options: dict[str, bool]) -> type:
    """The same class body under ``decorator``: every kind of field the rules treat apart."""

    class Sample:
        """A sample record."""

        tag: ClassVar[str] = "class variable, not a field"
        name: str
        count: int = 0
        note: str = dataclasses.field(default="n", compare=False)
        secret: str = dataclasses.field(default="s", repr=False)
        hashed_only: int = dataclasses.field(default=1, compare=False, hash=True)
        compared_unhashed: int = dataclasses.field(default=2, hash=False)
        items: list[int] = dataclasses.field(default_factory=list, hash=False)
        seed: dataclasses.InitVar[int] = 0

        def __post_init__(self, seed: int) -> None:
            if seed:
                self.items.append(seed)

    return decorator(**options)(Sample)


def _instances(cls: type, kw_only: bool) -> list[Any]:
    values = [("a", 0, "n", "s", 1, 2, 5), ("a", 0, "other note", "other", 1, 2, 5), ("a", 1, "n", "s", 1, 2, 5),
              ("a", 0, "n", "s", 9, 2, 5), ("a", 0, "n", "s", 1, 3, 5), ("b", 0, "n", "s", 1, 2, 0)]
    names = ("name", "count", "note", "secret", "hashed_only", "compared_unhashed", "seed")
    return [cls(**dict(zip(names, v, strict=True))) for v in values]


def _outcome(call: Any) -> Any:
    try:
        return ("value", call())
    except Exception as exc:  # the kind of error is part of the contract
        return ("error", type(exc))


@pytest.mark.parametrize("options", COMBINATIONS, ids=lambda o: "-".join(k for k, v in o.items() if v) or "plain")
def test_the_same_as_the_standard_library(options: dict[str, bool]) -> None:
    ours, theirs = _make(records.dataclass, options), _make(dataclasses.dataclass, options)
    assert [(f.name, f.compare, f.hash, f.repr) for f in dataclasses.fields(ours)] == \
           [(f.name, f.compare, f.hash, f.repr) for f in dataclasses.fields(theirs)]
    for attribute in ("init", "repr", "eq", "order", "unsafe_hash", "frozen"):
        assert getattr(ours.__dataclass_params__, attribute) == getattr(theirs.__dataclass_params__, attribute)
    assert ours.__match_args__ == theirs.__match_args__
    assert ("__slots__" in ours.__dict__) == ("__slots__" in theirs.__dict__)
    assert (ours.__hash__ is None) == (theirs.__hash__ is None)
    mine, other = _instances(ours, options["kw_only"]), _instances(theirs, options["kw_only"])
    for (a, b), (x, y) in zip(itertools.product(mine, mine), itertools.product(other, other), strict=True):
        assert (a == b) == (x == y) and (a != b) == (x != y)
        assert (a == a.name) == (x == x.name)  # another class: NotImplemented, then identity
    for a, x in zip(mine, other, strict=True):
        assert re.sub(" at 0x[0-9a-f]+", "", repr(a)) == re.sub(" at 0x[0-9a-f]+", "", repr(x))  # object's own
        identity = theirs.__hash__ is object.__hash__  # then only whether it hashes can agree
        assert _outcome(lambda: hash(a))[:2 - identity] == _outcome(lambda: hash(x))[:2 - identity]  # noqa: B023
        assert _outcome(lambda: setattr(a, "count", 7)) == _outcome(lambda: setattr(x, "count", 7))  # noqa: B023
        assert _outcome(lambda: delattr(a, "note")) == _outcome(lambda: delattr(x, "note"))  # noqa: B023
    first = _instances(ours, options["kw_only"])[0]
    assert dataclasses.asdict(first) == dataclasses.asdict(_instances(theirs, options["kw_only"])[0])
    copy = dataclasses.replace(first, count=3)
    assert copy.count == 3 and copy.items == [5]


def test_the_repr_of_a_record_that_contains_itself() -> None:
    for decorator in (records.dataclass, dataclasses.dataclass):

        @decorator
        class Node:
            """A node."""

            label: str
            children: list[Any] = dataclasses.field(default_factory=list)

        node = Node("root")
        node.children.append(node)
        assert repr(node).endswith("Node(label='root', children=[...])")


def test_methods_are_named_after_their_class() -> None:
    @records.dataclass(frozen=True)
    class Named:
        """Named."""

        value: int

    assert Named.__repr__.__qualname__.endswith("Named.__repr__")
    assert Named.__eq__.__qualname__.endswith("Named.__eq__")
    assert Named.__hash__.__qualname__.endswith("Named.__hash__")


def test_a_class_with_methods_of_its_own_or_order_is_left_to_the_standard_library() -> None:
    @records.dataclass(frozen=True)
    class Loose:
        """Equal to anything with the same value."""

        value: int

        def __eq__(self, other: object) -> bool:
            return getattr(other, "value", None) == self.value

        def __hash__(self) -> int:
            return hash(self.value)

    @records.dataclass(order=True)
    class Ordered:
        """Ordered."""

        value: int

    assert Loose(1) == Ordered(1) and hash(Loose(1)) == hash(1)
    assert Ordered(1) < Ordered(2) and Ordered.__eq__.__qualname__.endswith("Ordered.__eq__")


def test_records_pickle_and_subclass() -> None:
    @records.dataclass(frozen=True, slots=True)
    class Base:
        """Base."""

        a: int

    @records.dataclass(frozen=True, slots=True)
    class Child(Base):
        """Child."""

        b: int = 0

    globals()["Base"], globals()["Child"] = Base, Child  # pickle finds classes by name
    Base.__qualname__, Child.__qualname__ = "Base", "Child"
    try:
        child = Child(1, 2)
        assert pickle.loads(pickle.dumps(child)) == child
        assert child != Base(1) and repr(child) == "Child(a=1, b=2)" and hash(child) == hash((1, 2))
    finally:
        del globals()["Base"], globals()["Child"]


def test_type_checkers_see_dataclasses() -> None:
    """PEP 681: mypy, pyright and editors read the records' fields, ``__init__`` and frozenness through this mark
    (checked once with mypy: without it ``Target(...)`` was "too many arguments")."""
    mark = records.dataclass.__dataclass_transform__  # type: ignore[attr-defined]
    assert dataclasses.field in mark["field_specifiers"]

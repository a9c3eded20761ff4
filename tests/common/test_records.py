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


def _make_frozen(decorator: Any, slots: bool, kw_only: bool, documented: bool) -> type:
    """A frozen record without ``InitVar``: it gets the module's own ``__init__`` (every kind of field it handles)."""

    class Frozen:
        tag: ClassVar[str] = "class variable, not a field"
        name: str
        count: int = 0
        items: list[int] = dataclasses.field(default_factory=list)
        label: str = dataclasses.field(default="", kw_only=True)
        fixed: int = dataclasses.field(init=False, default=7)
        made: list[str] = dataclasses.field(init=False, default_factory=list)
        derived: str = dataclasses.field(init=False, default="")

        def __post_init__(self) -> None:
            object.__setattr__(self, "derived", f"{self.name}:{self.count}")
            self.made.append("post-init")

    if documented:
        Frozen.__doc__ = "A frozen record."
    return decorator(frozen=True, slots=slots, kw_only=kw_only)(Frozen)


def _message(call: Any) -> Any:
    try:
        call()
    except Exception as exc:
        return type(exc), str(exc).replace("test_records.", "")
    return None


@pytest.mark.parametrize("slots", [False, True], ids=["dict", "slots"])
@pytest.mark.parametrize("kw_only", [False, True], ids=["positional", "kw_only"])
@pytest.mark.parametrize("documented", [False, True], ids=["undocumented", "documented"])
def test_a_frozen_records_own_init_is_the_standard_one(slots: bool, kw_only: bool, documented: bool) -> None:
    import inspect

    ours = _make_frozen(records.dataclass, slots, kw_only, documented)
    theirs = _make_frozen(dataclasses.dataclass, slots, kw_only, documented)
    assert "__setattr__" not in ours.__init__.__code__.co_names  # the point: no object.__setattr__ per field
    assert str(inspect.signature(ours)) == str(inspect.signature(theirs))
    assert ours.__doc__ == theirs.__doc__ and ours.__dataclass_params__.init
    assert ours.__init__.__qualname__ == theirs.__init__.__qualname__
    calls = [((), {"name": "a"}), ((), {"name": "a", "count": 2, "items": [1], "label": "l"}),
             (("a",), {}), (("a", 3), {"label": "x"}), (("a", 3, [4]), {}), ((), {}), (("a",), {"fixed": 1}),
             (("a",), {"name": "b"}), (("a", 1, [], "extra", 5), {}), ((), {"name": "a", "nope": 1})]
    for args, kwargs in calls:
        mine, other = _outcome(lambda: ours(*args, **kwargs)), _outcome(lambda: theirs(*args, **kwargs))  # noqa: B023
        assert mine[0] == other[0], (args, kwargs)
        if mine[0] == "value":
            assert repr(mine[1]) == repr(other[1]) and dataclasses.asdict(mine[1]) == dataclasses.asdict(other[1])
            assert mine[1].made == ["post-init"] and mine[1].fixed == 7
        else:
            assert _message(lambda: ours(*args, **kwargs)) == _message(lambda: theirs(*args, **kwargs))  # noqa: B023
    first, second = ours(name="a"), ours(name="a")
    assert first.items is not second.items and first.made is not second.made  # a new list from each factory
    assert _outcome(lambda: setattr(first, "count", 1)) == ("error", dataclasses.FrozenInstanceError)
    assert dataclasses.replace(first, count=5).derived == "a:5"


def test_a_field_behind_a_data_descriptor_is_stored_through_it() -> None:
    class Doubling:
        """A base whose property stores twice what it is given (object.__setattr__ calls its setter)."""

        @property
        def value(self) -> int:
            return self.__dict__["stored"]  # type: ignore[no-any-return]

        @value.setter
        def value(self, given: int) -> None:
            self.__dict__["stored"] = given * 2

    made = []
    for decorator in (records.dataclass, dataclasses.dataclass):

        class Child(Doubling):
            """Child."""

            name: str
            value: int  # type: ignore[assignment]

        made.append(decorator(frozen=True)(Child)("a", 4))
    assert [(m.name, m.value) for m in made] == [("a", 8), ("a", 8)]


def test_a_non_default_field_after_a_default_is_refused_as_the_standard_library_refuses_it() -> None:
    def define(decorator: Any) -> Any:
        class Wrong:
            """Wrong."""

            first: int = 0
            second: int

        return _message(lambda: decorator(frozen=True)(Wrong))

    assert define(records.dataclass) == define(dataclasses.dataclass) != None  # noqa: E711


def test_records_with_init_vars_or_an_init_of_their_own_keep_it() -> None:
    sample = _make(records.dataclass, {"frozen": True, "slots": False, "eq": True, "repr": True, "kw_only": False})
    assert "__setattr__" in sample.__init__.__code__.co_names  # InitVar: the standard library's __init__

    @records.dataclass(frozen=True)
    class Own:
        """Own."""

        value: int

        def __init__(self, raw: str) -> None:
            object.__setattr__(self, "value", int(raw))

    assert Own("3").value == 3


def test_a_class_whose_annotations_cannot_be_read_keeps_the_standard_init() -> None:
    class Odd:
        """A base whose annotations are not a dict (inspect.get_annotations refuses it)."""

    Odd.__annotations__ = "not a dict"  # type: ignore[assignment]

    @records.dataclass(frozen=True)
    class Child(Odd):
        """Child."""

        value: int

    assert Child(3).value == 3 and "__setattr__" in Child.__init__.__code__.co_names

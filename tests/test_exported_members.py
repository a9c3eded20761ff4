"""The public namespace: ``__all__`` lists exactly what ``policy_engine`` exports, and each resolves."""

from __future__ import annotations

import policy_engine


def test_all_names_resolve_and_have_docstrings() -> None:
    for name in policy_engine.__all__:
        obj = getattr(policy_engine, name)
        assert obj.__doc__, f"{name} has no docstring"
        assert obj.__name__ == name


def test_all_is_sorted_and_unique() -> None:
    assert list(policy_engine.__all__) == sorted(set(policy_engine.__all__))


def test_unknown_name_raises_attribute_error() -> None:
    try:
        policy_engine.NotAThing  # noqa: B018
    except AttributeError as exc:
        assert "NotAThing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")

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


def test_every_module_lists_documented_public_names() -> None:
    import importlib
    import inspect
    import pkgutil

    missing: list[str] = []
    for info in pkgutil.walk_packages(policy_engine.__path__, "policy_engine."):
        module = importlib.import_module(info.name)
        assert module.__doc__, f"{info.name} has no module docstring"
        for name in getattr(module, "__all__", ()):
            assert hasattr(module, name), f"{info.name}.__all__ names {name!r}, which does not exist"
            obj = getattr(module, name)
            if (inspect.isfunction(obj) or inspect.isclass(obj)) and not obj.__doc__:
                missing.append(f"{info.name}.{name}")
    assert missing == [], f"public names without a docstring: {missing}"

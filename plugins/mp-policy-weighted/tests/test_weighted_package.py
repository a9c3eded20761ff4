"""The package: its public names and, once installed, its metadata and entry point."""

from __future__ import annotations

import types
from importlib.metadata import PackageNotFoundError, distribution, entry_points

import pytest

import mp_policy_weighted
import mp_policy_weighted.strategy as weighted_module


def _public(module: types.ModuleType) -> set[str]:
    return {name for name, value in vars(module).items()
            if not name.startswith("_") and getattr(value, "__module__", None) == weighted_module.__name__}


def test_all_lists_the_public_names() -> None:
    assert set(weighted_module.__all__) == _public(weighted_module) | {"OPTIONS_SCHEMA"}
    assert set(mp_policy_weighted.__all__) == set(weighted_module.__all__) - {"mp_policy_strategies"}
    for name in mp_policy_weighted.__all__:
        assert getattr(mp_policy_weighted, name) is getattr(weighted_module, name)


def _dist() -> object:
    try:
        return distribution("mp-policy-weighted")
    except PackageNotFoundError:
        pytest.skip("mp-policy-weighted is not installed")


def test_the_distribution_declares_the_entry_point_and_pins_the_core() -> None:
    dist = _dist()
    found = [ep for ep in entry_points(group="mp_policy") if ep.name == "weighted"]
    assert [ep.value for ep in found] == ["mp_policy_weighted.strategy"]
    assert found[0].load() is weighted_module
    requires = dist.requires or []  # type: ignore[attr-defined]
    assert "mp-policy<1,>=0.1" in requires, requires


def test_the_plugin_loads_beside_a_core_without_records() -> None:
    """mp-policy 0.2.0 has no ``policy_engine.common.records``: the plugin falls back to the standard dataclass."""
    import subprocess
    import sys

    script = (
        "import sys, dataclasses\n"
        "import policy_engine.hookspecs, policy_engine.strategies.base  # the core itself, as installed\n"
        "sys.modules['policy_engine.common.records'] = None  # from here on an ImportError, as with 0.2.0\n"
        "import mp_policy_weighted.strategy as s\n"
        "assert s.dataclass is dataclasses.dataclass\n"
        "plan, problems = s.parse_options({'weights': {'a': 2, 'b': 1}}, ['a', 'b'])\n"
        "assert not problems and dataclasses.is_dataclass(plan)\n"
        "print(plan == s.parse_options({'weights': {'a': 2, 'b': 1}}, ['a', 'b'])[0])\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"

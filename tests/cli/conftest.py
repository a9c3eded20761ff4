"""Fixtures of the end-to-end CLI tests: the console script, an isolated HOME, copies of the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_support import SCRIPT, Cli, copy_demo


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Runs the installed ``mp-policy`` with HOME in an empty temporary directory (no ~/.pi/agent)."""
    if not SCRIPT.exists():
        pytest.skip(f"the mp-policy console script is not installed next to the interpreter ({SCRIPT})")
    return Cli(tmp_path_factory.mktemp("home"))


@pytest.fixture(scope="session")
def demo_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A shared, read-only copy of policies/demo whose auth.json holds a unique secret.

    Only for commands that must not write; tests that write state make their own copy.
    """
    return copy_demo(tmp_path_factory.mktemp("shared") / "agent")


@pytest.fixture
def agent(tmp_path: Path) -> Path:
    """A private copy of policies/demo (with a unique secret in auth.json) for one test."""
    return copy_demo(tmp_path / "agent")

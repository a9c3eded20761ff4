"""The import layers (``[tool.importlinter]`` in pyproject.toml): stages import only the stages below them.

The check runs ``lint-imports`` on the package as it stands, then on scratch copies with one
forbidden import added, to show that an upward import or a circle does break it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_RUN = "from importlinter.cli import lint_imports_command; lint_imports_command()"


def _lint(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(pythonpath)}
    return subprocess.run([sys.executable, "-c", _RUN, "--no-cache"], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def _scratch_copy(tmp_path: Path) -> Path:
    """The package and its contracts, copied under ``tmp_path`` (imported from there, not from the repo)."""
    shutil.copytree(REPO / "policy_engine", tmp_path / "policy_engine",
                    ignore=shutil.ignore_patterns("__pycache__", "*.js", "*.json"))
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + f"\n{line}\n", encoding="utf-8")


def test_the_package_keeps_its_import_contracts() -> None:
    result = _lint(REPO, REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 kept, 0 broken" in result.stdout


def test_an_upward_import_breaks_the_layers(tmp_path: Path) -> None:
    root = _scratch_copy(tmp_path)
    _append(root / "policy_engine" / "state" / "base.py", "import policy_engine.engine  # noqa: E402")
    result = _lint(root, root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "policy_engine.state is not allowed to import policy_engine.engine" in result.stdout


def test_a_circle_inside_one_stage_breaks_the_check(tmp_path: Path) -> None:
    root = _scratch_copy(tmp_path)
    # diagnostics already imports terminal_text; the reverse import closes a circle inside policy_engine.common.
    _append(root / "policy_engine" / "common" / "terminal_text.py", "import policy_engine.common.diagnostics")
    result = _lint(root, root)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "No import circle among the modules of any package BROKEN" in result.stdout

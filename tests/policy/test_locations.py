"""Where the engine looks: a policy name taken by something other than a regular file is found, not skipped.

Skipping it would silently read another policy (``multi-pass.json`` behind a ``multi-pass.yaml``
FIFO) or none at all; finding it lets the bounded reader refuse it with a located error.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from policy_engine.policy.locations import find_project_file, global_policy_file, shadowed_policy_warnings


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _directory(path: Path) -> None:
    path.mkdir()


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


def _dangling(path: Path) -> None:
    path.symlink_to("gone.yaml")


MAKERS = [_fifo, _directory, _loop, _dangling]


@pytest.mark.parametrize("make", MAKERS)
def test_the_global_policy_name_is_taken_whatever_it_is(tmp_path: Path, make: Callable[[Path], None]) -> None:
    (tmp_path / "multi-pass.json").write_text("{}", encoding="utf-8")
    make(tmp_path / "multi-pass.yaml")
    assert global_policy_file(tmp_path) == tmp_path / "multi-pass.yaml"
    [warning] = shadowed_policy_warnings(tmp_path)
    assert warning.file == str(tmp_path / "multi-pass.json")


@pytest.mark.parametrize("make", MAKERS)
def test_a_project_overlay_name_is_taken_whatever_it_is(tmp_path: Path, make: Callable[[Path], None]) -> None:
    (tmp_path / ".pi").mkdir()
    make(tmp_path / ".pi" / "multi-pass.yaml")
    assert find_project_file(tmp_path, search_up=False) == tmp_path / ".pi" / "multi-pass.yaml"


def test_a_project_given_as_a_fifo_is_that_file(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "overlay.yaml")
    assert find_project_file(tmp_path / "overlay.yaml", search_up=False) == tmp_path / "overlay.yaml"


def test_the_global_policy_is_never_its_own_overlay_even_through_a_loop(tmp_path: Path) -> None:
    (tmp_path / ".pi").mkdir()
    _loop(tmp_path / ".pi" / "multi-pass.yaml")
    found = find_project_file(tmp_path, search_up=False, exclude=tmp_path / ".pi" / "multi-pass.yaml")
    assert found is None


def test_nothing_there_is_nothing_found(tmp_path: Path) -> None:
    assert global_policy_file(tmp_path) is None
    assert find_project_file(tmp_path, search_up=False) is None


def test_no_start_and_no_search_means_no_overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".pi").mkdir()
    (tmp_path / ".pi" / "multi-pass.yaml").write_text("allowedSubs: []\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert find_project_file(None, search_up=False) is None
    assert find_project_file(None, search_up=True) == tmp_path / ".pi" / "multi-pass.yaml"

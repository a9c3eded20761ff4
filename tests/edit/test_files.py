"""check_target: where an edit may write (links, hard links, permissions, special files), and write_atomic."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from policy_engine.edit.files import UnsafeTargetError, check_target, write_atomic


def _code(path: Path, root: Path | None = None) -> str:
    with pytest.raises(UnsafeTargetError) as caught:
        check_target(path, root)
    return caught.value.code


def test_a_plain_file_and_a_new_file_are_their_own_targets(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    assert check_target(policy) == policy.resolve()  # a new file in a writable folder
    policy.write_text("version: 1\n", encoding="utf-8")
    assert check_target(policy) == policy.resolve()
    assert check_target(tmp_path / "new" / ".pi" / "multi-pass.yaml", tmp_path) == (
        tmp_path / "new" / ".pi" / "multi-pass.yaml").resolve()


def test_links_inside_the_root_are_followed_to_the_end(tmp_path: Path) -> None:
    (tmp_path / "real.yaml").write_text("version: 1\n", encoding="utf-8")
    (tmp_path / "middle.yaml").symlink_to("real.yaml")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "multi-pass.yaml").symlink_to(Path("..") / "middle.yaml")
    assert check_target(tmp_path / "sub" / "multi-pass.yaml", tmp_path) == (tmp_path / "real.yaml").resolve()
    assert _code(tmp_path / "sub" / "multi-pass.yaml") == "link-outside"  # root: its own folder


def test_broken_links_and_loops_are_refused(tmp_path: Path) -> None:
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere" / "x.yaml")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    assert _code(tmp_path / "dangling.yaml") == "dangling-link"
    assert _code(tmp_path / "loop.yaml") == "dangling-link"
    assert not (tmp_path / "nowhere").exists()


def test_special_files_are_refused_before_anything_reads_them(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(UnsafeTargetError, match="is a FIFO"):
        check_target(tmp_path / "fifo.yaml")
    with pytest.raises(UnsafeTargetError, match="is a directory"):
        check_target(tmp_path / "dir.yaml")


def test_hard_links_and_read_only_files_are_refused(tmp_path: Path) -> None:
    policy = tmp_path / "multi-pass.yaml"
    policy.write_text("version: 1\n", encoding="utf-8")
    os.link(policy, tmp_path / "other-name.yaml")
    assert _code(policy) == "hard-linked"
    os.unlink(tmp_path / "other-name.yaml")
    os.chmod(policy, 0o444)
    try:
        assert _code(policy) == "read-only"
    finally:
        os.chmod(policy, 0o644)


def test_write_atomic_keeps_the_mode_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    policy = tmp_path / "p.yaml"
    policy.write_text("a: 1\n", encoding="utf-8")
    os.chmod(policy, 0o600)
    write_atomic(policy, "a: 2\n")
    assert policy.read_text(encoding="utf-8") == "a: 2\n"
    assert stat.S_IMODE(policy.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["p.yaml"]

"""The one bounded reader every file read goes through (issue 14, class 1: hostile files).

Each hostile file is built by the test. Whatever could hang (a FIFO with no writer) or fill memory
(``/dev/zero``) is read in a child process with a timeout and an address-space limit, so a
regression fails the test instead of hanging or swapping the suite.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from child_process import run_child

from policy_engine.common.bounded_read import (
    AUTH,
    KINDS,
    POLICY,
    SELECTOR_SCRIPT,
    FileKind,
    FileReadError,
    ReadProblem,
    read_bounded,
)

_CHILD = """
import json, os, pwd, sys
from policy_engine.common import bounded_read
if len(sys.argv) > 3:  # run as root: become that user (whose file permissions hold) once everything is loaded
    account = pwd.getpwnam(sys.argv[3])
    os.setgroups([])
    os.setgid(account.pw_gid)
    os.setuid(account.pw_uid)
try:
    data = bounded_read.read_bounded(sys.argv[1], getattr(bounded_read, sys.argv[2]))
except bounded_read.FileReadError as exc:
    print(json.dumps({"problem": str(exc.problem), "reason": exc.reason, "message": str(exc), "hint": exc.hint}))
else:
    print(json.dumps({"bytes": len(data)}))
"""


def read_in_child(path: Path, kind: str = "POLICY", user: str | None = None) -> dict[str, object]:
    """``read_bounded(path, kind)`` in a child process (time and address space limited; as ``user`` when
    given, which needs root): its outcome."""
    return run_child(_CHILD, str(path), kind, *([user] if user else []))


def refusal(path: Path | str, kind: FileKind = POLICY) -> FileReadError:
    with pytest.raises(FileReadError) as caught:
        read_bounded(path, kind)
    return caught.value


def test_a_regular_file_is_read_whole(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"version: 1\n")
    assert read_bounded(path, POLICY) == b"version: 1\n"


def test_an_empty_regular_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.touch()
    assert read_bounded(path, POLICY) == b""


def test_a_fifo_without_a_writer_is_refused_at_once(tmp_path: Path) -> None:
    fifo = tmp_path / "policy.yaml"
    os.mkfifo(fifo)
    outcome = read_in_child(fifo)
    assert outcome["problem"] == "not-a-file"
    assert "FIFO" in str(outcome["reason"])
    assert outcome["message"] == f"{fifo}: is a FIFO (named pipe), not a regular file"


def test_a_symlink_to_dev_zero_is_refused_without_reading(tmp_path: Path) -> None:
    link = tmp_path / "auth.json"
    link.symlink_to("/dev/zero")
    outcome = read_in_child(link, "AUTH")
    assert outcome["problem"] == "not-a-file"
    assert outcome["reason"] == "is a character device, not a regular file"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    error = refusal(tmp_path)
    assert error.problem is ReadProblem.NOT_A_FILE
    assert error.reason == "is a directory, not a regular file"
    assert error.path == str(tmp_path)
    assert error.hint


def test_a_unix_socket_is_refused(tmp_path: Path) -> None:
    import socket

    path = tmp_path / "s.yaml"
    with socket.socket(socket.AF_UNIX) as server:
        try:
            server.bind(str(path))
        except OSError:
            pytest.skip("the temporary path is too long for a socket")
        assert refusal(path).reason == "is a socket, not a regular file"


def test_a_symlink_loop_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    error = refusal(tmp_path / "a.yaml")
    assert error.problem is ReadProblem.SYMLINK_LOOP
    assert "symbolic link loop" in error.reason


def test_a_missing_file_and_a_dangling_link_are_missing(tmp_path: Path) -> None:
    assert refusal(tmp_path / "nope.yaml").problem is ReadProblem.MISSING
    (tmp_path / "dangling.yaml").symlink_to("gone.yaml")
    error = refusal(tmp_path / "dangling.yaml")
    assert error.problem is ReadProblem.MISSING
    assert error.reason == "is a symbolic link to gone.yaml, which does not exist"


@pytest.mark.parametrize("path", ["/proc/self/status", "/proc/self/environ"])
def test_proc_files_are_refused_though_they_look_regular(path: str) -> None:
    if not Path(path).exists():
        pytest.skip("no /proc here")
    error = refusal(path)
    assert error.problem is ReadProblem.PSEUDO_FILE
    assert "/proc" in error.reason


def test_sys_files_are_refused() -> None:
    candidates = [p for p in (Path("/sys/kernel/mm/transparent_hugepage/enabled"), Path("/sys/power/state"))
                  if p.exists()]
    if not candidates:
        pytest.skip("no readable /sys file here")
    assert refusal(candidates[0]).problem is ReadProblem.PSEUDO_FILE


def test_a_file_over_the_cap_is_refused_from_its_size(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    with path.open("wb") as handle:  # sparse: 2 GiB on paper, nothing on disk
        handle.truncate(2 * 1024 * 1024 * 1024)
    error = refusal(path)
    assert error.problem is ReadProblem.TOO_LARGE
    assert "2,147,483,648 bytes" in error.reason
    assert f"{POLICY.max_bytes:,}" in error.reason


def test_the_cap_is_per_kind_and_can_be_lowered(tmp_path: Path) -> None:
    path = tmp_path / "s.py"
    path.write_bytes(b"x" * (SELECTOR_SCRIPT.max_bytes + 1))
    assert refusal(path, SELECTOR_SCRIPT).problem is ReadProblem.TOO_LARGE
    assert len(read_bounded(path, POLICY)) == SELECTOR_SCRIPT.max_bytes + 1
    with pytest.raises(FileReadError) as caught:
        read_bounded(path, POLICY, max_bytes=100)
    assert "100 bytes" in caught.value.reason


def test_file_names_the_system_refuses_are_refusals_not_crashes(tmp_path: Path) -> None:
    for name in (f"{tmp_path}/a\0b.yaml", f"{tmp_path}/\ud800.yaml", f"{tmp_path}/{'x' * 5000}.yaml"):
        assert refusal(name).problem in (ReadProblem.UNREADABLE, ReadProblem.MISSING)


def test_an_unreadable_file_is_a_refusal() -> None:
    """A file without read permission is refused as unreadable, beside one that is read.

    Root reads any file, and CI runs as root: then the reads run in a child that drops to ``nobody``,
    in a folder ``nobody`` may enter (the test's own temporary folder is closed to other users).
    """
    user = "nobody" if os.geteuid() == 0 else None
    folder = Path(tempfile.mkdtemp(prefix="mp-policy-unreadable-"))
    try:
        folder.chmod(0o755)
        readable, secret = folder / "plain.yaml", folder / "secret.yaml"
        for path, mode in ((readable, 0o644), (secret, 0)):
            path.write_text("a: 1\n", encoding="utf-8")
            path.chmod(mode)
        assert read_in_child(readable, user=user) == {"bytes": 5}
        outcome = read_in_child(secret, user=user)
        assert outcome["problem"] == ReadProblem.UNREADABLE
        assert outcome["reason"] == "cannot read it: Permission denied"
    finally:
        shutil.rmtree(folder)


def test_source_names_the_file_in_errors(tmp_path: Path) -> None:
    with pytest.raises(FileReadError) as caught:
        read_bounded(tmp_path, POLICY, source="policies/x.yaml")
    assert str(caught.value).startswith("policies/x.yaml: ")


def test_every_kind_has_a_cap_and_a_hint() -> None:
    assert AUTH in KINDS and POLICY in KINDS
    for kind in KINDS:
        assert 0 < kind.max_bytes <= 8 * 1024 * 1024
        assert kind.what and kind.too_large_hint
    assert SELECTOR_SCRIPT.max_bytes == 256 * 1024
    assert POLICY.max_bytes == 1024 * 1024

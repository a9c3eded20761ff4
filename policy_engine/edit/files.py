"""Writing policy files safely: only the file meant, the whole new text or nothing.

Policy files and project overlays sit in directories that other programs write (a cloned
repository brings its own ``.pi/``), so before an edit reads a file and again right before it
writes, :func:`check_target` refuses, with an :class:`UnsafeTargetError` that says why:

- ``dangling-link``: a symbolic link whose target does not exist (or a loop of links). An edit
  never creates a file through a link.
- ``link-outside``: the file, through a symbolic link to it or to a folder on its way, lies outside
  its root: the agent directory for the global policy, the project for an overlay, the folder
  of a file named with ``--policy``. A link to another file inside the root is followed (the
  file it points to is replaced, the link stays): that is how a policy kept under another name
  in the same tree is used.
- ``hard-linked``: the file has other names (``st_nlink > 1``); replacing it would leave them with
  the old content.
- ``read-only``: the file, or the folder that would receive it, has no write permission (mode bits
  count even for root, who could write anyway).
- ``not-a-file``: a directory, FIFO, socket or device where the policy should be.

:func:`write_atomic` then writes a temporary file next to the target and renames it over the
target, so a reader sees the old text or the new one, never half of it.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from policy_engine.common.bounded_read import file_type

__all__ = ["UnsafeTargetError", "check_target", "write_atomic"]


class UnsafeTargetError(Exception):
    """Writing the file could change something other than the policy it names; nothing was written.

    ``code`` is one of the codes in the module docstring; ``hint`` says what to do instead.
    """

    def __init__(self, code: str, message: str, hint: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def _read_only(path: Path, mode: int) -> bool:
    return not mode & 0o222 or not os.access(path, os.W_OK)


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def check_target(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None, *,
                 name: str | None = None, option: str = "--policy") -> Path:
    """The real path an edit of ``path`` writes, once it is safe to write (see the module docstring).

    ``root`` is the directory the file must stay in (default: the folder ``path`` is in); ``name``
    is how messages call the file, ``option`` the command-line option that names a file directly
    (for the hint). Raises :class:`UnsafeTargetError`. A missing file is fine when the folder that
    would receive it is inside the root and writable.
    """
    file = Path(path)
    shown = name or str(path)
    base = Path(root) if root is not None else file.parent
    target: Path | str = "?"
    try:
        is_link = file.is_symlink()
        if is_link:
            target = Path(os.readlink(file))
            real = file.resolve(strict=True)
        else:
            real = file.resolve()
    except FileNotFoundError:
        raise UnsafeTargetError(
            "dangling-link", f"{shown} is a symbolic link to {target}, which does not exist; nothing was written",
            "an edit never creates a file through a link: create the file it points to, or remove the link"
        ) from None
    except (OSError, RuntimeError) as exc:  # a loop of links, a folder that cannot be searched
        raise UnsafeTargetError("dangling-link", f"{shown} cannot be followed to a file ({exc}); nothing was written",
                                "remove the broken link, or name the real file") from None
    base_real = base.resolve()
    if not real.is_relative_to(base_real):
        where = f"a symbolic link to {real}, which is" if is_link else f"reached through a linked folder: {real} is"
        raise UnsafeTargetError(
            "link-outside", f"{shown} is {where} outside {base}; nothing was written",
            f"to edit that file, name it: {option} {real}; or replace the link by a copy of the file")
    try:
        info = real.stat()
    except (FileNotFoundError, NotADirectoryError):  # a new file (a file on its way fails when written)
        info = None
    except OSError as exc:
        raise UnsafeTargetError("not-a-file", f"{shown} cannot be checked ({exc.strerror or exc}); nothing was "
                                "written", "check the path and the permissions of its folders") from None
    if info is not None:
        if not stat.S_ISREG(info.st_mode):
            raise UnsafeTargetError("not-a-file", f"{shown} is {file_type(info.st_mode)}, not a policy file; "
                                    "nothing was written", "a policy is a plain text file")
        if info.st_nlink > 1:
            raise UnsafeTargetError(
                "hard-linked", f"{shown} has {info.st_nlink} names (hard links); an edit would replace this one and "
                "leave the others with the old text, so nothing was written",
                f"make it a file of its own first: cp {real} {real}.new && mv {real}.new {real}")
        if _read_only(real, info.st_mode):
            raise UnsafeTargetError("read-only", f"{shown} is read-only; nothing was written",
                                    f"if the edit is meant, allow it: chmod u+w {real}")
    folder = _existing_ancestor(real.parent)
    if _read_only(folder, folder.stat().st_mode):
        raise UnsafeTargetError("read-only", f"the folder {folder} is read-only, so {shown} cannot be written; "
                                "nothing was written", f"if the edit is meant, allow it: chmod u+w {folder}")
    return real


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Replace ``path`` with ``text`` atomically (temporary file in the same directory, fsync, rename).

    Creates missing parent directories; keeps the permission bits of an existing file (a new file
    gets the usual ``0o644`` less the umask). Raises ``OSError`` when the file cannot be written;
    the old content is then untouched. It does no safety checks: call :func:`check_target` first
    and write to the path it returns.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode: int | None = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        mode = None
    handle = tempfile.NamedTemporaryFile("w", dir=target.parent, prefix=f".{target.name}.", suffix=".tmp",  # noqa: SIM115
                                         delete=False, encoding="utf-8", newline="")  # closed below, or unlinked
    try:
        with handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if mode is None:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o644 & ~umask
        os.chmod(handle.name, mode)
        os.replace(handle.name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(handle.name)
        raise

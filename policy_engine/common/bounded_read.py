"""One bounded reader for every file the engine reads: policies, overlays, ``auth.json``, selector
scripts, policy tests, event scripts, edited files, the validation cache and pi's ``settings.json``.

These files come from repositories people clone and from directories other tools write, so
reading one must never block, never fill memory and never loop. :func:`read_bounded`:

1. ``stat`` the path (following symbolic links): a missing file, a dangling link and a symlink
   loop (``ELOOP``) are reported as such; anything that is not a regular file (a directory, a
   FIFO, a socket, a character or block device such as ``/dev/zero``) is refused *without being
   opened*, so opening it can have no side effect.
2. open it with ``O_NONBLOCK`` (a FIFO swapped in after the ``stat`` cannot make ``open`` wait
   for a writer) and ``fstat`` the descriptor: the checks hold for what was really opened.
3. refuse pseudo files: anything on ``/proc`` or ``/sys``, and any "regular" file that reports a
   size of 0 yet has content (the mark of kernel-generated files on other pseudo file systems).
4. read at most the kind's cap plus one byte (``st_size`` is never trusted alone): a larger file
   is refused with :attr:`ReadProblem.TOO_LARGE`.

Every refusal is one :class:`FileReadError` carrying the path, the kind of file, what went wrong
and a hint; each caller turns it into its own located diagnostic (a policy's ``file-unreadable``,
a selector's fallback note, a warning about ``auth.json``). The caps are the :class:`FileKind`
constants below.
"""

from __future__ import annotations

import errno
import os
import stat
from enum import StrEnum
from functools import cache

from policy_engine.common.records import dataclass

__all__ = [
    "AUTH",
    "EDITED_FILE",
    "EVENT_SCRIPT",
    "KINDS",
    "OVERLAY",
    "PI_SETTINGS",
    "POLICY",
    "POLICY_TEST",
    "SELECTOR_SCRIPT",
    "VALIDATION_CACHE",
    "FileKind",
    "FileReadError",
    "ReadProblem",
    "file_type",
    "read_bounded",
]

_KIB = 1024
_MIB = 1024 * _KIB


@dataclass(frozen=True)
class FileKind:
    """A kind of file the engine reads: what it is (``a policy``), its size cap and a hint for a file too large."""

    what: str
    max_bytes: int
    too_large_hint: str

    def __str__(self) -> str:
        return self.what


#: A global policy (``multi-pass.yaml`` / ``.json``, or ``--policy``): a few kilobytes in practice.
POLICY = FileKind("a policy", 1 * _MIB, "is this the right file? a policy is a few kilobytes")
#: A project overlay (``.pi/multi-pass.yaml``), which comes with cloned repositories.
OVERLAY = FileKind("a project overlay", 1 * _MIB, "is this the right file? a project overlay is a few kilobytes")
#: pi's ``auth.json``: a few tokens per account; generous for many accounts with long JWTs.
AUTH = FileKind("pi's auth.json", 4 * _MIB, "is this pi's auth.json? it holds a few tokens per account")
#: A pool's ``selectorScript`` (Python or JavaScript); the sandbox refuses larger sources anyway.
SELECTOR_SCRIPT = FileKind("a selector script", 256 * _KIB, "a selector is a short function; keep it under 256 KiB")
#: A policy test (``*.test.yaml``), which may inline a policy and many cases.
POLICY_TEST = FileKind("a policy test", 1 * _MIB, "split the cases over several *.test.yaml files")
#: A simulation's event script (``simulate --events``).
EVENT_SCRIPT = FileKind("an event script", 1 * _MIB, "an event script lists a few dozen events; use every: to repeat")
#: A policy or overlay opened by the editing commands (``pool add``, ``project restrict`` ...).
EDITED_FILE = FileKind("a policy", 1 * _MIB, "is this the right file? a policy is a few kilobytes")
#: One entry of the validation cache (the diagnostics of one document, as JSON).
VALIDATION_CACHE = FileKind("a validation cache entry", 8 * _MIB, "delete the cache folder; it is rebuilt")

#: pi's ``settings.json``, which ``mp-policy pi install`` and ``uninstall`` edit: a few settings.
PI_SETTINGS = FileKind("pi's settings.json", 1 * _MIB, "is this pi's settings.json? it holds a few settings")

#: Every kind, for documentation and tests.
KINDS = (POLICY, OVERLAY, AUTH, SELECTOR_SCRIPT, POLICY_TEST, EVENT_SCRIPT, EDITED_FILE, VALIDATION_CACHE,
         PI_SETTINGS)

_CHUNK = 64 * _KIB
_PSEUDO_ROOTS = ("/proc", "/sys")


class ReadProblem(StrEnum):
    """Why a file could not be read."""

    MISSING = "missing"  # no such file (or a symbolic link to nothing)
    NOT_A_FILE = "not-a-file"  # a directory, FIFO, socket or device
    PSEUDO_FILE = "pseudo-file"  # a kernel-generated file (/proc, /sys, ...)
    SYMLINK_LOOP = "symlink-loop"
    TOO_LARGE = "too-large"
    UNREADABLE = "unreadable"  # permission denied, I/O error, a name the system refuses


class FileReadError(Exception):
    """A file that was not read: ``path``, its ``kind``, the ``problem``, a short ``reason`` and a ``hint``.

    ``str()`` is a whole sentence naming the path; ``reason`` leaves the path out (for callers that
    name the file themselves, such as a selector's fallback note).
    """

    def __init__(self, path: str, kind: FileKind, problem: ReadProblem, reason: str, hint: str | None = None) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.kind = kind
        self.problem = problem
        self.reason = reason
        self.hint = hint


def read_bounded(path: str | os.PathLike[str], kind: FileKind, *, max_bytes: int | None = None,
                 source: str | None = None) -> bytes:
    """The bytes of the regular file at ``path``, at most ``max_bytes`` (default: the kind's cap).

    ``source`` names the file in errors (default: ``path`` as given). Raises :class:`FileReadError`
    for anything else; never blocks on a FIFO or a device and never reads more than the cap + 1 bytes.
    """
    name = source if source is not None else os.fspath(path)
    limit = kind.max_bytes if max_bytes is None else max_bytes
    target = os.fspath(path)
    try:
        info = os.stat(target)
    except OSError as exc:
        raise _from_os_error(exc, target, name, kind) from None
    except ValueError as exc:  # an embedded NUL byte
        raise FileReadError(name, kind, ReadProblem.UNREADABLE, f"the file name cannot be used ({exc})") from None
    _check_regular(info, name, kind)
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise _from_os_error(exc, target, name, kind) from None
    try:
        info = os.fstat(fd)
        _check_regular(info, name, kind)
        if info.st_size > limit:
            raise FileReadError(name, kind, ReadProblem.TOO_LARGE, _too_large(kind, info.st_size, limit),
                                kind.too_large_hint)
        data = _read_at_most(fd, limit + 1, name, kind)
        if data and info.st_size == 0 and os.fstat(fd).st_size == 0:  # still "empty" after giving content
            raise FileReadError(name, kind, ReadProblem.PSEUDO_FILE,
                                "reports a size of 0 but has content: a pseudo file, not a regular file",
                                "point at a regular file")
    finally:
        os.close(fd)
    if len(data) > limit:
        raise FileReadError(name, kind, ReadProblem.TOO_LARGE, _too_large(kind, None, limit), kind.too_large_hint)
    return data


def _read_at_most(fd: int, count: int, name: str, kind: FileKind) -> bytes:
    chunks: list[bytes] = []
    left = count
    while left > 0:
        try:
            chunk = os.read(fd, min(_CHUNK, left))
        except OSError as exc:
            raise FileReadError(name, kind, ReadProblem.UNREADABLE, f"cannot read it: {exc.strerror or exc}") from None
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


_KINDS_OF_FILE = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def file_type(mode: int) -> str:
    """What a file of ``st_mode`` ``mode`` is, for messages: ``a directory``, ``a FIFO (named pipe)``,
    ``a socket``, ``a character device``, ``a block device``, ``a regular file`` or ``not a regular file``."""
    if stat.S_ISREG(mode):
        return "a regular file"
    return next((label for test, label in _KINDS_OF_FILE if test(mode)), "not a regular file")


def _check_regular(info: os.stat_result, name: str, kind: FileKind) -> None:
    """Refuse what is not a regular file, and regular-looking files of ``/proc`` and ``/sys``."""
    if not stat.S_ISREG(info.st_mode):
        raise FileReadError(name, kind, ReadProblem.NOT_A_FILE, f"is {file_type(info.st_mode)}, not a regular file",
                            "point at a regular file")
    root = _pseudo_devices().get(info.st_dev)
    if root is not None:
        raise FileReadError(name, kind, ReadProblem.PSEUDO_FILE,
                            f"is a file of the kernel's {root} pseudo file system, not a regular file",
                            "point at a regular file")


def _from_os_error(exc: OSError, target: str, name: str, kind: FileKind) -> FileReadError:
    if exc.errno == errno.ELOOP:
        return FileReadError(name, kind, ReadProblem.SYMLINK_LOOP,
                             "is a symbolic link loop (the links point at each other)", "fix or remove the links")
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        try:
            link = os.readlink(target)
        except OSError:
            return FileReadError(name, kind, ReadProblem.MISSING, "no such file")
        return FileReadError(name, kind, ReadProblem.MISSING, f"is a symbolic link to {link}, which does not exist")
    if exc.errno == errno.ENAMETOOLONG:
        return FileReadError(name, kind, ReadProblem.UNREADABLE, "the file name is too long")
    return FileReadError(name, kind, ReadProblem.UNREADABLE, f"cannot read it: {exc.strerror or exc}")


def _too_large(kind: FileKind, size: int | None, limit: int) -> str:
    actual = f"{size:,} bytes" if size is not None else "more than that"
    return f"is too large to be {kind.what}: {actual}; the limit is {limit:,} bytes"


@cache
def _pseudo_devices() -> dict[int, str]:
    """The device numbers of ``/proc`` and ``/sys`` (each a pseudo file system of its own)."""
    found: dict[int, str] = {}
    for root in _PSEUDO_ROOTS:
        try:
            found.setdefault(os.stat(root).st_dev, root)
        except OSError:
            continue
    return found

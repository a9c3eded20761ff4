"""Registering the pi extension with pi: the changes ``mp-policy pi install`` makes to pi's ``settings.json``,
and how ``mp-policy pi uninstall`` undoes exactly them.

pi reads ``<agentDir>/settings.json`` (``$PI_CODING_AGENT_DIR``, else ``~/.pi/agent``). Install makes three
changes and records them under the key ``mpPolicy`` (pi keeps keys it does not know, checked with pi 0.73.1):

- ``packages`` gets the extension's folder (``policy_engine/integrations/pi``, a pi package whose
  ``package.json`` names the extension), as ``pi install <folder>`` would add it;
- ``retry.provider.maxRetries`` becomes ``0``: otherwise the provider SDK sleeps through a 429's
  ``retry-after`` (30 minutes and more) before the error ever reaches the extension; the previous value
  (or its absence) is recorded;
- ``mpPolicy.command`` is the command line that starts the engine (this ``mp-policy``) and
  ``mpPolicy.socket`` a Unix socket where the extension finds (or starts, detached)
  ``<command> serve --socket PATH --idle-exit DURATION``: one engine kept running between pi sessions, so
  that pi does not wait for Python and the policy to load. It stops by itself once no pi has been
  connected for ``mpPolicy.idleExit`` (written by ``--idle-exit``; the extension's default is 30 minutes).
  With ``keep_running=False`` (``--per-session``) no socket is recorded and the extension runs
  ``<command> serve --stdio`` for each pi session instead.

Every install that is not a dry run asks a server still listening on a recorded socket to shut down: the
next pi starts one with the code installed now (after an upgrade of mp-policy the command and the
folder are often unchanged, so a changed settings.json cannot be what tells). A pi session connected to
it at that moment reconnects after its back-off (5 s), starting the new server.

Uninstall removes the package entry and ``mpPolicy``, and puts ``retry.provider.maxRetries`` back as it
was (unless it was changed since), dropping the ``retry`` objects install created; a socket server still
running is asked to shut down. Every other key, and the order of keys, stays; the file keeps its
indentation (pi writes two spaces). A file that is not a JSON object is never rewritten, nor one whose
content would not change. ``auth.json`` is never opened. Writes take pi's own lock
(``settings.json.lock``, a directory, as proper-lockfile makes it) and replace the file atomically.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import hashlib
import json
import os
import shutil
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import field
from pathlib import Path
from typing import Any

from policy_engine.common.bounded_read import PI_SETTINGS, FileReadError, ReadProblem, read_bounded
from policy_engine.common.diagnostics import Diagnostic
from policy_engine.common.records import dataclass

__all__ = ["DEFAULT_IDLE_EXIT", "SETTINGS_KEY", "Change", "SettingsError", "engine_command", "extension_dir",
           "install", "socket_path", "stop_server", "uninstall"]

#: The key of pi's settings.json under which install records what it did.
SETTINGS_KEY = "mpPolicy"
#: How long a kept engine waits without a pi session before it stops, unless ``mpPolicy.idleExit`` says
#: otherwise (the extension's default; keep ``settings.js`` in step).
DEFAULT_IDLE_EXIT = "30m"
_RETRY_PATH = ("retry", "provider", "maxRetries")
_RETRY_NAME = ".".join(_RETRY_PATH)
_LOCK_STALE = 10.0  # seconds, as proper-lockfile
_LOCK_WAIT = 3.0
_SOCKET_NAME = "mp-policy.sock"
_MAX_SOCKET_PATH = 100  # bytes; a Unix socket path holds 108 at most


class SettingsError(Exception):
    """pi's settings.json cannot be read or changed; carries a located :class:`Diagnostic`."""

    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.format())
        self.diagnostic = diagnostic


@dataclass
class Change:
    """What install or uninstall did (or, with ``dry_run``, would do) to settings.json."""

    action: str
    settings: Path
    changed: bool
    dry_run: bool
    diff: str
    extension: str
    command: list[str]
    notes: list[str] = field(default_factory=list)
    socket: str | None = None
    stopped: list[str] = field(default_factory=list)
    idle_exit: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``--format json``)."""
        return {"action": self.action, "settings": str(self.settings), "changed": self.changed,
                "dryRun": self.dry_run, "diff": self.diff, "extension": self.extension, "command": self.command,
                "socket": self.socket, "idleExit": self.idle_exit, "stoppedServers": self.stopped,
                "notes": self.notes}


def extension_dir() -> Path:
    """The folder of the pi package (next to this module, inside the installed distribution)."""
    return Path(__file__).resolve().parent / "pi"


def engine_command(argv0: str | None = None, executable: str | None = None) -> list[str]:
    """The command line that starts this ``mp-policy``: the console script that runs now, else the one
    next to the interpreter, else the interpreter running the CLI module."""
    executable = executable or sys.executable
    candidates = []
    if argv0 and Path(argv0).name in ("mp-policy", "mp-policy.exe"):
        candidates.append(Path(argv0))
    candidates.append(Path(executable).with_name("mp-policy"))
    for candidate in candidates:
        resolved = candidate if candidate.is_absolute() else Path(shutil.which(str(candidate)) or candidate)
        if resolved.is_file() and os.access(resolved, os.X_OK):
            return [str(resolved.absolute())]
    return [str(Path(executable).absolute()), "-c",
            "import sys; from policy_engine.cli import main; sys.argv[0] = 'mp-policy'; main()"]


def socket_path(agent_dir: Path) -> Path:
    """The socket of a long-running engine for ``agent_dir``: ``<agent_dir>/mp-policy.sock``, or, when that path
    is too long for a Unix socket, one named after it in the temporary directory."""
    inside = agent_dir.absolute() / _SOCKET_NAME
    if len(os.fsencode(inside)) <= _MAX_SOCKET_PATH:
        return inside
    digest = hashlib.sha256(os.fsencode(agent_dir.absolute())).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"mp-policy-{os.getuid()}-{digest}.sock"


def stop_server(path: str | os.PathLike[str], timeout: float = 3.0) -> bool:
    """Ask the ``mp-policy serve --socket`` listening on ``path`` to shut down; False when nobody listens.

    Waits (at most ``timeout`` seconds more) until the server has closed the connection and removed its
    socket file, so that a pi started right after finds no socket and starts a new server.
    """
    text = os.fspath(path)
    try:
        inode = os.stat(text).st_ino
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(timeout)
            client.connect(text)
            client.sendall(b'{"id": "mp-policy-pi", "op": "shutdown"}\n')
            with contextlib.suppress(OSError):
                while client.recv(4096):  # the answer, then the end of the connection: the server stops
                    pass
    except OSError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.stat(text).st_ino != inode:
                break  # another server took the path meanwhile
        except OSError:
            break  # removed: the server is on its way out
        time.sleep(0.02)
    return True


# -- reading and writing settings.json --------------------------------------------------------------


def _read(path: Path) -> tuple[str | None, dict[str, Any]]:
    """The text and content of settings.json (``None, {}`` when there is none), read with the bounded reader:
    a FIFO, a device or a directory in its place is refused, never waited on."""
    try:
        text = read_bounded(path, PI_SETTINGS).decode("utf-8")
    except FileReadError as exc:
        if exc.problem is ReadProblem.MISSING:
            return None, {}
        why = exc.reason.removeprefix("cannot read it: ")
        message = f"cannot read pi's settings: {why}" if why != exc.reason else f"pi's settings file {why}"
        raise SettingsError(Diagnostic("settings-unreadable", message, file=str(path),
                                       hint=exc.hint or "check the file's permissions")) from None
    except UnicodeDecodeError as exc:
        raise SettingsError(Diagnostic("settings-unreadable", f"cannot read pi's settings: {exc}", file=str(path),
                                       hint="save the file as UTF-8")) from None
    if not text.strip():
        return text, {}
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SettingsError(Diagnostic("settings-not-json", f"pi's settings are not JSON: {exc.msg}", file=str(path),
                                       line=exc.lineno, col=exc.colno,
                                       hint="fix the file (pi cannot read it either); it was left as it is")) from None
    except RecursionError:
        raise SettingsError(Diagnostic("settings-not-json", "pi's settings are nested too deeply to be read",
                                       file=str(path), hint="fix the file (pi's settings are a few flat objects); "
                                       "it was left as it is")) from None
    if not isinstance(data, dict):
        raise SettingsError(Diagnostic("settings-not-object", "pi's settings must be a JSON object", file=str(path),
                                       hint="pi reads settings.json as one object of settings; it was left as it is"))
    return text, data


def _indent(text: str | None) -> int | str:
    """The indentation of the file's first indented line (pi writes two spaces)."""
    for line in (text or "").splitlines()[1:]:
        stripped = line.lstrip(" \t")
        if stripped and len(stripped) < len(line):
            prefix = line[: len(line) - len(stripped)]
            return "\t" if prefix.startswith("\t") else len(prefix)
    return 2


def _render(data: dict[str, Any], original: str | None) -> str:
    text = json.dumps(data, indent=_indent(original), ensure_ascii=False)
    trailing = original is None or original.endswith("\n") or not original.strip()
    return text + "\n" if trailing else text


@contextlib.contextmanager
def _pi_lock(path: Path) -> Iterator[None]:
    """pi's lock on settings.json: the directory ``settings.json.lock`` (stale after 10 s, as proper-lockfile)."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + _LOCK_WAIT
    while True:
        try:
            lock.mkdir()
            break
        except FileExistsError:
            with contextlib.suppress(OSError):
                if time.time() - lock.stat().st_mtime > _LOCK_STALE:
                    lock.rmdir()
                    continue
            if time.monotonic() > deadline:
                raise SettingsError(Diagnostic(
                    "settings-locked", "pi's settings are locked by another process", file=str(lock),
                    hint="run the command again when pi has finished writing (or remove the stale lock directory)",
                )) from None
            time.sleep(0.05)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            lock.rmdir()


def _write(path: Path, text: str) -> None:
    from policy_engine.edit.files import write_atomic

    try:
        write_atomic(path, text)
    except OSError as exc:
        raise SettingsError(Diagnostic("settings-unwritable", f"cannot write pi's settings: {exc}", file=str(path),
                                       hint="check that the agent directory is writable")) from None


def _diff(path: Path, before: str | None, after: str) -> str:
    lines = difflib.unified_diff((before or "").splitlines(keepends=True), after.splitlines(keepends=True),
                                 fromfile=f"{path} (before)", tofile=f"{path} (after)")
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _get(data: dict[str, Any], keys: tuple[str, ...]) -> tuple[bool, Any]:
    node: Any = data
    for key in keys:
        if not isinstance(node, dict) or key not in node:
            return False, None
        node = node[key]
    return True, node


def _object_at(data: dict[str, Any], key: str, path: Path, name: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise SettingsError(Diagnostic("settings-shape", f"{name} in pi's settings is not an object", file=str(path),
                                       path=tuple(name.split(".")),
                                       hint=f"make {name} an object (or remove it); the file was left as it is"))
    return value


def _same_place(entry: Any, folder: str, agent_dir: Path) -> bool:
    if not isinstance(entry, str):
        entry = entry.get("source") if isinstance(entry, dict) else None
        if not isinstance(entry, str):
            return False
    candidate = Path(entry).expanduser()
    if not candidate.is_absolute():
        candidate = agent_dir / candidate  # pi resolves relative paths against the settings file's folder
    with contextlib.suppress(OSError):
        return os.path.realpath(candidate) == os.path.realpath(folder)
    return False


def _change(action: str, path: Path, before: str | None, original: dict[str, Any], after_data: dict[str, Any],
            dry_run: bool, command: list[str], notes: list[str], socket_file: str | None = None) -> Change:
    # Only a change of content rewrites the file: its formatting alone is the user's (or pi's).
    changed = after_data != original or before is None
    after = _render(after_data, before) if changed else (before or "")
    diff = _diff(path, before, after) if changed else ""
    if changed and not dry_run:
        _write(path, after)
    return Change(action, path, changed, dry_run, diff, str(extension_dir()), command, notes, socket_file)


# -- install and uninstall ----------------------------------------------------------------------------


def install(agent_dir: Path, *, command: list[str] | None = None, dry_run: bool = False,
            keep_running: bool = True, idle_exit: str | None = None) -> Change:
    """Register the extension in ``<agent_dir>/settings.json`` (idempotent; see the module docstring).

    ``keep_running`` (the default) records a socket for a kept engine (:func:`socket_path`); without it,
    a socket recorded before is dropped. ``idle_exit`` (a duration, checked by the caller) is recorded
    as ``mpPolicy.idleExit``; without it a recorded one stays. Unless ``dry_run``, a server listening on
    the socket recorded before is asked to stop, so that the next pi starts the code installed now.
    """
    path = agent_dir / "settings.json"
    command = command if command is not None else engine_command(sys.argv[0] if sys.argv else None)
    folder = str(extension_dir())
    with _locked(path, dry_run):
        before, data = _read(path)
        original = copy.deepcopy(data)
        ours = dict(_object_at(data, SETTINGS_KEY, path, SETTINGS_KEY) or {})
        notes: list[str] = []
        created = list(ours.get("created") or [])
        packages = data.get("packages")
        if packages is not None and not isinstance(packages, list):
            raise SettingsError(Diagnostic("settings-shape", "packages in pi's settings is not a list", file=str(path),
                                           path=("packages",), hint="make packages a list (or remove it)"))
        packages = list(packages or [])
        if "packages" not in data:
            created.append("packages")
        recorded = ours.get("package")
        kept = [p for p in packages
                if not (isinstance(recorded, str) and recorded != folder and _same_place(p, recorded, agent_dir))]
        extensions = data.get("extensions") if isinstance(data.get("extensions"), list) else []
        if not any(_same_place(p, folder, agent_dir) for p in [*kept, *extensions]):
            kept.append(folder)
        for entry in kept:
            text = entry if isinstance(entry, str) else json.dumps(entry)
            if "pi-multi-pass" in text or "multi-sub" in text:
                notes.append(f"pi-multi-pass is installed too ({text}): the extension does not route while it is "
                             "loaded; remove it with `pi remove` to let mp-policy route")
        data["packages"] = kept
        retry = _object_at(data, "retry", path, "retry")
        provider = _object_at(retry, "provider", path, "retry.provider") if retry is not None else None
        present, value = _get(data, _RETRY_PATH)
        if "previous" not in ours:  # the first install records what was there
            ours["previous"] = {_RETRY_NAME: value} if present else {}
            if retry is None:
                created.append("retry")
            if provider is None:
                created.append("retry.provider")
        if retry is None:
            retry = data["retry"] = {}
        if provider is None:
            provider = retry["provider"] = {}
        provider["maxRetries"] = 0
        ours["command"] = command
        ours["package"] = folder
        ours["created"] = sorted(set(created))
        old_socket = ours.get("socket") if isinstance(ours.get("socket"), str) else None
        new_socket = str(socket_path(agent_dir)) if keep_running else None
        keys = ["command", "package", "previous", "created"]
        if new_socket:
            ours["socket"] = new_socket
            keys.insert(1, "socket")
            if idle_exit is not None:
                ours["idleExit"] = idle_exit
            if "idleExit" in ours:
                keys.insert(2, "idleExit")
        elif "idleExit" in ours:
            notes.append(f"the idle time {ours['idleExit']!r} of the kept engine was dropped: each pi session "
                         "starts its own engine now")
        data.pop(SETTINGS_KEY, None)
        data[SETTINGS_KEY] = {key: ours[key] for key in keys}
        change = _change("install", path, before, original, data, dry_run, command, notes, new_socket)
        if new_socket:
            recorded_idle = ours.get("idleExit", DEFAULT_IDLE_EXIT)
            change.idle_exit = str(recorded_idle)
    # Every install stops the server it finds, changed settings or not: after an upgrade the command and the
    # folder are often the same, and the next pi must start the code installed now.
    for old in dict.fromkeys(p for p in (old_socket, new_socket) if p):
        if not dry_run and stop_server(old):
            change.stopped.append(old)
    return change


def uninstall(agent_dir: Path, *, dry_run: bool = False) -> Change:
    """Undo :func:`install` in ``<agent_dir>/settings.json`` (idempotent; see the module docstring)."""
    path = agent_dir / "settings.json"
    folder = str(extension_dir())
    with _locked(path, dry_run):
        before, data = _read(path)
        original = copy.deepcopy(data)
        ours = _object_at(data, SETTINGS_KEY, path, SETTINGS_KEY) or {}
        command = list(ours.get("command") or [])
        notes: list[str] = []
        packages = data.get("packages")
        if isinstance(packages, list):
            recorded = ours.get("package")
            places = [folder, *([recorded] if isinstance(recorded, str) else [])]
            kept = [p for p in packages if not any(_same_place(p, place, agent_dir) for place in places)]
            if kept or "packages" not in (ours.get("created") or []):
                data["packages"] = kept
            else:
                del data["packages"]
        if SETTINGS_KEY in data:
            created = set(ours.get("created") or [])
            previous = ours.get("previous") if isinstance(ours.get("previous"), dict) else {}
            present, value = _get(data, _RETRY_PATH)
            if present and value == 0:  # still what install set: put back what was there
                provider = data["retry"]["provider"]
                if _RETRY_NAME in previous:
                    provider["maxRetries"] = previous[_RETRY_NAME]
                else:
                    del provider["maxRetries"]
                    if not provider and "retry.provider" in created:
                        del data["retry"]["provider"]
                    if not data["retry"] and "retry" in created:
                        del data["retry"]
            elif present:
                notes.append(f"{_RETRY_NAME} is {value!r} (changed since install): left as it is")
            del data[SETTINGS_KEY]
        default = data.get("defaultProvider")
        if isinstance(default, str) and default[-1:].isdigit() and "-" in default:
            notes.append(f"pi's defaultProvider is {default}, an extra account that only the extension registers: "
                         "pi picks another model at start-up until you choose one (/model)")
        old_socket = ours.get("socket") if isinstance(ours.get("socket"), str) else None
        if before is None:
            change = Change("uninstall", path, False, dry_run, "", str(extension_dir()), command, notes)
        else:
            change = _change("uninstall", path, before, original, data, dry_run, command, notes)
    if old_socket and not dry_run and stop_server(old_socket):
        change.stopped.append(old_socket)
    return change


@contextlib.contextmanager
def _locked(path: Path, dry_run: bool) -> Iterator[None]:
    if dry_run:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _pi_lock(path):
        yield

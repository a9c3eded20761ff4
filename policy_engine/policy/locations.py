"""Where things live: the agent directory, the global policy, the project overlay.

A policy or overlay name that exists as something other than a regular file (a directory, a
FIFO, a device, a symbolic link loop or a link to nothing) is still *found*: reading it then
fails with a located error, instead of the file being passed over in silence.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from policy_engine.common.diagnostics import Diagnostic

__all__ = ["GLOBAL_NAMES", "PI_JSON_ADVICE", "PROJECT_NAMES", "agent_dir", "find_project_file",
           "global_policy_file", "shadowed_policy_warnings"]

GLOBAL_NAMES = ("multi-pass.yaml", "multi-pass.yml", "multi-pass.json")
PROJECT_NAMES = (".pi/multi-pass.yaml", ".pi/multi-pass.yml", ".pi/multi-pass.json")


def agent_dir(explicit: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """``explicit``, else ``$PI_CODING_AGENT_DIR``, else ``~/.pi/agent`` (as pi does)."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ if env is None else env
    if env.get("PI_CODING_AGENT_DIR"):
        return Path(env["PI_CODING_AGENT_DIR"]).expanduser()
    return Path.home() / ".pi" / "agent"


PI_JSON_ADVICE = (
    "mp-policy reads multi-pass.yaml and ignores the multi-pass.json next to it; pi-multi-pass reads only "
    "multi-pass.json, so a change to one file is not seen by the other tool. Let one tool route: to use "
    "mp-policy in pi (`mp-policy pi install`), uninstall pi-multi-pass and rename multi-pass.json to "
    "multi-pass.json.bak; to go back to pi-multi-pass, delete multi-pass.yaml."
)
"""What each tool reads once ``mp-policy import`` has written YAML next to a pi-multi-pass JSON file, and what
to do: said in the same words by the import report, the warning of every command, and docs/pi-multi-pass.md."""


def shadowed_policy_warnings(directory: Path) -> list[Diagnostic]:
    """Warnings for global policy files that exist but are ignored because an earlier name exists too."""
    found = [directory / name for name in GLOBAL_NAMES if _present(directory / name)]
    return [Diagnostic("ignored-file", f"{path.name} is ignored: {found[0].name} is read instead",
                       severity="warning", file=str(path),
                       hint=PI_JSON_ADVICE if path.suffix == ".json"
                       else "keep one global policy file (multi-pass.yaml, else multi-pass.json)")
            for path in found[1:]]


def global_policy_file(directory: Path) -> Path | None:
    """``<agentDir>/multi-pass.yaml`` if it exists, else ``.yml``, else ``.json``, else None."""
    for name in GLOBAL_NAMES:
        candidate = directory / name
        if _present(candidate):
            return candidate
    return None


def _present(path: Path) -> bool:
    """Whether something is at ``path``: a file, a folder, a FIFO, a device, even a broken or looping link."""
    return os.path.lexists(path)


def _same_file(a: Path, b: Path) -> bool:
    return os.path.realpath(a) == os.path.realpath(b)


def find_project_file(start: str | os.PathLike[str] | None, *, search_up: bool, exclude: Path | None = None
                      ) -> Path | None:
    """The project overlay for ``start``: a file itself, or ``<dir>/.pi/multi-pass.{yaml,json}``.

    With ``search_up`` (no ``--project`` given) the current directory and its parents are searched,
    stopping at the first directory that has one. ``exclude`` (the global policy) is never taken.
    No ``start`` and no search means no overlay (an engine that serves several projects).
    """
    if start is None and not search_up:
        return None
    base = Path(start) if start is not None else Path.cwd()
    if _present(base) and not base.is_dir():
        return base
    directories = [base, *base.resolve().parents] if search_up else [base]
    for directory in directories:
        for name in PROJECT_NAMES:
            candidate = directory / name
            if _present(candidate) and (exclude is None or not _same_file(candidate, exclude)):
                return candidate
    return None

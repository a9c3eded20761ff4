"""The installed entry points of a group, without importing :mod:`importlib.metadata` when nothing changed.

Importing :mod:`importlib.metadata` (with :mod:`email`, :mod:`zipfile`, :mod:`csv` ...) costs tens of
milliseconds at every start of the command line. :func:`find_entry_points` first scans the
``*.dist-info`` / ``*.egg-info`` folders of ``sys.path`` (names and ``entry_points.txt`` only):

- no ``entry_points.txt`` declares the group: no entry points, nothing imported;
- otherwise the scan is the *fingerprint* of what is installed: the ``sys.path`` entries that hold
  distributions (and the size and time of those that are files, such as a zip), every metadata
  folder's name in them, the text of each ``entry_points.txt`` declaring the group and the size and
  time of its distribution's ``METADATA`` / ``PKG-INFO`` (or of the ``*.egg``). The answer of
  :func:`importlib.metadata.entry_points` is kept in a cache file with that fingerprint, and given
  again (as :class:`CachedEntryPoint`) while the fingerprint is the same.

The file keeps the answers of the last :data:`KEPT_ANSWERS` fingerprints, newest first: one cache folder
serves every installation of a user (a ``pipx`` install and a project's virtual environment, or
``python -c`` from a source checkout whose ``*.egg-info`` is on the path), and switching between them
must not cost an :mod:`importlib.metadata` import each time.

Installing, removing, upgrading or editing a distribution changes the fingerprint, so the next
start asks :mod:`importlib.metadata` again. Entry points whose value is not ``module[:attr]`` are
never cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["KEPT_ANSWERS", "CachedDistribution", "CachedEntryPoint", "find_entry_points", "scan"]

_FORMAT = 2
#: How many fingerprints (installations) one cache file answers for; the oldest answer goes first.
KEPT_ANSWERS = 8
#: What :class:`importlib.metadata.EntryPoint` accepts as a value (its ``pattern``).
_VALUE = re.compile(r"(?P<module>[\w.]+)\s*(:\s*(?P<attr>[\w.]+)\s*)?((?P<extras>\[.*\])\s*)?$")


class CachedDistribution:
    """The distribution of a cached entry point: its ``Name`` and version, as ``importlib.metadata`` gave them."""

    def __init__(self, name: str | None, version: str | None) -> None:
        self.name = name
        self.version = version

    @property
    def metadata(self) -> Mapping[str, str | None]:
        """The one metadata field kept: ``Name``."""
        return {"Name": self.name}


class CachedEntryPoint:
    """An entry point from the cache: ``name``, ``value``, ``group``, ``dist`` and ``load()`` as
    :class:`importlib.metadata.EntryPoint` has them."""

    def __init__(self, name: str, value: str, group: str, dist: CachedDistribution | None) -> None:
        self.name = name
        self.value = value
        self.group = group
        self.dist = dist

    def load(self) -> Any:
        """Import the module and return the attribute the value names (as ``EntryPoint.load``)."""
        import importlib

        match = _VALUE.match(self.value)
        assert match is not None  # only values that match are cached
        found: Any = importlib.import_module(match.group("module"))
        for attribute in filter(None, (match.group("attr") or "").split(".")):
            found = getattr(found, attribute)
        return found

    def __repr__(self) -> str:
        return f"CachedEntryPoint(name={self.name!r}, value={self.value!r}, group={self.group!r})"


def scan(group: str) -> str | None:
    """The fingerprint of the installed distributions, or None when no ``entry_points.txt`` declares ``group``.

    A folder on ``sys.path`` without any distribution metadata (such as the current directory of
    ``python -m``) adds nothing, so where the command runs from does not change the fingerprint.
    """
    needle = f"[{group}]"
    parts: list[str] = []
    declared = False
    for entry in sys.path:
        folder = entry or "."
        try:
            names = sorted(n for n in os.listdir(folder) if n.endswith((".dist-info", ".egg-info", ".egg")))
        except NotADirectoryError:
            parts.append(f"file {entry} {_stat_text(folder)}")
            continue
        except OSError:
            continue
        if names:
            parts.append(f"path {entry}")
        for name in names:
            parts.append(f"dist {name}")
            if name.endswith(".egg"):
                parts.append(_stat_text(os.path.join(folder, name)))
                continue
            try:
                with open(os.path.join(folder, name, "entry_points.txt"), encoding="utf-8") as handle:
                    text = handle.read()
            except (OSError, UnicodeDecodeError):
                continue
            if needle in text:
                declared = True
                metadata = "METADATA" if name.endswith(".dist-info") else "PKG-INFO"
                parts.append(f"entry_points.txt {text!r} {_stat_text(os.path.join(folder, name, metadata))}")
    return "\n".join(parts) if declared else None


def _stat_text(path: str) -> str:
    try:
        found = os.stat(path)
    except OSError:
        return "missing"
    return f"{found.st_size} {found.st_mtime_ns}"


def find_entry_points(group: str, cache_file: Path | None) -> list[Any]:
    """The entry points of ``group``: none when no distribution declares the group, else those of
    :func:`importlib.metadata.entry_points`, from ``cache_file`` while what is installed is unchanged."""
    fingerprint = scan(group)
    if fingerprint is None:
        return []
    answers = _read(cache_file, group) if cache_file is not None else []
    for answer in answers:
        if answer.get("fingerprint") == fingerprint:
            cached = _entry_points(answer, group)
            if cached is not None:
                return cached
    from importlib.metadata import entry_points

    try:
        found = list(entry_points(group=group))
    except ValueError:  # a metadata backport on sys.meta_path checks every package's entry points eagerly
        found = _path_entry_points(group)
    if cache_file is not None and all(_VALUE.match(ep.value) for ep in found):
        mine = {"fingerprint": fingerprint, "entry_points": [[ep.name, ep.value, *_distribution(ep)] for ep in found]}
        others = [a for a in answers if a.get("fingerprint") != fingerprint]
        _write(cache_file, {"format": _FORMAT, "group": group, "answers": [mine, *others][:KEPT_ANSWERS]})
    return found


def _path_entry_points(group: str) -> list[Any]:
    """``group``'s entry points from the standard library's own finder over ``sys.path``, which checks an
    entry point's value only when it is loaded (so another package's malformed one stops nothing here);
    the first distribution of a name wins, as in :func:`importlib.metadata.entry_points`."""
    from importlib.metadata import DistributionFinder, MetadataPathFinder

    seen: set[str] = set()
    found: list[Any] = []
    for dist in MetadataPathFinder.find_distributions(DistributionFinder.Context()):
        try:
            name = str(dist.metadata["Name"] or "").lower().replace("-", "_")
            points = [ep for ep in dist.entry_points if ep.group == group]
        except Exception:  # a broken distribution must not stop the listing
            continue
        if name in seen:
            continue
        seen.add(name)
        found.extend(points)
    return found


def _distribution(ep: Any) -> list[Any]:
    """``[has a distribution, Name, version]`` of an entry point (a broken ``METADATA``: its name, no version)."""
    dist = getattr(ep, "dist", None)
    if dist is None:
        return [False, None, None]
    try:
        return [True, dist.metadata["Name"], dist.version]
    except Exception:  # a broken METADATA file must not stop the listing
        return [True, getattr(dist, "name", None), None]


def _read(path: Path, group: str) -> list[dict[str, Any]]:
    """The answers the cache file keeps for ``group``, newest first (none from a missing, broken or older file)."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        if data["format"] != _FORMAT or data["group"] != group:
            return []
        return [a for a in data["answers"] if isinstance(a, dict)]
    except (OSError, ValueError, KeyError, TypeError):
        return []


def _entry_points(answer: Mapping[str, Any], group: str) -> list[Any] | None:
    """The entry points of one kept answer, or None when it is malformed."""
    try:
        found = [CachedEntryPoint(str(name), str(value), group, CachedDistribution(dist, version) if has else None)
                 for name, value, has, dist, version in answer["entry_points"]]
    except (KeyError, TypeError, ValueError):
        return None
    return found if all(_VALUE.match(ep.value) for ep in found) else None


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(temporary, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.replace(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)

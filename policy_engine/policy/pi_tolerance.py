"""Reading a ``multi-pass.json`` with pi-multi-pass's own tolerance (DESIGN §3).

pi reads the same file, so what pi accepts must work unchanged: a key pi ignores is ignored (and
left out of the data the engine sees), a day name is matched whatever its case (``"Mon"`` is
Monday), and ``hours: [h, h]`` is a window that never opens. Each is a warning that names
``mp-policy import`` (which converts the file to YAML, where all three are errors) instead of the
error a YAML file gets. Everything else is checked as strictly as in YAML.

:func:`tolerate` turns a JSON document's schema diagnostics into these warnings;
:func:`without_ignored_keys` removes the ignored keys from the document's data.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Sequence
from typing import Any

from policy_engine.common.diagnostics import Diagnostic
from policy_engine.policy.document import JsonPath, LoadedDocument

__all__ = ["IGNORED_KEY", "IMPORT_HINT", "is_pi_day", "tolerate", "without_ignored_keys"]

IGNORED_KEY = "pi-ignored-key"
"""The code of the warning about a key that pi-multi-pass (and so mp-policy, in a ``.json``) ignores."""

IMPORT_HINT = ("pi-multi-pass reads this file too, so mp-policy reads it as pi does; `mp-policy import` "
               "converts it to YAML, where this is an error")
"""The hint of every tolerance warning."""

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_UNKNOWN_KEY = re.compile(r"^unknown key ")


def is_pi_day(item: Any) -> bool:
    """Whether a ``days`` item is a day name or range once lower-cased (``"Mon"``, ``"MON-fri"``)."""
    if not isinstance(item, str):
        return False
    parts = item.strip().lower().split("-")
    return 1 <= len(parts) <= 2 and all(p in _DAYS for p in parts)


def tolerate(doc: LoadedDocument, diagnostics: Iterable[Diagnostic]) -> list[Diagnostic]:
    """``diagnostics`` of a pi-multi-pass JSON document, with what pi accepts made warnings."""
    out: list[Diagnostic] = []
    for d in diagnostics:
        relative = d.path[len(doc.root):]
        if d.severity == "error" and d.code == "unknown-key":
            message = _UNKNOWN_KEY.sub("key ", d.message, count=1)
            out.append(dataclasses.replace(d, code=IGNORED_KEY, severity="warning", hint=IMPORT_HINT,
                                           message=f"{message} is ignored (pi-multi-pass ignores it too)"))
        elif d.severity == "error" and d.code == "days" and relative and isinstance(relative[-1], int):
            item = doc.get(relative)
            if is_pi_day(item):
                out.append(dataclasses.replace(
                    d, code="pi-day-case", severity="warning", hint=IMPORT_HINT,
                    message=f"day {item!r} is read as {item.strip().lower()!r} (pi-multi-pass matches day names "
                            "exactly, so in pi this window never opens on that day)"))
            else:
                out.append(dataclasses.replace(
                    d, code="pi-not-a-day", severity="warning", hint=IMPORT_HINT,
                    message=f"{item!r} is not a day, so it matches no day (as in pi-multi-pass)"))
        elif d.severity == "error" and d.code == "hours" and _empty_pair(doc.get(relative)):
            hours = doc.get(relative)
            out.append(dataclasses.replace(
                d, code="pi-empty-hours", severity="warning", hint=IMPORT_HINT,
                message=f"hours {_pair(hours)} is a window that never opens (as in pi-multi-pass)"))
        else:
            out.append(d)
    return out


def _empty_pair(value: Any) -> bool:
    """``[h, h]`` in whole hours 0-24."""
    return (isinstance(value, list) and len(value) == 2 and value[0] == value[1]
            and all(isinstance(h, int) and not isinstance(h, bool) and 0 <= h <= 24 for h in value))


def _pair(value: Any) -> str:
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return repr(value)


def without_ignored_keys(doc: LoadedDocument, diagnostics: Iterable[Diagnostic]) -> LoadedDocument:
    """``doc`` without the keys that :func:`tolerate` reported as ignored (the data is copied, not changed)."""
    paths = [d.path[len(doc.root):] for d in diagnostics if d.code == IGNORED_KEY and d.file == doc.source]
    paths = [p for p in paths if p]
    if not paths:
        return doc
    data = _copy(doc.data)
    for path in paths:
        _remove(data, path)
    return dataclasses.replace(doc, data=data)


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    return value


def _remove(data: Any, path: JsonPath) -> None:
    parent = data
    for part in path[:-1]:
        try:
            parent = parent[part]
        except (KeyError, IndexError, TypeError):
            return
    if isinstance(parent, dict):
        parent.pop(path[-1], None)

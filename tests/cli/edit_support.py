"""Helpers of the editing-command tests (``subs``, ``pool``, ``chain``, ``preset``, ``project``)."""

from __future__ import annotations

import difflib

from cli_support import REPO

#: A real pi-multi-pass set-up: ``agent/multi-pass.json`` as pi writes it, and a work repository.
PI_JSON = REPO / "policies" / "pi-multi-pass-json"


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added): every other line is byte-for-byte what it was."""
    a, b = old.splitlines(), new.splitlines()
    removed: list[str] = []
    added: list[str] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag != "equal":
            removed += a[i1:i2]
            added += b[j1:j2]
    return removed, added

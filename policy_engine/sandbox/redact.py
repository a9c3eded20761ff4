"""Text that comes out of a sandbox, made fit to show a user: no install paths, no addresses, short.

A script controls much of what its failures say: an exception's message, an answer that names no
member. It can put things there that are nobody's business: ``str(ctx.get)`` carries a memory
address (``<built-in method get of dict object at 0x7f...>``, a help to anyone attacking the
process), and a JavaScript ``new Error().stack`` lists the worker's own frames with the absolute
path mp-policy is installed at. :func:`redact` replaces addresses with ``0x…`` and the install
locations (this package's folder, the Python prefixes) with ``<mp-policy>`` / ``<python>``;
:func:`for_note` also folds the text onto one line and cuts it to :data:`MAX_NOTE_CHARS`.
"""

from __future__ import annotations

import functools
import os
import re
import sys
from pathlib import Path

__all__ = ["MAX_NOTE_CHARS", "for_note", "install_locations", "redact", "shorten"]

MAX_NOTE_CHARS = 300  # a decision's strategy note: one line a person reads
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{4,}\b")
_SPACE = re.compile(r"\s+")


@functools.lru_cache(maxsize=1)
def install_locations() -> tuple[tuple[str, str], ...]:
    """``(path, placeholder)`` pairs to hide, longest path first (their real paths too).

    Folders with fewer than two parts (``/``, ``/usr``) say nothing about an installation and are
    left alone, so ordinary text such as ``/usr/bin`` is not mangled.
    """
    found: dict[str, str] = {}
    package_root = Path(__file__).resolve().parents[2]  # the folder that holds policy_engine/
    for path, placeholder in (
        (str(package_root), "<mp-policy>"),
        (sys.prefix, "<python>"),
        (sys.exec_prefix, "<python>"),
        (sys.base_prefix, "<python>"),
        (sys.base_exec_prefix, "<python>"),
    ):
        for variant in {path, os.path.realpath(path)}:
            variant = variant.rstrip("/")
            if len(Path(variant).parts) > 2:
                found.setdefault(variant, placeholder)
    return tuple(sorted(found.items(), key=lambda item: -len(item[0])))


def redact(text: str) -> str:
    """``text`` without memory addresses and install locations."""
    text = _ADDRESS.sub("0x…", text)
    for path, placeholder in install_locations():
        if path in text:
            text = text.replace(path, placeholder)
    return text


def shorten(text: str, limit: int = MAX_NOTE_CHARS) -> str:
    """``text`` cut to at most ``limit`` characters (an ellipsis marks the cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def for_note(text: str, limit: int = MAX_NOTE_CHARS) -> str:
    """``text`` redacted, on one line and at most ``limit`` characters long."""
    if len(text) > 64 * limit:  # never scan megabytes to show a few hundred characters
        text = text[: 64 * limit]
    return shorten(_SPACE.sub(" ", redact(text)).strip(), limit)

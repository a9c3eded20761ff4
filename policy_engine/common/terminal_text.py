"""Text that is safe to print on a terminal: control characters and bidirectional controls escaped.

Names reach the screen from places no schema checks: ``auth.json`` keys, ``MULTI_SUB``, the state
store, a provider's error message, a selector's note. A name holding ``"\\x1b[2J"`` would clear the
screen, ``"\\x1b]0;...\\x07"`` retitle the window, ``"\\r"`` overwrite the line it is on, and
``"\\u202e"`` (right-to-left override) show ``ok-1`` for ``1-ko``. :func:`printable` writes such
characters as escapes instead, the way Python's ``repr`` does: ``\\x1b``, ``\\r``, ``\\u202e``
(C1 controls, DEL and the Unicode format characters as ``\\uXXXX``, so that the escaped text is
still valid inside a JSON string).

What counts as unsafe (:data:`UNSAFE`): the C0 controls U+0000-U+001F (tab and line feed only
when the caller does not keep them), DEL and the C1 controls U+007F-U+009F, the bidirectional
marks, embeddings, overrides and isolates (U+061C, U+200E, U+200F, U+202A-U+202E,
U+2066-U+2069) and the line and paragraph separators U+2028 and U+2029.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["UNSAFE", "UNSAFE_CLASS", "describe_character", "first_unsafe", "printable"]

#: The unsafe characters as the body of a regular expression character class (also used, in
#: ``\uXXXX`` form, by the schemas' ``pattern`` for names).
UNSAFE_CLASS = "\\x00-\\x1f\\x7f-\\x9f\\u061c\\u200e\\u200f\\u2028-\\u202e\\u2066-\\u2069"
#: Matches one unsafe character.
UNSAFE = re.compile(f"[{UNSAFE_CLASS}]")
_NAMES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}
_ABBREVIATIONS = {0x00: "NUL", 0x07: "BEL", 0x08: "BS", 0x09: "TAB", 0x0A: "LF", 0x0B: "VT", 0x0C: "FF",
                  0x0D: "CR", 0x1B: "ESC", 0x7F: "DEL", 0x9B: "CSI"}


def _escape(char: str) -> str:
    code = ord(char)
    if char in _NAMES:
        return _NAMES[char]
    if code < 0x20:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str, *, keep: str = "") -> str:
    """``text`` with every unsafe character escaped (``\\x1b``, ``\\r``, ``\\u202e``); ``keep`` lists
    characters left as they are (``"\\n"`` for text that is meant to span lines)."""
    if not UNSAFE.search(text):
        return text
    return UNSAFE.sub(lambda m: m.group() if m.group() in keep else _escape(m.group()), text)


def first_unsafe(text: str) -> tuple[int, str] | None:
    """The 0-based position and the character of the first unsafe character of ``text``, or None."""
    match = UNSAFE.search(text)
    return (match.start(), match.group()) if match else None


def describe_character(char: str) -> str:
    """``U+001B (ESC)``, ``U+202E (RIGHT-TO-LEFT OVERRIDE)``: how messages name a character."""
    code = ord(char)
    name = _ABBREVIATIONS.get(code) or unicodedata.name(char, "")
    return f"U+{code:04X}" + (f" ({name})" if name else "")

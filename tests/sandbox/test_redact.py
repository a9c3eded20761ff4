"""What a script writes into a note loses memory addresses and install paths, and stays short."""

from __future__ import annotations

import sys
from pathlib import Path

import policy_engine
from policy_engine.sandbox.redact import MAX_NOTE_CHARS, for_note, install_locations, redact, shorten

PACKAGE_ROOT = str(Path(policy_engine.__file__).resolve().parents[1])


def test_addresses_are_hidden() -> None:
    text = "ValueError: <built-in method get of dict object at 0x7f79ea2fa600> and <function f at 0xdeadbeef>"
    assert redact(text) == "ValueError: <built-in method get of dict object at 0x…> and <function f at 0x…>"
    assert redact("status 0x1f stays") == "status 0x1f stays"  # short hex numbers are not addresses


def test_install_paths_are_hidden() -> None:
    frame = f"    at runEntry ({PACKAGE_ROOT}/policy_engine/sandbox/js_worker.js:378:34)"
    assert redact(frame) == "    at runEntry (<mp-policy>/policy_engine/sandbox/js_worker.js:378:34)"
    assert sys.prefix not in redact(f"python at {sys.prefix}/bin/python")
    assert all(len(Path(path).parts) > 2 for path, _ in install_locations())
    assert redact("/usr/bin/env and / stay") == "/usr/bin/env and / stay"


def test_notes_are_one_line_and_short() -> None:
    note = for_note("Error: x\n    at a (selector.js:1:2)\n" + "y" * 10_000)
    assert "\n" not in note and len(note) == MAX_NOTE_CHARS and note.endswith("…")
    assert note.startswith("Error: x at a (selector.js:1:2) y")
    assert shorten("abc", 5) == "abc" and shorten("abcdef", 5) == "abcd…"

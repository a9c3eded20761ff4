r"""The ``match`` patterns of a policy's ``errorRules``: RE2 syntax, matched in linear time.

A policy, or a project overlay that came with a cloned repository, supplies these patterns, and
Python's ``re`` backtracks: ``(a|a)*$`` takes longer than a lifetime on ``"a" * 40 + "!"``. They
are compiled and searched by RE2 (``google-re2``), which never backtracks: one search costs at most
the length of the text times the size of the pattern's program. Both factors are bounded: the text
by the classifier (:func:`~policy_engine.classify.parse_error` keeps 8,192 characters of message
text), the program by :data:`MAX_PROGRAM_SIZE` per pattern and :data:`MAX_TOTAL_PROGRAM_SIZE` for
all the patterns of a policy. Measured on a 2-core machine: a policy at that limit whose patterns are
built to defeat RE2's automaton cache (``[ab]*a[ab]{999}c``) classifies an adversarial 100 KB message
in 0.15-0.25 s; ordinary patterns add microseconds.

Patterns are searched case-insensitively, as they always were. Python syntax that RE2 does not have
is refused when the policy is validated (:func:`compile_rule_pattern` raises
:class:`RulePatternError` with a hint saying what to write instead): lookahead and lookbehind,
backreferences, possessive quantifiers and atomic groups, ``\Z`` (RE2 writes ``\z``), the inline
flags ``(?x)``, ``(?a)``, ``(?u)``, comments ``(?#...)``, conditionals, ``\u``/``\U``/``\N``
escapes and counted repeats above 1000.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re2

__all__ = [
    "MAX_PROGRAM_SIZE",
    "MAX_TOTAL_PROGRAM_SIZE",
    "RulePattern",
    "RulePatternError",
    "compile_rule_pattern",
    "total_size_problem",
]

MAX_PROGRAM_SIZE = 2000
"""Most RE2 program instructions one pattern may compile to (``credit balance|spend cap|overage`` is about 40)."""

MAX_TOTAL_PROGRAM_SIZE = 10_000
"""Most RE2 program instructions all the ``errorRules`` patterns of one policy may compile to together."""

# RE2's memory per pattern (program and automaton cache; the default is 8 MiB). Measured: 500 patterns that
# defeat the automaton cache, 12,000 instructions in all, on 8 KiB of text: 0.75 s and 49 MB here, 2.3 s and
# 196 MB with 1 MiB each; ordinary patterns (a few hundred instructions) never come near it.
_MAX_MEM = 256 << 10

_SYNTAX_HINT = "escape special characters with a backslash, e.g. \\( or \\."
_LINEAR_NOTE = "errorRules patterns are RE2 syntax, matched in linear time"


class RulePatternError(ValueError):
    """A ``match`` pattern RE2 cannot take; ``hint`` says what to write instead."""

    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class RulePattern:
    """One compiled ``errorRules`` pattern; :meth:`search` runs in time linear in the text."""

    __slots__ = ("_regexp", "pattern", "size")

    def __init__(self, pattern: str, regexp: re2._Regexp) -> None:
        self.pattern = pattern
        self._regexp = regexp
        self.size: int = regexp.programsize
        """The size of the RE2 program (instructions): what one searched byte costs at most."""

    def search(self, text: str) -> bool:
        """Whether the pattern occurs anywhere in ``text`` (case-insensitively)."""
        return self._regexp.search(text.encode("utf-8", "replace")) is not None

    def __repr__(self) -> str:
        return f"RulePattern({self.pattern!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RulePattern) and other.pattern == self.pattern

    def __hash__(self) -> int:
        return hash(self.pattern)


@lru_cache(maxsize=1024)
def compile_rule_pattern(pattern: str) -> RulePattern:
    """Compile one ``match`` pattern with RE2, case-insensitively; raises :class:`RulePatternError`."""
    import re2

    options = re2.Options()
    options.case_sensitive = False
    options.never_capture = True  # only "does it occur" is asked: groups would cost submatch tracking
    options.log_errors = False  # RE2 would print every refused pattern on stderr
    options.max_mem = _MAX_MEM
    try:
        regexp = re2.compile(pattern, options)
    except UnicodeEncodeError:
        raise RulePatternError(
            "the pattern is not valid Unicode text (it holds a lone surrogate such as \\ud800)",
            "write the character itself, or \\x{...} with its code point",
        ) from None
    except re2.error as exc:
        raw = exc.args[0] if exc.args else ""
        detail = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        raise RulePatternError(*_explain(detail, pattern)) from None
    compiled = RulePattern(pattern, regexp)
    if compiled.size > MAX_PROGRAM_SIZE:
        raise RulePatternError(
            f"the pattern is too large: RE2 compiles it to {compiled.size} instructions, at most "
            f"{MAX_PROGRAM_SIZE} are allowed (each one is paid for every character of every error message)",
            "split it into several errorRules, or use smaller counted repeats",
        )
    return compiled


def total_size_problem(sizes: Iterable[tuple[int, int]]) -> tuple[int, str, str] | None:
    """Where the patterns of a policy pass :data:`MAX_TOTAL_PROGRAM_SIZE`, or None.

    ``sizes`` are ``(errorRules index, RulePattern.size)`` in document order; the answer is the index
    of the pattern that crosses the limit, a message and a hint.
    """
    total = 0
    for index, size in sizes:
        total += size
        if total > MAX_TOTAL_PROGRAM_SIZE:
            return (
                index,
                f"the errorRules patterns are too large together: up to this one they compile to {total} RE2 "
                f"instructions, at most {MAX_TOTAL_PROGRAM_SIZE} are allowed (every error is searched with each)",
                "merge patterns that say the same thing, or match on status, type or code instead",
            )
    return None


# --- explaining what RE2 refused -----------------------------------------------------------------

_LOOKAROUND = {
    "(?=": ("lookahead (?=...)", "write the text you expect after it as part of the pattern: "
                                  "'quota(?= exceeded)' becomes 'quota exceeded'"),
    "(?!": ("negative lookahead (?!...)", "put a rule for the excluded text before this one: the first "
                                          "matching errorRule wins"),
    "(?<=": ("lookbehind (?<=...)", "write the text you expect before it as part of the pattern: "
                                    "'(?<=quota )exceeded' becomes 'quota exceeded'"),
    "(?<!": ("negative lookbehind (?<!...)", "put a rule for the excluded text before this one: the first "
                                             "matching errorRule wins"),
}

_PERL_OPERATORS = {
    "(?P=": ("a backreference (?P=name)", "write the repeated text out: a pattern only says whether it occurs"),
    "(?P>": ("a recursive call (?P>name)", "write the repeated part out"),
    "(?>": ("an atomic group (?>...)", "write (?:...): RE2 never backtracks, so nothing needs to be atomic"),
    "(?#": ("a comment (?#...)", "remove the comment (a YAML comment after the rule can say it)"),
    "(?(": ("a conditional (?(...)...)", "write one errorRule per alternative"),
    "(?|": ("a branch reset (?|...)", "write (?:...)"),
}

_FLAG_HINTS = {
    "x": "remove (?x) and write the pattern without the spaces and comments verbose mode allowed (a space "
         "is itself, or \\x20)",
    "a": "RE2's \\d, \\w, \\s and \\b are ASCII already: remove (?a)",
    "u": "remove (?u): for Unicode classes write \\pL (letters) or \\p{Nd} (digits)",
    "L": "remove (?L)",
}

_ESCAPE_HINTS = {
    "\\Z": "RE2 writes the end of the text as \\z (or $)",
    "\\u": "write a code point as \\x{20AC}, or the character itself",
    "\\U": "write a code point as \\x{1F600}, or the character itself",
    "\\N": "write a named character as \\x{...} with its code point, or the character itself",
    "\\k": "backreferences are not supported: write the repeated text out",
    "\\g": "backreferences are not supported: write the repeated text out",
    "\\G": "remove \\G: a pattern is searched anywhere in the message",
    "\\e": "write the escape character as \\x1B",
    "\\c": "write a control character as \\x01 ... \\x1F",
}


def _explain(detail: str, pattern: str) -> tuple[str, str]:
    """A message and a hint for one of RE2's parse errors (``"invalid perl operator: (?="``) in ``pattern``."""
    code, _, fragment = detail.partition(": ")
    if code == "invalid perl operator":
        if fragment == "(?P":  # RE2 shows no more of (?P=name) or (?P>name)
            found = re.search(r"\(\?P[^<]", pattern)
            fragment = found.group(0) if found else fragment
        for prefix, (what, hint) in (*_LOOKAROUND.items(), *_PERL_OPERATORS.items()):
            if fragment.startswith(prefix):
                return f"{what} is not supported: {_LINEAR_NOTE}", hint
        flags = fragment[2:].lstrip("-")
        for flag, hint in _FLAG_HINTS.items():
            if flag in flags:
                return f"the inline flag (?{flag}) is not supported: {_LINEAR_NOTE}", hint
        return (f"{fragment!r} is not supported: {_LINEAR_NOTE}",
                "RE2 knows the inline flags i, m, s and U, (?:...), (?P<name>...) and (?<name>...)")
    if code == "bad repetition operator":
        if len(fragment) >= 2 and fragment.endswith("+"):
            return (f"the possessive quantifier {fragment!r} is not supported: {_LINEAR_NOTE}",
                    f"write {fragment[:-1]!r} alone: RE2 never backtracks, so nothing needs to be possessive")
        return f"{fragment!r} repeats a repeat", "remove one of the two repeat operators"
    if code == "invalid escape sequence":
        if re.fullmatch(r"\\[1-9]", fragment):
            return (f"the backreference {fragment} is not supported: {_LINEAR_NOTE}",
                    "write the repeated text out: a pattern only says whether it occurs")
        hint = _ESCAPE_HINTS.get(fragment[:2], "escape only punctuation, e.g. \\. \\( \\[; RE2 escapes are "
                                                "\\d \\w \\s \\b \\pL \\x{...} \\n \\t \\A \\z")
        return f"the escape {fragment} is not supported: {_LINEAR_NOTE}", hint
    if code == "invalid repetition size":
        return (f"the repeat {fragment} is too large: RE2 counts at most 1000 repetitions, nested repeats "
                "multiplied ((a{100}){100} is 10000)", "use + or *, or smaller counts")
    if code.startswith("pattern too large"):
        return ("the pattern is too large for RE2's memory budget of an error rule",
                "split it into several errorRules, or use smaller counted repeats")
    return f"not a valid regular expression: {detail}", _SYNTAX_HINT

"""The text patterns of error classification, each compiled on first use.

Importing this module compiles nothing: every pattern is a :class:`_LazyPattern` that compiles its
regular expression the first time it is used, so importing :mod:`policy_engine.classify` stays
cheap for the CLI. Patterns built with :func:`_rx` are verbose and searched in lower-cased text.
"""

from __future__ import annotations

import re
from typing import Any


class _LazyPattern:
    """A regular expression compiled on first use (keeps importing this module cheap for the CLI)."""

    __slots__ = ("_args", "_compiled")

    def __init__(self, pattern: str, flags: int = 0) -> None:
        self._args = (pattern, flags)
        self._compiled: re.Pattern[str] | None = None

    def __getattr__(self, name: str) -> Any:
        if self._compiled is None:
            self._compiled = re.compile(*self._args)
        return getattr(self._compiled, name)


def _lazy(pattern: str, flags: int = 0) -> re.Pattern[str]:
    return _LazyPattern(pattern, flags)  # type: ignore[return-value]


# A status prefix pi and the SDKs write: "429 {...}", "401 authentication_error: ...", "503", "HTTP 503 ...".
_STATUS_PREFIX = _lazy(r"^\s*(?:HTTP(?:/\d(?:\.\d)?)?\s+)?([45]\d\d)(?=\s|:|$)", re.IGNORECASE)
# "Cloud Code Assist API error (429): ..." and similar "<Name> API error (<status>)" prefixes.
_API_ERROR_PREFIX = _lazy(r"^\s*[A-Za-z][\w .-]{0,60}?\berror\s*\(([1-5]\d\d)\)\s*:?", re.IGNORECASE)
# A structured identifier that leads the message (after any status prefix): "rate_limit_error",
# "insufficient_quota: ...", "RESOURCE_EXHAUSTED".
_LEAD_IDENT = _lazy(r" {0,3}:? {0,3}([A-Za-z][A-Za-z0-9]{0,40}(?:_[A-Za-z0-9]{1,40}){1,8}) {0,3}(?::|$)")
_IDENT_OK = _lazy(r"^[A-Za-z][A-Za-z0-9_.\- ]{0,80}$")
_CAMEL = _lazy(r"(?<=[a-z0-9])(?=[A-Z])")
_IDENT_SEP = _lazy(r"[\s.\-]+")


def _rx(pattern: str) -> re.Pattern[str]:
    """A verbose pattern searched in the lower-cased text (no IGNORECASE: several times faster)."""
    return _lazy(pattern, re.VERBOSE)


_QUOTA_TEXT = _rx(r"""
      usage[ _-]?limit
    | out\ of\ (?:extra\ )?(?:usage|credits?|quota)
    | extra\ usage\ is\ required | draw\ from\ your\ extra\ usage
    | credit\ balance\ is\ too\ low
    | insufficient[ _](?:quota|credits?|balance|funds)
    | (?:exceeded|used\ up|exhausted|reached|hit)\ (?:your\ |the\ )?
      (?:current\ |monthly\ |daily\ |weekly\ |plan\ |individual\ )?quota
    | quota\ (?:has\ been\ |is\ |was\ )?(?:exceeded|exhausted|reached|used\ up|depleted)
    | quota_(?:exceeded|exhausted)
    | no\ (?:remaining\ )?quota\b
    | (?:session|weekly|monthly|daily)\ limit\b
    | billing[ _](?:hard[ _])?limit
    | (?:budget|spend(?:ing)?\ limit)\ (?:has\ been\ )?(?:exceeded|reached)
""")
_RATE_TEXT = _rx(r"""
      rate[ _-]?limit
    | too\ many\ requests
    | resource(?:\s+has\s+been\s+|[ _]?)exhausted
    | exhausted\ your\ capacity
    | throttl
""")
_OVERLOADED_TEXT = _rx(r"""
      overloaded
    | at\ capacity\b
    | capacity[ _](?:exhausted|exceeded)
    | no\ (?:available\ )?capacity\b
    | service[ _]unavailable
    | temporarily\ unavailable
    | server\ (?:is\ )?busy
""")
_CONTEXT_TEXT = _rx(r"""
      context[ _-]?(?:limit|length|window)[ _-]?(?:reached|exceeded)
    | maximum\ context\ length
    | exceeds?\ (?:the\ )?(?:model'?s?\ )?(?:maximum\ )?context(?:\ window|\ length|\ limit)
    | prompt\ is\ too\ long
    | input\ is\ too\ long
    | input\ token\ count.{0,60}?exceeds
    | token\ count\ of\ \d+\ exceeds
""")
_AUTH_TEXT = _rx(r"""
      token\ (?:has\ |is\ )?expired | token\ (?:was\ |has\ been\ )?revoked
    | expired\ (?:oauth\ |access\ )?token
    | authentication(?:_error|\ failed)
    | invalid\ (?:x-)?api[ _-]?key | invalid\ (?:access\ |bearer\ |oauth\ )?token | invalid_grant
    | unauthori[sz]ed | not\ authori[sz]ed
    | permission(?:_error|\ denied) | forbidden
    | re-?authenticate | log\ ?in\ again | sign\ in\ again
    | does\ not\ meet\ scope
""")
_ABORT_TEXT = _rx(r"abort(?:ed|error)?\b | request\ was\ cancel(?:l)?ed\b")
_PLAIN_FAILURE_TEXT = _rx(r"""
      enoent\b | no\ such\ file
    | model[ _]not[ _]found | not_found_error | unknown\ model
    | model\ \S{1,80}\ (?:does\ not\ exist|not\ found|is\ not\ supported)
    | fetch\ failed | econn(?:reset|refused) | etimedout | socket\ hang\ up
    | network\ error | other\ side\ closed
""")

# Message retry phrases: "Try again in ~42 min", "Resets in 9h22m20s", "reset after 161h39m41s".
_NUM_UNIT = (
    r"\d+(?:\.\d+)?\s*(?:milliseconds?|msecs?|ms|minutes?|mins?|m|seconds?|secs?|s|hours?|hrs?|h|days?|d)"
    r"(?![a-z])"
)
_RETRY_TEXT = _lazy(
    rf"\b(?:try(?:ing)?\s+again|retry(?:ing)?|resets?|available\s+again)\s+(?:in|after)\s+"
    rf"(?:about\s+|approximately\s+|~\s*)?({_NUM_UNIT}(?:(?:\s*,\s*|\s+and\s+|\s*){_NUM_UNIT})*)",
)  # searched in the lower-cased text
_RETRY_PART = _lazy(r"(\d+(?:\.\d+)?)\s*([a-z]+)", re.IGNORECASE)
_EPOCH_TEXT = _lazy(r"usage limit reached\|(\d{10,13})")  # old Claude Code form (lower-cased text)

# Go / protobuf durations: "900s", "0.479417207s", "479.417207ms", "161h39m41.300432511s".
_GO_DURATION = _lazy(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_GO_PART = _lazy(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")

_UNIFIED_WINDOW_STATUS = _lazy(r"^anthropic-ratelimit-unified-(.+)-status$")
_USED_PERCENT = _lazy(r"^x-(.+)-(primary|secondary)-used-percent$")

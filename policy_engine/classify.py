"""Error classification: what kind of failure a provider error is, and how long it lasts.

One provider error (HTTP status, structured type/code, message, headers, body) becomes a
:class:`Classification`: a kind, the latest retry/reset moment the error carries, and why.

Order of decision (the first rule with an opinion wins):

1. the policy's ``errorRules``, in document order (:class:`PolicyErrorRule`);
2. the provider family's own rules (:mod:`policy_engine.provider_rules`, or a plugin's): status,
   body types/codes, provider headers, provider-specific phrases;
3. generic structured rules: Google ``ErrorInfo`` reasons, then well-known error types/codes
   (``rate_limit_error``, ``overloaded_error``, ``insufficient_quota`` …), then the HTTP status;
4. message patterns (abort, context overflow, auth, quota, overload, rate limit, plain failures);
5. otherwise ``other``.

Semantics: HTTP 429 is ``rate_limit`` unless the body or text says the quota is used up
(``quota_exhausted``); 402 is ``quota_exhausted``; 503 and 529 are ``overloaded``; other 5xx are
``other``; 401 is ``auth``, and so is 403 unless its text says rate limit or quota; 400 and other
4xx decide nothing by themselves, the text does. A number that merely contains ``429`` (an id, a
token count) never counts: a status is read from ``status``, else from a well-formed message
prefix (``"429 {...}"``, ``"401 authentication_error: ..."``, ``"HTTP 503"``,
``"Cloud Code Assist API error (429): ..."``), else from the body (``error.code`` / ``status``).

Retry/reset moments (the latest one wins; relative ones count from ``now``): headers
``retry-after`` (seconds or HTTP date), ``retry-after-ms``, ``anthropic-ratelimit-unified-reset``
(only while ``-unified-status`` is ``rejected``), ``anthropic-ratelimit-unified-<window>-reset``
for each window whose status is ``rejected`` (the ``overage`` window is ignored: its reset is
when extra usage refills, not when the plan works again), the standard
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-reset`` only when that family's
``-remaining`` is 0, ``x-<limit>-{primary,secondary}-reset-at`` (or ``-reset-after-seconds``)
only for a window whose ``-used-percent`` is >= 100; body ``error.resets_at`` (epoch seconds) and
``error.resets_in_seconds`` (Codex), Google ``RetryInfo.retryDelay``, ``ErrorInfo.metadata``
``quotaResetDelay`` (Go duration) and ``quotaResetTimeStamp`` (RFC 3339); message phrases such as
"Try again in ~42 min", "Resets in 9h22m20s", "reset after 161h39m41s", "retry in 30s", and
"usage limit reached|<epoch>"; and a matching policy rule's ``retryAfter``. Values that are
negative, unreadable, already past (absolute times) or more than :data:`MAX_RETRY_DELAY`
(31 days, longer than any monthly quota window) away are ignored. Epoch values of 1e11 or more are
taken as milliseconds.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, get_args

from policy_engine.durations import DurationError, parse_duration

__all__ = [
    "ERROR_KINDS",
    "MAX_RETRY_DELAY",
    "ROTATION_KINDS",
    "Classification",
    "Classifier",
    "ErrorInfo",
    "ErrorKind",
    "ParsedError",
    "PolicyErrorRule",
    "ProviderRule",
    "classify",
    "google_reason_rule",
    "parse_error",
    "quota_text",
    "rate_text",
]

_log = logging.getLogger(__name__)

ErrorKind = Literal["rate_limit", "quota_exhausted", "overloaded", "auth", "context_overflow", "other"]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)
ROTATION_KINDS: frozenset[ErrorKind] = frozenset({"rate_limit", "quota_exhausted", "overloaded"})
"""Kinds that move a turn to another account unless a policy rule says otherwise."""

MAX_RETRY_DELAY = timedelta(days=31)
"""Retry/reset moments further away than this are ignored as absurd."""

_TEXT_LIMIT = 4096  # characters of message/body text searched by patterns (keeps a huge page cheap)
_JSON_LIMIT = 65536  # characters of a message searched for an embedded JSON body


# ---------------------------------------------------------------------------------------------
# Public data types


@dataclass(frozen=True)
class ErrorInfo:
    """One provider error as the caller saw it. Every field but ``provider``/``base`` is optional.

    ``headers`` may use any case; ``body`` is the parsed JSON body (dict or list) or a raw string.
    """

    provider: str
    base: str
    status: int | None = None
    type: str | None = None
    code: str | None = None
    message: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None


@dataclass(frozen=True)
class Classification:
    """The verdict on one error: its kind, the latest retry moment it carries, and why."""

    kind: ErrorKind
    retry_at: datetime | None
    reason: str
    retry_source: str | None
    rotate: bool | None = None

    @property
    def should_rotate(self) -> bool:
        """Whether the turn moves on: a policy rule's ``rotate`` if it set one, else by kind."""
        return self.rotate if self.rotate is not None else self.kind in ROTATION_KINDS

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{kind, rotate, retryAfter, reason, retrySource}``."""
        return {
            "kind": self.kind,
            "rotate": self.should_rotate,
            "retryAfter": self.retry_at.isoformat() if self.retry_at else None,
            "reason": self.reason,
            "retrySource": self.retry_source,
        }


@dataclass(frozen=True)
class ParsedError:
    """What was extracted once from an :class:`ErrorInfo`, so rules never re-parse.

    Identifiers (``types``, ``codes``, ``reasons``) are normalised to lower snake case
    (``RESOURCE_EXHAUSTED`` and ``resourceExhausted`` both become ``resource_exhausted``) and map
    to where they were found (``"error.type"``). ``text`` is the message plus the body's
    message fields (capped), ``lower`` the same lower-cased, for pattern rules. ``retry`` holds
    every sane retry/reset moment as ``(moment, source)``, in discovery order.
    """

    status: int | None
    status_source: str | None
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None
    body_source: str | None
    types: Mapping[str, str]
    codes: Mapping[str, str]
    reasons: Mapping[str, str]
    reason_metadata: tuple[Mapping[str, str], ...]
    quota_ids: tuple[str, ...]
    text: str
    lower: str
    retry: tuple[tuple[datetime, str], ...]

    def search(self, pattern: re.Pattern[str]) -> str | None:
        """Search a lower-case ``pattern`` in :attr:`lower`; the matched text as written, or None."""
        match = pattern.search(self.lower)
        return None if match is None else self._snippet(match)

    def _snippet(self, match: re.Match[str]) -> str:
        if len(self.lower) == len(self.text):
            return self.text[match.start() : match.end()]
        return match.group(0)

    def find(self, names: Iterable[str]) -> tuple[str, str] | None:
        """The first of ``names`` found among types, codes or reasons, as ``(name, where)``."""
        for name in names:
            for table in (self.types, self.codes, self.reasons):
                where = table.get(name)
                if where is not None:
                    return name, where
        return None

    def status_label(self) -> str:
        """``"HTTP 429"``, or ``"no HTTP status"``."""
        return f"HTTP {self.status}" if self.status is not None else "no HTTP status"


ProviderRule = Callable[[ErrorInfo, ParsedError], tuple[ErrorKind, str] | None]
"""A provider's rule: ``(kind, reason)``, or ``None`` for no opinion."""


@dataclass(frozen=True)
class PolicyErrorRule:
    """One item of a policy's ``errorRules``; it matches when all the fields it gives match.

    ``provider`` matches the account name or its base; ``status`` the status; ``type`` any
    structured type found (caller's ``type``, ``error.type``, a Google ``error.status``, a
    ``snake_case:`` message prefix); ``code`` any code or Google ``ErrorInfo`` reason; ``match`` is
    searched (case-insensitively) in the message and the body's message fields.
    """

    kind: ErrorKind
    provider: str | None = None
    status: frozenset[int] | None = None
    type: str | None = None
    code: str | None = None
    match: re.Pattern[str] | None = None
    rotate: bool | None = None
    retry_after: timedelta | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PolicyErrorRule:
        """Build from one schema-valid ``errorRules`` item; raises ``ValueError`` on bad values."""
        kind = raw.get("kind")
        if kind not in ERROR_KINDS:
            raise ValueError(f"errorRules: kind must be one of {', '.join(ERROR_KINDS)}, got {kind!r}")
        status_raw = raw.get("status")
        status: frozenset[int] | None = None
        if status_raw is not None:
            items = status_raw if isinstance(status_raw, list | tuple | set | frozenset) else [status_raw]
            if not items or not all(isinstance(s, int) and not isinstance(s, bool) for s in items):
                raise ValueError(f"errorRules: status must be an integer or a list of integers, got {status_raw!r}")
            status = frozenset(items)
        match: re.Pattern[str] | None = None
        if raw.get("match") is not None:
            try:
                match = re.compile(str(raw["match"]), re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"errorRules: match is not a valid regular expression: {exc}") from exc
        retry_after: timedelta | None = None
        if raw.get("retryAfter") is not None:
            try:
                retry_after = parse_duration(raw["retryAfter"])
            except DurationError as exc:
                raise ValueError(f"errorRules: retryAfter: {exc}") from exc
        rotate = raw.get("rotate")
        return cls(
            kind=kind,
            provider=raw.get("provider"),
            status=status,
            type=raw.get("type"),
            code=raw.get("code"),
            match=match,
            rotate=bool(rotate) if rotate is not None else None,
            retry_after=retry_after,
        )

    def matches(self, info: ErrorInfo, parsed: ParsedError) -> bool:
        """Whether every field this rule gives matches the error."""
        if self.provider is not None and self.provider not in (info.provider, info.base):
            return False
        if self.status is not None and parsed.status not in self.status:
            return False
        if self.type is not None and _ident(self.type) not in parsed.types:
            return False
        if self.code is not None:
            code = _ident(self.code)
            if code not in parsed.codes and code not in parsed.reasons:
                return False
        return self.match is None or self.match.search(parsed.text) is not None

    def describe(self) -> str:
        """Short text of the conditions, e.g. ``provider anthropic, status 400, match /credit/``."""
        parts = []
        if self.provider is not None:
            parts.append(f"provider {self.provider}")
        if self.status is not None:
            parts.append("status " + "/".join(str(s) for s in sorted(self.status)))
        if self.type is not None:
            parts.append(f"type {self.type}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.match is not None:
            parts.append(f"match /{self.match.pattern}/")
        return ", ".join(parts) or "any error"


# ---------------------------------------------------------------------------------------------
# Patterns (compiled once)

# A status prefix pi and the SDKs write: "429 {...}", "401 authentication_error: ...", "503", "HTTP 503 ...".
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
_TEXT_UNITS = {
    "ms": 0.001, "msec": 0.001, "msecs": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip

# Go / protobuf durations: "900s", "0.479417207s", "479.417207ms", "161h39m41.300432511s".
_GO_DURATION = _lazy(r"^(?:(?:\d+(?:\.\d*)?|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+$")
_GO_PART = _lazy(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}

_UNIFIED_WINDOW_STATUS = _lazy(r"^anthropic-ratelimit-unified-(.+)-status$")
_USED_PERCENT = _lazy(r"^x-(.+)-(primary|secondary)-used-percent$")
_STANDARD_FAMILIES = ("requests", "tokens", "input-tokens", "output-tokens")


# ---------------------------------------------------------------------------------------------
# Small readers (never raise)


def _ident(value: str) -> str:
    """Normalise an identifier to lower snake case."""
    return _IDENT_SEP.sub("_", _CAMEL.sub("_", value.strip())).lower()


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", "replace")
    try:
        return str(value)
    except Exception:
        return ""


def _as_status(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 100 <= value <= 599 else None
    if isinstance(value, str) and value.strip().isdigit():
        return _as_status(int(value.strip()))
    return None


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def _epoch(value: Any) -> datetime | None:
    number = _as_float(value)
    if number is None or number <= 0:
        return None
    if number >= 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _http_date(value: str) -> datetime | None:
    try:
        from email.utils import parsedate_to_datetime  # rarely needed: HTTP-date retry-after

        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime | None:
    """An absolute moment written as epoch seconds, RFC 3339 or an HTTP date."""
    moment = _epoch(value)
    if moment is None and isinstance(value, str):
        moment = _rfc3339(value) or _http_date(value)
    return moment


def _go_duration(value: Any) -> timedelta | None:
    """A Go/protobuf duration string ("900s", "479.417207ms", "161h39m41.3s"); numbers are seconds."""
    number = _as_float(value)
    if number is not None:
        return timedelta(seconds=number) if number >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _GO_DURATION.match(text):
        return None
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        return None


def _text_duration(text: str) -> timedelta | None:
    seconds = 0.0
    for number, unit in _RETRY_PART.findall(text):
        factor = _TEXT_UNITS.get(unit.lower())
        if factor is None:
            return None
        seconds += float(number) * factor
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        return None


def _lower_headers(headers: Any) -> dict[str, str]:
    """Header names lower-cased; list values keep their first item; anything unreadable is dropped."""
    if not headers:
        return {}
    items: Iterable[Any]
    if isinstance(headers, Mapping):
        items = headers.items()
    elif isinstance(headers, list | tuple):
        items = headers
    else:
        try:
            items = headers.items()
        except Exception:
            return {}
    out: dict[str, str] = {}
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            continue
        if isinstance(value, list | tuple):
            value = value[0] if value else ""
        name_text = _as_text(name).strip().lower()
        if name_text and name_text not in out:
            out[name_text] = _as_text(value).strip()
    return out


def _json_in(text: str) -> Any:
    """The first JSON object or array embedded in ``text``, or None."""
    decoder = json.JSONDecoder()
    starts = sorted(i for i in (text.find("{"), text.find("[")) if i >= 0)
    for start in starts:
        try:
            value, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):  # deeply nested garbage too
            continue
        if isinstance(value, dict | list):
            return value
    return None


def _unwrap(body: Any) -> Mapping[str, Any] | None:
    """A body as a mapping: arrays (Google streaming) give their first mapping item."""
    if isinstance(body, list):
        for item in body[:4]:
            if isinstance(item, Mapping):
                return item
        return None
    return body if isinstance(body, Mapping) else None


# ---------------------------------------------------------------------------------------------
# Parsing


class _Collector:
    """Mutable scratch space while parsing; frozen into a :class:`ParsedError` at the end."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.types: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.metadata: list[Mapping[str, str]] = []
        self.quota_ids: list[str] = []
        self.texts: list[str] = []
        self.retry: list[tuple[datetime, str]] = []
        self.body_status: int | None = None
        self.body_headers: dict[str, str] = {}

    @staticmethod
    def _put(table: dict[str, str], value: Any, where: str) -> None:
        if isinstance(value, str) and _IDENT_OK.match(value.strip()):
            table.setdefault(_ident(value), where)

    def type(self, value: Any, where: str) -> None:
        self._put(self.types, value, where)

    def code(self, value: Any, where: str) -> None:
        self._put(self.codes, value, where)

    def at(self, moment: datetime | None, source: str) -> None:
        """Record an absolute moment (dropped when past or absurdly far)."""
        if moment is None:
            return
        if self.now <= moment <= self.now + MAX_RETRY_DELAY:
            self.retry.append((moment, source))

    def after(self, delay: timedelta | None, source: str) -> None:
        """Record a delay from now (dropped when negative or absurdly long)."""
        if delay is None or delay < timedelta(0) or delay > MAX_RETRY_DELAY:
            return
        self.retry.append((self.now + delay, source))

    # -- body ------------------------------------------------------------------------------

    def body(self, body: Mapping[str, Any], label: str, depth: int = 0) -> None:
        top_type = body.get("type")
        if top_type != "error":
            self.type(top_type, "type")
        status = body.get("status")
        if isinstance(status, str) and not status.strip().isdigit():
            self.type(status, "status")
        elif self.body_status is None:
            self.body_status = _as_status(status)  # Codex SSE wrapper: {"type":"error","status":429,...}
        self.code(body.get("code"), "code")
        if isinstance(body.get("message"), str):
            self.texts.append(body["message"])
        headers = body.get("headers")
        if isinstance(headers, Mapping):
            self.body_headers.update(_lower_headers(headers))
        details = body.get("error_details")
        if isinstance(details, Mapping):  # Copilot token exchange 403
            self.code(details.get("notification_id"), "error_details.notification_id")
            for key in ("title", "message"):
                if isinstance(details.get(key), str):
                    self.texts.append(details[key])
        error = body.get("error")
        if isinstance(error, Mapping):
            self.error(error, label, depth)
        elif isinstance(error, str):  # {"error": "invalid_grant"} or {"error": "some sentence"}
            if _IDENT_OK.match(error.strip()) and " " not in error.strip():
                self.code(error, "error")
            else:
                self.texts.append(error)
            if isinstance(body.get("error_description"), str):
                self.texts.append(body["error_description"])

    def error(self, error: Mapping[str, Any], label: str, depth: int) -> None:
        self.type(error.get("type"), "error.type")
        code = error.get("code")
        if isinstance(code, str):
            self.code(code, "error.code")
        elif self.body_status is None:
            self.body_status = _as_status(code)  # Google: {"code": 429, "status": "RESOURCE_EXHAUSTED"}
        status = error.get("status")
        if isinstance(status, str) and not status.strip().isdigit():
            self.type(status, "error.status")
        elif self.body_status is None:
            self.body_status = _as_status(status)
        message = error.get("message")
        if isinstance(message, str):
            self.texts.append(message)
            stripped = message.lstrip()
            if depth < 2 and stripped[:1] in ("{", "["):  # Google sometimes nests a JSON error
                nested = _unwrap(_json_in(stripped))
                if nested is not None:
                    self.body(nested, label, depth + 1)
        for item in error.get("errors") or ():  # older Vertex style: errors[].reason
            if isinstance(item, Mapping):
                self.code(item.get("reason"), "errors[].reason")
        self.at(_epoch(error.get("resets_at")), f"{label} error.resets_at")
        seconds = _as_float(error.get("resets_in_seconds"))
        if seconds is not None:
            self.after(_seconds(seconds), f"{label} error.resets_in_seconds")
        details = error.get("details")
        if isinstance(details, list):
            for item in details:
                if isinstance(item, Mapping):
                    self.google_detail(item, label)

    def google_detail(self, item: Mapping[str, Any], label: str) -> None:
        kind = _as_text(item.get("@type")).rsplit("/", 1)[-1]
        if kind.endswith("ErrorInfo") or (not kind and "reason" in item):
            reason = item.get("reason")
            if isinstance(reason, str) and _IDENT_OK.match(reason.strip()):
                self.reasons.setdefault(_ident(reason), "ErrorInfo.reason")
            metadata = item.get("metadata")
            if isinstance(metadata, Mapping):
                meta = {str(k): _as_text(v) for k, v in metadata.items()}
                self.metadata.append(meta)
                self.after(_go_duration(meta.get("quotaResetDelay")), f"{label} ErrorInfo quotaResetDelay")
                self.at(_rfc3339(meta.get("quotaResetTimeStamp")), f"{label} ErrorInfo quotaResetTimeStamp")
        elif kind.endswith("RetryInfo"):
            self.after(_go_duration(item.get("retryDelay")), f"{label} RetryInfo.retryDelay")
        elif kind.endswith("QuotaFailure"):
            for violation in item.get("violations") or ():
                if isinstance(violation, Mapping):
                    for key in ("quotaId", "quotaMetric"):
                        if isinstance(violation.get(key), str):
                            self.quota_ids.append(violation[key])

    # -- headers -----------------------------------------------------------------------------

    def headers(self, h: Mapping[str, str]) -> None:
        value = h.get("retry-after")
        if value:
            seconds = _as_float(value)
            if seconds is not None:
                self.after(_seconds(seconds), "header retry-after")
            else:
                self.at(_http_date(value), "header retry-after")
        seconds = _as_float(h.get("retry-after-ms"))
        if seconds is not None:
            self.after(_seconds(seconds / 1000.0), "header retry-after-ms")
        if not any(name.startswith(("anthropic-", "x-")) for name in h):
            return
        if h.get("anthropic-ratelimit-unified-status", "").lower() == "rejected":
            self.at(
                _instant(h.get("anthropic-ratelimit-unified-reset")),
                "header anthropic-ratelimit-unified-reset",
            )
        for family in _STANDARD_FAMILIES:
            if _as_float(h.get(f"anthropic-ratelimit-{family}-remaining")) == 0:
                name = f"anthropic-ratelimit-{family}-reset"
                self.at(_instant(h.get(name)), f"header {name}")
        for name, value in h.items():
            window = _UNIFIED_WINDOW_STATUS.match(name)
            if window and window.group(1) != "overage" and value.lower() == "rejected":
                reset = f"anthropic-ratelimit-unified-{window.group(1)}-reset"
                self.at(_instant(h.get(reset)), f"header {reset}")
                continue
            used = _USED_PERCENT.match(name)
            if used:
                percent = _as_float(value)
                if percent is not None and percent >= 100:
                    prefix = f"x-{used.group(1)}-{used.group(2)}"
                    moment = _epoch(h.get(f"{prefix}-reset-at"))
                    if moment is not None:
                        self.at(moment, f"header {prefix}-reset-at")
                    else:
                        after = _as_float(h.get(f"{prefix}-reset-after-seconds"))
                        if after is not None:
                            self.after(_seconds(after), f"header {prefix}-reset-after-seconds")

    # -- message text ------------------------------------------------------------------------

    def text_retry(self, text: str, lower: str) -> None:
        if not lower:
            return
        same = len(text) == len(lower)
        for pattern in (_RETRY_TEXT, _EPOCH_TEXT):
            for match in pattern.finditer(lower):
                phrase = text[match.start() : match.end()] if same else match.group(0)
                source = f"message '{phrase.strip()}'"
                if pattern is _RETRY_TEXT:
                    self.after(_text_duration(match.group(1)), source)
                else:
                    self.at(_epoch(match.group(1)), source)


def _seconds(value: float) -> timedelta | None:
    try:
        return timedelta(seconds=value)
    except OverflowError:
        return None


def _message_status(message: str) -> tuple[int | None, int]:
    """A status from a well-formed message prefix, and where the rest of the message starts."""
    match = _STATUS_PREFIX.match(message) or _API_ERROR_PREFIX.match(message)
    if match is None:
        return None, 0
    return int(match.group(1)), match.end()


def parse_error(info: ErrorInfo, now: datetime) -> ParsedError:
    """Extract everything rules need from ``info`` once. Never raises on odd input."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    c = _Collector(now)
    message = _as_text(info.message)[:_JSON_LIMIT]

    status = _as_status(info.status)
    status_source: str | None = "status" if status is not None else None
    prefix_status, rest = _message_status(message)
    if status is None and prefix_status is not None:
        status, status_source = prefix_status, "message prefix"

    c.type(info.type, "type")
    c.code(info.code, "code")
    lead = _LEAD_IDENT.match(message, rest)
    if lead:
        c.type(lead.group(1), "message prefix")

    body = info.body
    raw_text = ""
    if isinstance(body, bytes | bytearray):
        body = _as_text(body)
    if isinstance(body, str):
        stripped = body.strip()
        parsed = None
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):
                parsed = None
        if isinstance(parsed, dict | list):
            body = parsed
        else:
            raw_text, body = stripped, None
    mapping = _unwrap(body)
    body_source: str | None = "body" if mapping is not None else None
    if mapping is None and ("{" in message or "[" in message):
        mapping = _unwrap(_json_in(message))
        body_source = "message JSON" if mapping is not None else None
    if mapping is not None:
        c.body(mapping, body_source or "body")
    if status is None and c.body_status is not None:
        status, status_source = c.body_status, "body"

    headers = _lower_headers(info.headers)
    for name, value in c.body_headers.items():
        headers.setdefault(name, value)
    c.headers(headers)

    # the message first, then the body's own message fields, each capped, so a long message never hides them
    text = "\n".join(t[:_TEXT_LIMIT] for t in (message, *c.texts, raw_text) if t)[: 2 * _TEXT_LIMIT]
    lower = text.lower()
    c.text_retry(text, lower)

    return ParsedError(
        status=status,
        status_source=status_source,
        headers=headers,
        body=mapping,
        body_source=body_source,
        types=c.types,
        codes=c.codes,
        reasons=c.reasons,
        reason_metadata=tuple(c.metadata),
        quota_ids=tuple(c.quota_ids),
        text=text,
        lower=lower,
        retry=tuple(c.retry),
    )


# ---------------------------------------------------------------------------------------------
# Shared rule helpers (also used by provider_rules)


def quota_text(parsed: ParsedError) -> str | None:
    """The phrase saying the quota is used up ("usage limit", "out of extra usage", …), or None.

    "check quota" and "quota will reset" do not count.
    """
    return parsed.search(_QUOTA_TEXT)


def rate_text(parsed: ParsedError) -> str | None:
    """The phrase saying the request was rate-limited ("rate limit", "too many requests", …), or None."""
    return parsed.search(_RATE_TEXT)


def _per_window(parsed: ParsedError) -> str | None:
    """The quota window Google metadata names ("day" or "minute"), else None."""
    values = list(parsed.quota_ids)
    for meta in parsed.reason_metadata:
        values.extend(v for k, v in meta.items() if k.lower() in ("quota_limit", "quotalimit", "quotaid"))
    joined = " ".join(values).lower()
    if "perday" in joined or "per_day" in joined:
        return "day"
    if "perminute" in joined or "per_minute" in joined:
        return "minute"
    return None


_GOOGLE_REASONS: tuple[tuple[str, ErrorKind], ...] = (
    ("quota_exhausted", "quota_exhausted"),
    ("insufficient_g1_credits_balance", "quota_exhausted"),
    ("model_capacity_exhausted", "overloaded"),
    ("model_capacity_exceeded", "overloaded"),
    ("rate_limit_exceeded", "rate_limit"),
)


def google_reason_rule(parsed: ParsedError, tag: str = "") -> tuple[ErrorKind, str] | None:
    """Google ``ErrorInfo`` reasons and ``QuotaFailure`` windows.

    ``QUOTA_EXHAUSTED`` / ``INSUFFICIENT_G1_CREDITS_BALANCE`` → quota_exhausted;
    ``MODEL_CAPACITY_EXHAUSTED`` / ``_EXCEEDED`` → overloaded; ``RATE_LIMIT_EXCEEDED`` →
    rate_limit; ``QUOTA_EXCEEDED`` → rate_limit for a per-minute quota, else quota_exhausted;
    without a reason, a ``QuotaFailure`` naming a per-day quota → quota_exhausted, per-minute →
    rate_limit.
    """
    suffix = f" ({tag})" if tag else ""
    label = parsed.status_label()
    reasons = parsed.reasons
    for name, kind in _GOOGLE_REASONS:
        if name in reasons:
            return kind, f"{label} with ErrorInfo.reason {name.upper()}{suffix}"
    window = _per_window(parsed)
    if "quota_exceeded" in reasons:
        kind: ErrorKind = "rate_limit" if window == "minute" else "quota_exhausted"
        return kind, f"{label} with ErrorInfo.reason QUOTA_EXCEEDED (per-{window or 'period'} quota){suffix}"
    if window is not None and parsed.quota_ids:
        kind = "quota_exhausted" if window == "day" else "rate_limit"
        return kind, f"{label} with a QuotaFailure on a per-{window} quota{suffix}"
    return None


# Generic structured identifiers, most specific kind first.
_GENERIC_IDS: tuple[tuple[ErrorKind, tuple[str, ...]], ...] = (
    (
        "context_overflow",
        ("context_length_exceeded", "context_window_exceeded", "model_context_window_exceeded"),
    ),
    (
        "quota_exhausted",
        (
            "insufficient_quota", "quota_exceeded", "quota_exhausted", "usage_limit_reached",
            "usage_not_included", "billing_hard_limit_reached", "insufficient_g1_credits_balance",
        ),
    ),
    (
        "overloaded",
        ("overloaded_error", "overloaded", "model_capacity_exhausted", "model_capacity_exceeded",
         "server_overloaded", "unavailable", "service_unavailable"),
    ),
    ("rate_limit", ("rate_limit_error", "rate_limit_exceeded", "rate_limited", "too_many_requests",
                    "resource_exhausted")),
    (
        "auth",
        ("authentication_error", "permission_error", "invalid_api_key", "unauthorized", "unauthenticated",
         "permission_denied", "invalid_grant", "token_expired"),
    ),
)  # fmt: skip


def _generic_structured(parsed: ParsedError) -> tuple[ErrorKind, str] | None:
    """Rule tier 3: Google reasons, well-known types/codes, then the HTTP status."""
    hit = google_reason_rule(parsed)
    if hit is not None:
        return hit
    label = parsed.status_label()
    for kind, names in _GENERIC_IDS:
        found = parsed.find(names)
        if found is None:
            continue
        name, where = found
        reason = f"{label} with {where} {name}"
        if kind == "rate_limit":
            phrase = quota_text(parsed)
            if phrase:
                return "quota_exhausted", f"{reason}; the text says the quota is used up ('{phrase}')"
        return kind, reason
    status = parsed.status
    if status is None:
        return None
    if status == 429:
        phrase = quota_text(parsed)
        if phrase:
            return "quota_exhausted", f"HTTP 429; the text says the quota is used up ('{phrase}')"
        return "rate_limit", "HTTP 429"
    if status == 402:
        return "quota_exhausted", "HTTP 402 (payment required)"
    if status == 401:
        return "auth", "HTTP 401"
    if status == 403:
        phrase = rate_text(parsed)
        if phrase:
            return "rate_limit", f"HTTP 403 with a rate-limit text ('{phrase}')"
        phrase = quota_text(parsed)
        if phrase:
            return "quota_exhausted", f"HTTP 403; the text says the quota is used up ('{phrase}')"
        return "auth", "HTTP 403"
    if status in (503, 529):
        return "overloaded", f"HTTP {status}"
    if status >= 500:
        return "other", f"HTTP {status} (server error; the caller's own retry handles it)"
    return None


_MESSAGE_RULES: tuple[tuple[re.Pattern[str], ErrorKind, str], ...] = (
    (_ABORT_TEXT, "other", "request aborted"),
    (_CONTEXT_TEXT, "context_overflow", "context overflow"),
    (_AUTH_TEXT, "auth", "authentication"),
    (_QUOTA_TEXT, "quota_exhausted", "quota used up"),
    (_OVERLOADED_TEXT, "overloaded", "overloaded"),
    (_RATE_TEXT, "rate_limit", "rate limit"),
    (_PLAIN_FAILURE_TEXT, "other", "not a limit"),
)


def _message_rule(parsed: ParsedError) -> tuple[ErrorKind, str] | None:
    """Rule tier 4: message patterns, in a fixed order (abort and context overflow first)."""
    for pattern, kind, what in _MESSAGE_RULES:
        phrase = parsed.search(pattern)
        if phrase:
            return kind, f"{parsed.status_label()}; message says '{phrase}' ({what})"
    return None


# ---------------------------------------------------------------------------------------------
# The classifier


class Classifier:
    """Classifies provider errors with policy rules, provider rules, generic rules, then patterns.

    ``provider_rules`` maps a base provider to its rules; by default the built-in rules of the
    five base providers (:data:`policy_engine.provider_rules.BUILTIN_PROVIDER_RULES`).
    """

    def __init__(
        self,
        policy_rules: Sequence[PolicyErrorRule] = (),
        provider_rules: Mapping[str, Sequence[ProviderRule]] | None = None,
    ) -> None:
        if provider_rules is None:
            from policy_engine.provider_rules import BUILTIN_PROVIDER_RULES

            provider_rules = BUILTIN_PROVIDER_RULES
        self.policy_rules: tuple[PolicyErrorRule, ...] = tuple(policy_rules)
        self.provider_rules: dict[str, tuple[ProviderRule, ...]] = {
            base: tuple(rules) for base, rules in provider_rules.items()
        }

    def classify(self, info: ErrorInfo, now: datetime) -> Classification:
        """Classify one error at ``now`` (an aware datetime; a naive one is taken as UTC)."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        parsed = parse_error(info, now)
        retry = list(parsed.retry)
        rotate: bool | None = None
        decision: tuple[ErrorKind, str] | None = None
        for index, rule in enumerate(self.policy_rules, start=1):
            if rule.matches(info, parsed):
                decision = rule.kind, f"policy errorRules[{index}] ({rule.describe()})"
                rotate = rule.rotate
                if rule.retry_after is not None and rule.retry_after <= MAX_RETRY_DELAY:
                    retry.append((now + rule.retry_after, f"policy errorRules[{index}] retryAfter"))
                break
        if decision is None:
            decision = self._provider_rule(info, parsed)
        if decision is None:
            decision = _generic_structured(parsed) or _message_rule(parsed)
        if decision is None:
            decision = "other", f"{parsed.status_label()}; no rule recognised this error"
        retry_at: datetime | None = None
        retry_source: str | None = None
        for moment, source in retry:
            if retry_at is None or moment > retry_at:
                retry_at, retry_source = moment, source
        if retry_at is not None:
            retry_at = retry_at.astimezone(now.tzinfo)
        kind, reason = decision
        return Classification(kind=kind, retry_at=retry_at, reason=reason, retry_source=retry_source, rotate=rotate)

    def _provider_rule(self, info: ErrorInfo, parsed: ParsedError) -> tuple[ErrorKind, str] | None:
        """Rule tier 2: the provider family's own rules; a rule that raises is logged and skipped."""
        for rule in self.provider_rules.get(info.base, ()):
            try:
                result = rule(info, parsed)
            except Exception:
                _log.warning("error rule %r for %s raised; skipped", rule, info.base, exc_info=True)
                continue
            if result is None:
                continue
            if (
                isinstance(result, tuple)
                and len(result) == 2
                and result[0] in ERROR_KINDS
                and isinstance(result[1], str)
            ):
                return result
            _log.warning("error rule %r for %s returned %r, not (kind, reason); skipped", rule, info.base, result)
        return None


_DEFAULT: Classifier | None = None


def classify(info: ErrorInfo, now: datetime) -> Classification:
    """Classify with the default :class:`Classifier` (built-in provider rules, no policy rules)."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = Classifier()
    return _DEFAULT.classify(info, now)

"""The data of error classification: kinds, limits, the error as seen, what was parsed, the verdict.

:class:`ErrorInfo` is what the caller saw, :class:`ParsedError` what :func:`~policy_engine.classify.parse_error`
extracted from it once, :class:`Classification` the verdict; :data:`ProviderRule` is the shape of a
provider family's rule.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import field
from datetime import datetime, timedelta
from typing import Any, Literal, get_args

from policy_engine.common.records import dataclass

ErrorKind = Literal["rate_limit", "quota_exhausted", "overloaded", "auth", "context_overflow", "other"]
ERROR_KINDS: tuple[ErrorKind, ...] = get_args(ErrorKind)
ROTATION_KINDS: frozenset[ErrorKind] = frozenset({"rate_limit", "quota_exhausted", "overloaded"})
"""Kinds that move a turn to another account unless a policy rule says otherwise."""

MAX_RETRY_DELAY = timedelta(days=31)
"""Retry/reset moments further away than this are ignored as absurd."""


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
    every sane retry/reset moment as ``(moment, source)``, in discovery order; ``retry_absolute``
says whether any absolute moment was seen (whether it counts depends on the time of parsing).
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
    retry_absolute: bool = False  # an absolute retry/reset moment was seen (counted or not, by ``now``)

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

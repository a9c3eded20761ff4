"""Policy error rules: one item of a policy's ``errorRules``, the first tier of classification."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from policy_engine.classify.model import ERROR_KINDS, ErrorInfo, ErrorKind, ParsedError
from policy_engine.classify.readers import _ident
from policy_engine.classify.rule_patterns import RulePattern, RulePatternError, compile_rule_pattern
from policy_engine.common.durations import DurationError, parse_duration
from policy_engine.common.records import dataclass


@dataclass(frozen=True)
class PolicyErrorRule:
    """One item of a policy's ``errorRules``; it matches when all the fields it gives match.

    ``provider`` matches the account name or its base; ``status`` the status; ``type`` any
    structured type found (caller's ``type``, ``error.type``, a Google ``error.status``, a
    ``snake_case:`` message prefix); ``code`` any code or Google ``ErrorInfo`` reason; ``match`` is
    searched (case-insensitively, by RE2 in linear time: :mod:`~policy_engine.classify.rule_patterns`)
    in the message and the body's message fields.
    """

    kind: ErrorKind
    provider: str | None = None
    status: frozenset[int] | None = None
    type: str | None = None
    code: str | None = None
    match: RulePattern | None = None
    rotate: bool | None = None
    retry_after: timedelta | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> PolicyErrorRule:
        """Build from one schema-valid ``errorRules`` item; raises ``ValueError`` on bad values.

        A ``match`` RE2 cannot take raises :class:`~policy_engine.classify.rule_patterns.RulePatternError`
        (a ``ValueError`` with a ``hint``); validation reports the same problem first, located.
        """
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
        match: RulePattern | None = None
        if raw.get("match") is not None:
            try:
                match = compile_rule_pattern(str(raw["match"]))
            except RulePatternError as exc:
                raise RulePatternError(f"errorRules: match {raw['match']!r}: {exc.message}", exc.hint) from None
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
        return self.match is None or self.match.search(parsed.text)

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

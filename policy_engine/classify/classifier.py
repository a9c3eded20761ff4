"""The classifier: policy rules, provider rules, generic rules, then message patterns; first opinion wins."""

from __future__ import annotations

import json
import logging
from collections.abc import Hashable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from policy_engine.classify.generic_rules import _generic_structured, _message_rule
from policy_engine.classify.model import (
    ERROR_KINDS,
    MAX_RETRY_DELAY,
    Classification,
    ErrorInfo,
    ErrorKind,
    ParsedError,
    ProviderRule,
)
from policy_engine.classify.parsing import parse_error
from policy_engine.classify.policy_rules import PolicyErrorRule
from policy_engine.classify.provider_rules import BUILTIN_PROVIDER_RULES

_log = logging.getLogger("policy_engine.classify")  # the name it had before the package split
_CACHE_SIZE = 1024  # error shapes remembered per classifier


class _Verdict:
    """A cached classification, independent of the time: the kind, the reason, and the retry as a delay."""

    __slots__ = ("delay", "kind", "reason", "rotate", "source")

    def __init__(self, kind: ErrorKind, reason: str, rotate: bool | None, delay: timedelta | None,
                 source: str | None) -> None:
        self.kind, self.reason, self.rotate, self.delay, self.source = kind, reason, rotate, delay, source

    def at(self, now: datetime) -> Classification:
        retry_at = None
        if self.delay is not None:  # an instant (UTC arithmetic), shown in now's zone as the full path does
            retry_at = now + self.delay if now.tzinfo is UTC else (now.astimezone(UTC) + self.delay).astimezone(
                now.tzinfo)
        return Classification(kind=self.kind, retry_at=retry_at, reason=self.reason, retry_source=self.source,
                              rotate=self.rotate)


def _shape(info: ErrorInfo) -> Hashable | None:
    """A hashable key for everything the rules read from ``info``, or None when it has none (odd input)."""
    body: Any = info.body
    if body is not None and not isinstance(body, str | bytes):
        try:
            body = ("json", json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True))
        except (TypeError, ValueError, RecursionError):
            return None
    try:
        headers = tuple(sorted(info.headers.items())) if info.headers else ()
        key = (info.provider, info.base, info.status, info.type, info.code, info.message, headers, body)
        hash(key)
    except (TypeError, AttributeError):
        return None
    return key


class Classifier:
    """Classifies provider errors with policy rules, provider rules, generic rules, then patterns.

    ``provider_rules`` maps a base provider to its rules; by default the built-in rules of the
    five base providers (:data:`~policy_engine.classify.provider_rules.BUILTIN_PROVIDER_RULES`).
    """

    def __init__(
        self,
        policy_rules: Sequence[PolicyErrorRule] = (),
        provider_rules: Mapping[str, Sequence[ProviderRule]] | None = None,
    ) -> None:
        if provider_rules is None:
            provider_rules = BUILTIN_PROVIDER_RULES
        self.policy_rules: tuple[PolicyErrorRule, ...] = tuple(policy_rules)
        self.provider_rules: dict[str, tuple[ProviderRule, ...]] = {
            base: tuple(rules) for base, rules in provider_rules.items()
        }
        # Bases whose rules are all built in (pure functions of the error): their verdicts are cached
        # by error shape. A plugin's rules may do anything, so they run every time.
        builtin = {id(rule) for rules in BUILTIN_PROVIDER_RULES.values() for rule in rules}
        self._pure = frozenset(base for base, rules in self.provider_rules.items()
                               if all(id(rule) in builtin for rule in rules))
        self._cache: dict[Hashable, _Verdict] = {}

    def classify(self, info: ErrorInfo, now: datetime) -> Classification:
        """Classify one error at ``now`` (an aware datetime; a naive one is taken as UTC).

        The verdict on an error of the built-in providers is remembered by the error's shape (every
        field of ``info``) unless it carries an absolute retry/reset time, whose use depends on
        ``now``; retry delays are kept relative and added to ``now`` again.
        """
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        key = _shape(info) if info.base in self._pure or info.base not in self.provider_rules else None
        if key is not None:
            verdict = self._cache.get(key)
            if verdict is not None:
                return verdict.at(now)
        classification, parsed = self._classify(info, now)
        if key is not None and not parsed.retry_absolute:
            if len(self._cache) >= _CACHE_SIZE:
                self._cache.clear()
            delay = None if classification.retry_at is None else classification.retry_at - now
            self._cache[key] = _Verdict(classification.kind, classification.reason, classification.rotate, delay,
                                        classification.retry_source)
        return classification

    def _classify(self, info: ErrorInfo, now: datetime) -> tuple[Classification, ParsedError]:
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
        return Classification(kind=kind, retry_at=retry_at, reason=reason, retry_source=retry_source,
                              rotate=rotate), parsed

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

"""The classifier: policy rules, provider rules, generic rules, then message patterns; first opinion wins."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

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

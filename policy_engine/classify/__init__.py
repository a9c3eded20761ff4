"""Error classification: what kind of failure a provider error is, and how long it lasts.

One provider error (HTTP status, structured type/code, message, headers, body) becomes a
:class:`Classification`: a kind, the latest retry/reset moment the error carries, and why.

Order of decision (the first rule with an opinion wins):

1. the policy's ``errorRules``, in document order (:class:`PolicyErrorRule`);
2. the provider family's own rules (:mod:`policy_engine.classify.provider_rules`, or a plugin's): status,
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

# Where each part lives: ``model`` (kinds, constants, ErrorInfo, Classification, ParsedError,
# ProviderRule), ``patterns`` (lazily compiled text patterns), ``readers`` (small value readers
# that never raise), ``retry_times`` (every retry/reset source), ``parsing`` (parse_error),
# ``policy_rules`` (errorRules items), ``generic_rules`` (rule tiers 3 and 4 and the helpers
# provider rules share) and ``classifier`` (Classifier, classify).
# Names are imported on first use, so that a policy's errorRules can be compiled (policy_rules)
# without loading the whole classifier.
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from policy_engine.classify.classifier import Classifier, classify
    from policy_engine.classify.generic_rules import google_reason_rule, quota_text, rate_text
    from policy_engine.classify.model import (
        ERROR_KINDS,
        MAX_RETRY_DELAY,
        ROTATION_KINDS,
        Classification,
        ErrorInfo,
        ErrorKind,
        ParsedError,
        ProviderRule,
    )
    from policy_engine.classify.parsing import parse_error
    from policy_engine.classify.policy_rules import PolicyErrorRule

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

_WHERE = {
    "Classifier": "classifier", "classify": "classifier",
    "google_reason_rule": "generic_rules", "quota_text": "generic_rules", "rate_text": "generic_rules",
    "ERROR_KINDS": "model", "MAX_RETRY_DELAY": "model", "ROTATION_KINDS": "model", "Classification": "model",
    "ErrorInfo": "model", "ErrorKind": "model", "ParsedError": "model", "ProviderRule": "model",
    "parse_error": "parsing", "PolicyErrorRule": "policy_rules",
}


def __getattr__(name: str) -> Any:
    """Import public names on first use."""
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'policy_engine.classify' has no attribute {name!r}")
    return getattr(importlib.import_module(f"policy_engine.classify.{module}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)

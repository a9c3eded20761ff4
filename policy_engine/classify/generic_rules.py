"""The generic rules: structured identifiers and the HTTP status (tier 3), message patterns (tier 4).

Also the helpers provider rules share (:func:`quota_text`, :func:`rate_text`,
:func:`google_reason_rule`), used by :mod:`policy_engine.classify.provider_rules`.
"""

from __future__ import annotations

import re

from policy_engine.classify.model import ErrorKind, ParsedError
from policy_engine.classify.patterns import (
    _ABORT_TEXT,
    _AUTH_TEXT,
    _CONTEXT_TEXT,
    _OVERLOADED_TEXT,
    _PLAIN_FAILURE_TEXT,
    _QUOTA_TEXT,
    _RATE_TEXT,
)


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

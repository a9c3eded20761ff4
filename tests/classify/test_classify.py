"""Error classification: real payloads from the references, traps, policy rules, robustness."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from policy_engine.classify import (
    ERROR_KINDS,
    MAX_RETRY_DELAY,
    ROTATION_KINDS,
    Classification,
    Classifier,
    ErrorInfo,
    PolicyErrorRule,
    classify,
    parse_error,
)
from policy_engine.classify.provider_rules import BASE_PROVIDERS, BUILTIN_PROVIDER_RULES

NOW = datetime(2026, 4, 6, 10, 0, tzinfo=UTC)


def epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def err(provider: str, **kwargs: Any) -> ErrorInfo:
    """An ErrorInfo whose base is the provider name without its -N suffix."""
    base = re.sub(r"-\d+$", "", provider)
    return ErrorInfo(provider=provider, base=base, **kwargs)


@dataclass
class Case:
    id: str
    info: ErrorInfo
    kind: str
    retry_at: datetime | None = None
    now: datetime = NOW
    source: str | None = None  # expected retry_source (exact), when given
    extra: dict[str, Any] = field(default_factory=dict)


def check(case: Case, classifier: Classifier | None = None) -> Classification:
    result = (classifier or Classifier()).classify(case.info, case.now)
    assert result.kind == case.kind, result.reason
    assert result.retry_at == case.retry_at, (result.retry_at, result.retry_source)
    assert result.reason, "every verdict explains itself"
    if case.retry_at is None:
        assert result.retry_source is None
    else:
        assert result.retry_source, "a retry moment names its source"
        if case.source is not None:
            assert result.retry_source == case.source
    return result


# ---------------------------------------------------------------------------------------------
# quota-endpoints.md §1.5 / §5.1 / §5.2: Anthropic

ANTHROPIC_429_BODY = {
    "type": "error",
    "error": {
        "type": "rate_limit_error",
        "message": "This request would exceed your account's rate limit. Please try again later.",
    },
    "request_id": "req_011CTEST",
}
WEEKLY_NOW = epoch(1790730000 - 183600)
WEEKLY_HEADERS = {
    "content-type": "application/json",
    "retry-after": "183600",
    "anthropic-ratelimit-unified-status": "rejected",
    "anthropic-ratelimit-unified-representative-claim": "seven_day",
    "anthropic-ratelimit-unified-reset": "1790730000",
    "anthropic-ratelimit-unified-5h-status": "allowed",
    "anthropic-ratelimit-unified-5h-utilization": "0.31",
    "anthropic-ratelimit-unified-5h-reset": "1790560800",
    "anthropic-ratelimit-unified-7d-status": "rejected",
    "anthropic-ratelimit-unified-7d-utilization": "1.0",
    "anthropic-ratelimit-unified-7d-reset": "1790730000",
    "anthropic-ratelimit-unified-fallback-percentage": "0.5",
    "anthropic-ratelimit-unified-overage-status": "rejected",
    "anthropic-ratelimit-unified-overage-disabled-reason": "out_of_credits",
    "request-id": "req_011CTEST",
}
FIVE_HOUR_HEADERS = {
    "anthropic-ratelimit-unified-status": "rejected",
    "anthropic-ratelimit-unified-representative-claim": "five_hour",
    "anthropic-ratelimit-unified-reset": "1790560800",
    "anthropic-ratelimit-unified-5h-status": "rejected",
    "anthropic-ratelimit-unified-5h-utilization": "1.0",
    "anthropic-ratelimit-unified-5h-reset": "1790560800",
    "anthropic-ratelimit-unified-7d-status": "allowed",
    "anthropic-ratelimit-unified-7d-reset": "1790730000",
}

ANTHROPIC_CASES = [
    Case("1.5 429 rate_limit_error, no headers", err("anthropic", status=429, body=ANTHROPIC_429_BODY), "rate_limit"),
    Case(
        "5.2 weekly limit: unified rejected, retry-after and 7d reset agree",
        err("anthropic-2", status=429, headers=WEEKLY_HEADERS, body=ANTHROPIC_429_BODY),
        "quota_exhausted",
        epoch(1790730000),
        now=WEEKLY_NOW,
        source="header retry-after",
    ),
    Case(
        "5.2 five-hour limit: only the rejected window's reset counts (7d reset is later)",
        err("anthropic", status=429, headers=FIVE_HOUR_HEADERS, body=ANTHROPIC_429_BODY),
        "quota_exhausted",
        epoch(1790560800),
        now=WEEKLY_NOW,
        source="header anthropic-ratelimit-unified-reset",
    ),
    Case(
        "5.2 reset later than retry-after: the latest wins",
        err("anthropic", status=429, headers={**FIVE_HOUR_HEADERS, "retry-after": "60"}, body=ANTHROPIC_429_BODY),
        "quota_exhausted",
        epoch(1790560800),
        now=WEEKLY_NOW,
    ),
    Case(
        "5.2 7d_oi (model-scoped) window rejected",
        err(
            "anthropic",
            status=429,
            headers={
                "anthropic-ratelimit-unified-status": "allowed",
                "anthropic-ratelimit-unified-7d_oi-status": "rejected",
                "anthropic-ratelimit-unified-7d_oi-reset": "1790560800",
            },
            body=ANTHROPIC_429_BODY,
        ),
        "quota_exhausted",
        epoch(1790560800),
        now=WEEKLY_NOW,
        source="header anthropic-ratelimit-unified-7d_oi-reset",
    ),
    Case(
        "429 with unified status allowed is a plain rate limit; the allowed window's reset is ignored",
        err(
            "anthropic",
            status=429,
            headers={
                "anthropic-ratelimit-unified-status": "allowed",
                "anthropic-ratelimit-unified-reset": "1790560800",
                "retry-after": "30",
            },
            body=ANTHROPIC_429_BODY,
        ),
        "rate_limit",
        WEEKLY_NOW + timedelta(seconds=30),
        now=WEEKLY_NOW,
    ),
    Case(
        "1.5 400 out of extra usage",
        err(
            "anthropic",
            status=400,
            body={
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "You're out of extra usage. Add more at claude.ai/settings/usage and keep going.",
                },
            },
        ),
        "quota_exhausted",
    ),
    Case(
        "1.5 400 third-party apps draw from extra usage",
        err(
            "anthropic",
            status=400,
            body={
                "type": "error",
                "error": {
                    "type": "invalid_request_error",
                    "message": "Third-party apps now draw from your extra usage, not your plan limits. "
                    "Add more at claude.ai/settings/usage.",
                },
            },
        ),
        "quota_exhausted",
    ),
    Case(
        "1.5 429 extra usage required for long context",
        err(
            "anthropic",
            status=429,
            body={
                "type": "error",
                "error": {
                    "type": "rate_limit_error",
                    "message": "Extra usage is required for long context requests.",
                },
            },
        ),
        "quota_exhausted",
    ),
    Case(
        "5.1 usage endpoint 429 (no top-level type) with Retry-After: 300",
        err(
            "anthropic",
            status=429,
            headers={"Retry-After": "300"},
            body={"error": {"message": "Rate limited. Please try again later.", "type": "rate_limit_error"}},
        ),
        "rate_limit",
        NOW + timedelta(minutes=5),
        source="header retry-after",
    ),
    Case(
        "1.1 usage endpoint 429 with retry-after: 0 (retry now)",
        err(
            "anthropic",
            status=429,
            headers={"retry-after": "0"},
            body={"error": {"message": "Rate limited. Please try again later.", "type": "rate_limit_error"}},
        ),
        "rate_limit",
        NOW,
    ),
    Case(
        "1.1 403 permission_error scope",
        err(
            "anthropic",
            status=403,
            body={
                "type": "error",
                "error": {
                    "type": "permission_error",
                    "message": "OAuth token does not meet scope requirement user:profile",
                    "details": {"error_visibility": "user_facing"},
                },
                "request_id": "req_011CTEST",
            },
        ),
        "auth",
    ),
    Case(
        "5.1 401 authentication_error expired",
        err(
            "anthropic",
            status=401,
            body={
                "type": "error",
                "error": {
                    "type": "authentication_error",
                    "message": "OAuth token has expired. Please obtain a new token or refresh your existing token.",
                },
                "request_id": "req_011CTEST",
            },
        ),
        "auth",
    ),
    Case(
        "1.1 401 without the beta header",
        err("anthropic", status=401, message="OAuth authentication is currently not supported."),
        "auth",
    ),
    Case(
        "old Claude Code 'usage limit reached|<epoch>'",
        err("anthropic", message="Claude AI usage limit reached|1790560800"),
        "quota_exhausted",
        epoch(1790560800),
        now=WEEKLY_NOW,
    ),
    Case(
        "1.4 standard reset counts only for an exhausted family",
        err(
            "anthropic",
            status=429,
            headers={
                "anthropic-ratelimit-tokens-remaining": "0",
                "anthropic-ratelimit-tokens-reset": "2026-04-06T10:00:40Z",
                "anthropic-ratelimit-requests-remaining": "49",
                "anthropic-ratelimit-requests-reset": "2026-04-06T10:09:00Z",
            },
            body=ANTHROPIC_429_BODY,
        ),
        "rate_limit",
        datetime(2026, 4, 6, 10, 0, 40, tzinfo=UTC),
        source="header anthropic-ratelimit-tokens-reset",
    ),
]

# ---------------------------------------------------------------------------------------------
# §2: GitHub Copilot

COPILOT_CASES = [
    Case(
        "2.5 402 quota_exceeded",
        err("github-copilot", status=402, body={"error": {"message": "You have no quota", "code": "quota_exceeded"}}),
        "quota_exhausted",
    ),
    Case(
        "2.5 quota_exceeded body without a status",
        err("github-copilot-2", body={"error": {"message": "You have no quota", "code": "quota_exceeded"}}),
        "quota_exhausted",
    ),
    Case("402 alone", err("github-copilot", status=402), "quota_exhausted"),
    *[
        Case(
            f"2.4 token exchange 403 {notification}",
            err(
                "github-copilot",
                status=403,
                body={
                    "error_details": {
                        "message": "No access to GitHub Copilot found.",
                        "notification_id": notification,
                        "title": "Copilot",
                        "url": "https://github.com/settings/copilot",
                    },
                    "message": "Resource not accessible",
                },
            ),
            kind,
        )
        for notification, kind in (
            ("no_copilot_access", "auth"),
            ("subscription_ended", "auth"),
            ("billing_locked", "quota_exhausted"),
        )
    ],
    Case(
        "2.4 GitHub API rate limit (403, status in body as a string)",
        err(
            "github-copilot",
            status=403,
            body={
                "message": "API rate limit exceeded for user ID 1.",
                "documentation_url": "https://docs.github.com/rest/overview/resources-in-the-rest-api#rate-limiting",
                "status": "403",
            },
        ),
        "rate_limit",
    ),
    Case(
        "GitHub rate limit: status read from the body",
        err("github-copilot", body={"message": "API rate limit exceeded for user ID 1.", "status": "403"}),
        "rate_limit",
    ),
]

# ---------------------------------------------------------------------------------------------
# §3 / §5.4: Codex

CODEX_BODY = {
    "error": {
        "type": "usage_limit_reached",
        "message": "The usage limit has been reached",
        "plan_type": "plus",
        "resets_at": 1777936568,
        "eligible_promo": None,
        "resets_in_seconds": 13872,
    }
}
CODEX_NOW = epoch(1777936568 - 13872)
CODEX_HEADERS = {
    "content-type": "application/json",
    "x-codex-active-limit": "codex",
    "x-codex-plan-type": "plus",
    "x-codex-primary-used-percent": "100",
    "x-codex-primary-window-minutes": "300",
    "x-codex-primary-reset-after-seconds": "13873",
    "x-codex-primary-reset-at": "1777936568",
    "x-codex-secondary-used-percent": "80",
    "x-codex-secondary-window-minutes": "10080",
    "x-codex-secondary-reset-after-seconds": "316705",
    "x-codex-secondary-reset-at": "1778239400",
    "x-codex-primary-over-secondary-limit-percent": "0",
    "x-codex-credits-has-credits": "False",
    "x-codex-credits-balance": "0",
    "x-codex-credits-unlimited": "False",
}

CODEX_CASES = [
    Case(
        "3.1 usage_limit_reached body",
        err("openai-codex", status=429, body=CODEX_BODY),
        "quota_exhausted",
        epoch(1777936568),
        now=CODEX_NOW,
    ),
    Case(
        "3.1 resets_in_seconds later than resets_at: the latest wins",
        err("openai-codex", status=429, body=CODEX_BODY),
        "quota_exhausted",
        epoch(1777936568 + 4),
        now=CODEX_NOW + timedelta(seconds=4),
        source="body error.resets_in_seconds",
    ),
    Case(
        "5.4 headers and body: the 80% secondary window is ignored",
        err("openai-codex-2", status=429, headers=CODEX_HEADERS, body=CODEX_BODY),
        "quota_exhausted",
        epoch(1777936568),
        now=CODEX_NOW,
    ),
    Case(
        "5.4 headers alone: a window at 100% means the quota is used up",
        err("openai-codex", status=429, headers=CODEX_HEADERS),
        "quota_exhausted",
        epoch(1777936568),
        now=CODEX_NOW,
        source="header x-codex-primary-reset-at",
    ),
    Case(
        "3.2 extra limit family, reset-after-seconds when reset-at is empty",
        err(
            "openai-codex",
            status=429,
            headers={
                "x-codex-bengalfox-primary-used-percent": "100.0",
                "x-codex-bengalfox-primary-reset-at": "",
                "x-codex-bengalfox-primary-reset-after-seconds": "600",
            },
        ),
        "quota_exhausted",
        NOW + timedelta(minutes=10),
        source="header x-codex-bengalfox-primary-reset-after-seconds",
    ),
    Case(
        "3.1 proxy fixture type rate_limit_error + code usage_limit_reached",
        err("openai-codex", status=429, body={"error": {"type": "rate_limit_error", "code": "usage_limit_reached"}}),
        "quota_exhausted",
    ),
    Case(
        "3.1 SSE wrapper: status and headers inside the body",
        err(
            "openai-codex",
            body={
                "type": "error",
                "status": 429,
                "error": CODEX_BODY["error"],
                "headers": {"x-codex-primary-used-percent": "100", "x-codex-primary-reset-at": "1777936568"},
            },
        ),
        "quota_exhausted",
        epoch(1777936568),
        now=CODEX_NOW,
    ),
    Case(
        "usage_not_included",
        err("openai-codex", status=429, body={"error": {"type": "usage_not_included", "message": "Upgrade"}}),
        "quota_exhausted",
    ),
    Case(
        "structured rate_limit_exceeded is a short rate limit",
        err(
            "openai-codex",
            status=429,
            body={"error": {"code": "rate_limit_exceeded", "message": "Rate limit reached. Try again in 20s."}},
        ),
        "rate_limit",
        NOW + timedelta(seconds=20),
    ),
]

# ---------------------------------------------------------------------------------------------
# §4 / §5.5: Google Cloud Code Assist and Antigravity

GOOGLE_QUOTA_BODY = {
    "error": {
        "code": 429,
        "message": "Individual quota reached. Please upgrade your subscription to increase your limits. "
        "Resets in 9h22m20s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "QUOTA_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "quotaResetTimeStamp": "2026-09-20T21:03:14Z",
                    "quotaResetDelay": "33740.910400305s",
                    "uiMessage": "true",
                    "model": "gemini-3.5-flash",
                },
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "33740.910400305s"},
        ],
    }
}
GOOGLE_QUOTA_RESET = datetime(2026, 9, 20, 21, 3, 14, tzinfo=UTC)
GOOGLE_QUOTA_NOW = GOOGLE_QUOTA_RESET - timedelta(seconds=33740.910400305)
GOOGLE_RATE_BODY = {
    "error": {
        "code": 429,
        "message": "You have exhausted your capacity on this model. Your quota will reset after 0s.",
        "status": "RESOURCE_EXHAUSTED",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "RATE_LIMIT_EXCEEDED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {
                    "model": "gemini-2.5-pro",
                    "quotaResetDelay": "479.417207ms",
                    "quotaResetTimeStamp": "2026-04-20T09:19:49Z",
                    "uiMessage": "true",
                },
            },
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.479417207s"},
        ],
    }
}
GOOGLE_BARE_BODY = {
    "error": {"code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}
}
GOOGLE_CAPACITY_BODY = {
    "error": {
        "code": 503,
        "message": "No capacity available for model claude-sonnet-4-5 on the server",
        "status": "UNAVAILABLE",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "MODEL_CAPACITY_EXHAUSTED",
                "domain": "cloudcode-pa.googleapis.com",
                "metadata": {"model": "claude-sonnet-4-5"},
            }
        ],
    }
}


def google_reason_body(reason: str, metadata: dict[str, str] | None = None, code: int = 429) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": "error",
            "status": "RESOURCE_EXHAUSTED" if code == 429 else "PERMISSION_DENIED",
            "details": [
                {
                    "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                    "reason": reason,
                    "metadata": metadata or {},
                }
            ],
        }
    }


GOOGLE_CASES = [
    Case(
        "5.5 QUOTA_EXHAUSTED: reset timestamp, delay and retryDelay agree",
        err("google-gemini-cli", status=429, body=GOOGLE_QUOTA_BODY),
        "quota_exhausted",
        GOOGLE_QUOTA_RESET,
        now=GOOGLE_QUOTA_NOW,
    ),
    Case(
        "5.5 QUOTA_EXHAUSTED array-wrapped (streaming)",
        err("google-antigravity-2", status=429, body=[GOOGLE_QUOTA_BODY]),
        "quota_exhausted",
        GOOGLE_QUOTA_RESET,
        now=GOOGLE_QUOTA_NOW,
    ),
    Case(
        "5.5 QUOTA_EXHAUSTED array-wrapped as a raw JSON string, no status",
        err(
            "google-gemini-cli",
            body='[{"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": '
            '[{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED"}]}}]',
        ),
        "quota_exhausted",
    ),
    Case(
        "5.5 RATE_LIMIT_EXCEEDED: the reset timestamp is later than the ms delays",
        err("google-gemini-cli", status=429, body=GOOGLE_RATE_BODY),
        "rate_limit",
        datetime(2026, 4, 20, 9, 19, 49, tzinfo=UTC),
        now=datetime(2026, 4, 20, 9, 19, 48, 500000, tzinfo=UTC),
        source="body ErrorInfo quotaResetTimeStamp",
    ),
    Case(
        "5.5 RATE_LIMIT_EXCEEDED: past timestamp ignored, Go 'ms' and protobuf delays read",
        err("google-gemini-cli", status=429, body=GOOGLE_RATE_BODY),
        "rate_limit",
        datetime(2026, 4, 20, 9, 19, 50, 479417, tzinfo=UTC),
        now=datetime(2026, 4, 20, 9, 19, 50, tzinfo=UTC),
    ),
    Case(
        "5.5 bare RESOURCE_EXHAUSTED without details",
        err("google-antigravity", status=429, body=GOOGLE_BARE_BODY),
        "rate_limit",
    ),
    Case(
        "5.5 bare RESOURCE_EXHAUSTED, status read from error.code",
        err("google-gemini-cli", body=GOOGLE_BARE_BODY),
        "rate_limit",
    ),
    Case(
        "5.5 503 UNAVAILABLE MODEL_CAPACITY_EXHAUSTED",
        err("google-antigravity", status=503, body=GOOGLE_CAPACITY_BODY),
        "overloaded",
    ),
    Case(
        "MODEL_CAPACITY_EXHAUSTED on a 429 is still server capacity",
        err("google-antigravity", status=429, body=google_reason_body("MODEL_CAPACITY_EXHAUSTED")),
        "overloaded",
    ),
    Case(
        "4 INSUFFICIENT_G1_CREDITS_BALANCE",
        err("google-antigravity", status=429, body=google_reason_body("INSUFFICIENT_G1_CREDITS_BALANCE")),
        "quota_exhausted",
    ),
    Case(
        "4 QUOTA_EXCEEDED per minute (API-key style)",
        err(
            "google-gemini-cli",
            status=429,
            body=google_reason_body("QUOTA_EXCEEDED", {"quota_limit": "GenerateRequestsPerMinutePerProjectPerModel"}),
        ),
        "rate_limit",
    ),
    Case(
        "4 QUOTA_EXCEEDED per day",
        err(
            "google-gemini-cli",
            status=429,
            body=google_reason_body("QUOTA_EXCEEDED", {"quota_limit": "GenerateRequestsPerDayPerProjectPerModel"}),
        ),
        "quota_exhausted",
    ),
    Case(
        "4 QuotaFailure PerDay without ErrorInfo",
        err(
            "google-gemini-cli",
            status=429,
            body={
                "error": {
                    "code": 429,
                    "status": "RESOURCE_EXHAUSTED",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
                            "violations": [{"quotaId": "GenerateContentRequestsPerDayPerUser"}],
                        }
                    ],
                }
            },
        ),
        "quota_exhausted",
    ),
    Case(
        "4 VALIDATION_REQUIRED (403)",
        err("google-gemini-cli", status=403, body=google_reason_body("VALIDATION_REQUIRED", code=403)),
        "auth",
    ),
    Case(
        "4 older Vertex errors[].reason rateLimitExceeded",
        err(
            "google-gemini-cli",
            status=429,
            body={
                "error": {
                    "code": 429,
                    "message": "Quota",
                    "errors": [{"reason": "rateLimitExceeded", "domain": "global"}],
                }
            },
        ),
        "rate_limit",
    ),
    Case(
        "4 message: capacity exhausted, quota will reset after 161h39m41s",
        err(
            "google-antigravity",
            status=429,
            message="You have exhausted your capacity on this model. Your quota will reset after 161h39m41s.",
        ),
        "rate_limit",
        NOW + timedelta(hours=161, minutes=39, seconds=41),
        source="message 'reset after 161h39m41s'",
    ),
    Case(
        "4 message: individual quota reached, resets in 9h22m20s",
        err(
            "google-gemini-cli",
            message="Cloud Code Assist API error (429): Individual quota reached. Please upgrade your "
            "subscription to increase your limits. Resets in 9h22m20s.",
        ),
        "quota_exhausted",
        NOW + timedelta(hours=9, minutes=22, seconds=20),
    ),
    Case(
        "Google error JSON embedded in the message",
        err("google-gemini-cli", message="Cloud Code Assist API error (429): " + json.dumps(GOOGLE_QUOTA_BODY)),
        "quota_exhausted",
        GOOGLE_QUOTA_RESET,
        now=GOOGLE_QUOTA_NOW,
    ),
]

# ---------------------------------------------------------------------------------------------
# pi-multi-pass-behaviour.md §3.2 table: message only, no status, no body

TABLE_ROWS = [
    (
        '429 {"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}',
        "anthropic",
        "rate_limit",
    ),
    (
        "You have hit your ChatGPT usage limit (plus plan). Try again in ~42 min.",
        "openai-codex",
        "quota_exhausted",
    ),
    (
        "Cloud Code Assist API error (429): Resource has been exhausted (e.g. check quota).",
        "google-gemini-cli",
        "rate_limit",
    ),
    ("Cloud Code Assist API error (429): RESOURCE_EXHAUSTED", "google-gemini-cli", "rate_limit"),
    ('529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "anthropic", "overloaded"),
    ("insufficient_quota: You exceeded your current quota", "openai-codex", "quota_exhausted"),
    ("usage_limit_reached", "openai-codex", "quota_exhausted"),
    ("Model is at capacity, try again later", "google-antigravity", "overloaded"),
    ("Context limit reached for this conversation", "anthropic", "context_overflow"),
    ("request_id req_4290abc failed with 400", "anthropic", "other"),
    (
        "400 invalid_request_error: You're out of extra usage. Add more at claude.ai/settings/usage and keep going.",
        "anthropic",
        "quota_exhausted",
    ),
    ("Your credit balance is too low to access the Anthropic API", "anthropic", "quota_exhausted"),
    ("503 Service Unavailable", "anthropic", "overloaded"),
    ("500 Internal Server Error", "anthropic", "other"),
    ("fetch failed", "openai-codex", "other"),
    ("401 authentication_error: OAuth token expired", "anthropic", "auth"),
    ("Request was aborted", "anthropic", "other"),
]


@pytest.mark.parametrize(("message", "provider", "kind"), TABLE_ROWS, ids=[r[0][:50] for r in TABLE_ROWS])
@pytest.mark.parametrize("rules", ["provider rules", "generic only"])
def test_behaviour_table(message: str, provider: str, kind: str, rules: str) -> None:
    classifier = Classifier() if rules == "provider rules" else Classifier(provider_rules={})
    result = classifier.classify(err(provider, message=message), NOW)
    assert result.kind == kind, result.reason
    assert result.reason


def test_table_retry_from_pi_codex_text() -> None:
    result = classify(err("openai-codex", message=TABLE_ROWS[1][0]), NOW)
    assert result.retry_at == NOW + timedelta(minutes=42)
    assert result.retry_source == "message 'Try again in ~42 min'"


# ---------------------------------------------------------------------------------------------
# §7.7 error-classification-check

MUST_ROTATE = [
    ("You're out of extra usage. Add more at claude.ai/settings/usage and keep going.", "quota_exhausted"),
    ("Your credit balance is too low to access the Anthropic API.", "quota_exhausted"),
    ("429 rate_limit_error", "rate_limit"),
    ("You've exceeded your usage limit for this period.", "quota_exhausted"),
    ("Rate limit reached", "rate_limit"),
    ("Too Many Requests", "rate_limit"),
    ("insufficient_quota", "quota_exhausted"),
    ("The server is overloaded, please retry", "overloaded"),
]
MUST_NOT_ROTATE = [
    ("model not found: claude-opus-9", "other"),
    ("401 token expired", "auth"),
    ("ENOENT: no such file or directory, open '/home/u/.pi/agent/auth.json'", "other"),
    ("AbortError: This operation was aborted", "other"),
    ("prompt is too long: 212345 tokens > 200000 maximum", "context_overflow"),
]


@pytest.mark.parametrize(("message", "kind"), MUST_ROTATE)
def test_must_rotate(message: str, kind: str) -> None:
    result = classify(err("anthropic", message=message), NOW)
    assert result.kind == kind, result.reason
    assert result.should_rotate


@pytest.mark.parametrize(("message", "kind"), MUST_NOT_ROTATE)
def test_must_not_rotate(message: str, kind: str) -> None:
    for provider in ("anthropic", "openai-codex", "google-gemini-cli"):
        result = classify(err(provider, message=message), NOW)
        assert result.kind == kind, result.reason
        assert not result.should_rotate


# ---------------------------------------------------------------------------------------------
# Conformance `fail:` steps (errors, cascade, project, preset)

CONFORMANCE_CASES = [
    Case(
        "errors: a full context is not a rate limit",
        err("anthropic", status=400, message="Context limit reached for this conversation"),
        "context_overflow",
    ),
    Case(
        "errors: an id that contains 429 is not a rate limit",
        err("anthropic", status=400, message="request_id req_4290abc failed with 400"),
        "other",
    ),
    Case(
        "errors: an expired token",
        err(
            "anthropic",
            status=401,
            message='401 {"type":"error","error":{"type":"authentication_error","message":"OAuth token has expired"}}',
        ),
        "auth",
    ),
    Case(
        "errors: overloaded",
        err(
            "anthropic",
            status=529,
            message='529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}',
        ),
        "overloaded",
    ),
    Case(
        "errors: a low credit balance",
        err(
            "anthropic",
            status=400,
            message="Your credit balance is too low to access the Anthropic API. "
            "Please go to Plans & Billing to upgrade or purchase credits.",
        ),
        "quota_exhausted",
    ),
    Case(
        "errors: retry-after in seconds",
        err("anthropic", status=429, message="rate_limit_error", headers={"retry-after": "1800"}),
        "rate_limit",
        NOW + timedelta(minutes=30),
        source="header retry-after",
    ),
    Case(
        "errors: a Codex usage limit waits for its reset",
        err(
            "openai-codex",
            status=429,
            message="You have hit your ChatGPT usage limit (plus plan). Try again in ~42 min.",
            body={
                "error": {
                    "type": "usage_limit_reached",
                    "message": "The usage limit has been reached",
                    "plan_type": "plus",
                    "resets_in_seconds": 2520,
                }
            },
        ),
        "quota_exhausted",
        datetime(2026, 4, 6, 10, 42, tzinfo=UTC),
    ),
    Case(
        "errors: a Google retry delay",
        err(
            "google-gemini-cli",
            status=429,
            message="Cloud Code Assist API error (429): Resource has been exhausted (e.g. check quota).",
            body={
                "error": {
                    "code": 429,
                    "status": "RESOURCE_EXHAUSTED",
                    "message": "Resource has been exhausted (e.g. check quota).",
                    "details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "900s"}],
                }
            },
        ),
        "rate_limit",
        datetime(2026, 4, 6, 10, 15, tzinfo=UTC),
        source="body RetryInfo.retryDelay",
    ),
    Case(
        "cascade: 429 with an Anthropic JSON body in the message",
        err(
            "anthropic",
            status=429,
            message='429 {"type":"error","error":{"type":"rate_limit_error","message":"Rate limit reached"}}',
        ),
        "rate_limit",
    ),
    Case("cascade: 429 rate_limit_error", err("anthropic-2", status=429, message="rate_limit_error"), "rate_limit"),
    Case(
        "cascade: Codex usage limit without a retry time",
        err("openai-codex", status=429, message="You have hit your ChatGPT usage limit (plus plan)."),
        "quota_exhausted",
    ),
    Case(
        "cascade: Cloud Code Assist RESOURCE_EXHAUSTED",
        err("google-gemini-cli", status=429, message="Cloud Code Assist API error (429): RESOURCE_EXHAUSTED"),
        "rate_limit",
    ),
    Case(
        "project: message-only Codex usage limit",
        err(
            "openai-codex-2",
            status=429,
            message="You have hit your ChatGPT usage limit (pro plan). Try again in ~42 min.",
        ),
        "quota_exhausted",
        datetime(2026, 4, 6, 10, 42, tzinfo=UTC),
    ),
    Case(
        "preset: out of extra usage",
        err(
            "anthropic-2",
            status=400,
            message="400 invalid_request_error: You're out of extra usage. Add more at claude.ai/settings/usage "
            "and keep going.",
        ),
        "quota_exhausted",
    ),
]

ALL_CASES = ANTHROPIC_CASES + COPILOT_CASES + CODEX_CASES + GOOGLE_CASES + CONFORMANCE_CASES


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_reference_payloads(case: Case) -> None:
    check(case)


def test_conformance_rotation_flags() -> None:
    expected = {
        "errors: a full context is not a rate limit": False,
        "errors: an id that contains 429 is not a rate limit": False,
        "errors: an expired token": False,
        "errors: overloaded": True,
        "errors: a low credit balance": True,
        "errors: a Codex usage limit waits for its reset": True,
    }
    for case in CONFORMANCE_CASES:
        if case.id in expected:
            assert classify(case.info, case.now).should_rotate is expected[case.id], case.id


# ---------------------------------------------------------------------------------------------
# Status handling and traps


@pytest.mark.parametrize(
    ("info", "kind"),
    [
        (err("anthropic", message="Error: 14290 tokens requested"), "other"),
        (err("anthropic", message="Upstream said 429 once"), "other"),
        (err("anthropic", message="HTTP 503 Service Unavailable"), "overloaded"),
        (err("anthropic", message="HTTP/1.1 429 Too Many Requests"), "rate_limit"),
        (err("anthropic", message="502 Bad Gateway"), "other"),
        (err("anthropic", status=500, message="server is overloaded"), "other"),
        (err("anthropic", status=500, body={"type": "error", "error": {"type": "overloaded_error"}}), "overloaded"),
        (err("anthropic", status=403, message="Request forbidden"), "auth"),
        (err("anthropic", status=408, message="Request timed out"), "other"),
        (err("anthropic", status=404, message="model not found"), "other"),
        (err("openai-codex", status=400, body={"error": {"code": "context_length_exceeded"}}), "context_overflow"),
        (err("openai-codex", message="Your input exceeds the context window of this model."), "context_overflow"),
        (err("anthropic", status=429, message="You've hit your weekly limit"), "quota_exhausted"),
        (err("some-plugin", status=429, message="Too Many Requests"), "rate_limit"),
        (err("some-plugin", status=429, message="You exceeded your current quota"), "quota_exhausted"),
        (
            err("anthropic", status=400, message="prompt is too long: 210000 tokens > 200000 maximum"),
            "context_overflow",
        ),
        (
            err("openai-codex", status=400, message="This model's maximum context length is 128000 tokens."),
            "context_overflow",
        ),
        (
            err("github-copilot", status=400, message="prompt token count of 140000 exceeds the limit of 128000"),
            "context_overflow",
        ),
        (
            err(
                "google-gemini-cli",
                message="The input token count (1234567) exceeds the maximum number of tokens allowed (1048576).",
            ),
            "context_overflow",
        ),
        (err("openai-codex", message="Unauthorized - log in again"), "auth"),
        (err("google-gemini-cli", message="Cloud Code Assist API error (403): PERMISSION_DENIED"), "auth"),
        (err("google-gemini-cli", message="Cloud Code Assist API error (400): Invalid JSON payload"), "other"),
        (
            err("anthropic", message="You've hit your session limit · resets 5:40pm (America/Chicago)"),
            "quota_exhausted",
        ),
        (err("github-copilot", message="You have no quota"), "quota_exhausted"),
    ],
)
def test_status_and_traps(info: ErrorInfo, kind: str) -> None:
    result = classify(info, NOW)
    assert result.kind == kind, result.reason


def test_status_is_taken_from_a_prefix_only() -> None:
    assert parse_error(err("anthropic", message="request_id req_4290abc failed with 400"), NOW).status is None
    assert parse_error(err("anthropic", message="14290 tokens"), NOW).status is None
    assert parse_error(err("anthropic", message="429 {}"), NOW).status == 429
    parsed = parse_error(err("google-gemini-cli", message="Cloud Code Assist API error (503): UNAVAILABLE"), NOW)
    assert (parsed.status, parsed.status_source) == (503, "message prefix")
    # an explicit status wins over the prefix
    assert parse_error(err("anthropic", status=400, message="429 {}"), NOW).status == 400


def test_message_json_is_not_parsed_without_brackets(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(text: str) -> None:
        raise AssertionError("JSON parsing should not run")

    import policy_engine.classify.parsing as parsing_module

    monkeypatch.setattr(parsing_module, "_json_in", boom)
    assert classify(err("anthropic", status=429, message="rate_limit_error"), NOW).kind == "rate_limit"
    # and a given body means the message is not searched for JSON
    info = err("anthropic", status=429, message='429 {"error": {}}', body=ANTHROPIC_429_BODY)
    assert classify(info, NOW).kind == "rate_limit"


def test_given_body_wins_over_message_json() -> None:
    info = err(
        "anthropic",
        message='429 {"type":"error","error":{"type":"rate_limit_error"}}',
        body={"type": "error", "error": {"type": "overloaded_error"}},
    )
    assert classify(info, NOW).kind == "overloaded"


# ---------------------------------------------------------------------------------------------
# Retry sources


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "120"}, NOW + timedelta(seconds=120)),
        ({"RETRY-AFTER": "120"}, NOW + timedelta(seconds=120)),
        ({"retry-after": "Mon, 06 Apr 2026 10:30:00 GMT"}, datetime(2026, 4, 6, 10, 30, tzinfo=UTC)),
        ({"Retry-After-Ms": "1500"}, NOW + timedelta(seconds=1.5)),
        ({"retry-after": "1.5"}, NOW + timedelta(seconds=1.5)),
        ({"retry-after": "-5"}, None),
        ({"retry-after": str(int(MAX_RETRY_DELAY.total_seconds()) + 1)}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": "Mon, 06 Apr 2026 09:00:00 GMT"}, None),  # already past
        ({"Retry-After": 42}, NOW + timedelta(seconds=42)),  # a non-string value
        ({"Retry-After": ["7"]}, NOW + timedelta(seconds=7)),  # a multi-valued header
        (
            {"Anthropic-Ratelimit-Unified-Status": "Rejected", "ANTHROPIC-RATELIMIT-UNIFIED-RESET": "1775470500"},
            epoch(1775470500),
        ),
        (
            {"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": "1775470500000"},
            epoch(1775470500),
        ),
    ],
)
def test_retry_headers(headers: dict[str, Any], expected: datetime | None) -> None:
    result = classify(err("anthropic", status=429, headers=headers), NOW)
    assert result.kind in ("rate_limit", "quota_exhausted")
    assert result.retry_at == expected
    assert (result.retry_source is None) == (expected is None)


def test_header_list_of_pairs() -> None:
    result = classify(err("anthropic", status=429, headers=[("Retry-After", "5")]), NOW)  # type: ignore[arg-type]
    assert result.retry_at == NOW + timedelta(seconds=5)


@pytest.mark.parametrize(
    ("message", "delta"),
    [
        ("Try again in ~42 min.", timedelta(minutes=42)),
        ("Please try again in 5 minutes", timedelta(minutes=5)),
        ("Resets in 9h22m20s.", timedelta(hours=9, minutes=22, seconds=20)),
        ("Your quota will reset after 161h39m41s.", timedelta(hours=161, minutes=39, seconds=41)),
        ("Rate limited, retry in 30s", timedelta(seconds=30)),
        ("Rate limit reached. Please try again in 1.5s.", timedelta(seconds=1.5)),
        ("Rate limit reached. Please try again in 6ms.", timedelta(milliseconds=6)),
        ("Rate limit reached. Please try again in 7m12s.", timedelta(minutes=7, seconds=12)),
        ("Rate limited. Retrying in 2892 seconds", timedelta(seconds=2892)),
        ("Rate limited. Try again in 1 hour and 30 minutes.", timedelta(hours=1, minutes=30)),
        ("Rate limited. Try again in about 2 hours.", timedelta(hours=2)),
        ("Rate limited. Try again later.", None),
        ("Rate limited. Try again in 45 days.", None),  # absurd
    ],
)
def test_retry_text(message: str, delta: timedelta | None) -> None:
    result = classify(err("anthropic", status=429, message=message), NOW)
    assert result.retry_at == (NOW + delta if delta is not None else None)
    if delta is not None:
        assert result.retry_source and result.retry_source.startswith("message '")


def test_latest_of_all_sources_wins() -> None:
    info = err(
        "openai-codex",
        status=429,
        headers={"retry-after": "60"},
        message="Try again in ~10 min.",
        body={"error": {"type": "usage_limit_reached", "resets_in_seconds": 300}},
    )
    result = classify(info, NOW)
    assert result.retry_at == NOW + timedelta(minutes=10)
    assert result.retry_source == "message 'Try again in ~10 min'"


def test_past_and_absurd_body_values_are_ignored() -> None:
    info = err(
        "openai-codex",
        status=429,
        body={"error": {"type": "usage_limit_reached", "resets_at": 1000, "resets_in_seconds": -3}},
    )
    result = classify(info, NOW)
    assert (result.kind, result.retry_at, result.retry_source) == ("quota_exhausted", None, None)


def test_retry_at_uses_the_clock_zone() -> None:
    vienna_now = NOW.astimezone(timezone(timedelta(hours=2)))
    result = classify(err("anthropic", status=429, headers={"retry-after": "60"}), vienna_now)
    assert result.retry_at == NOW + timedelta(minutes=1)
    assert result.retry_at is not None and result.retry_at.utcoffset() == timedelta(hours=2)


def test_naive_now_is_taken_as_utc() -> None:
    result = classify(err("anthropic", status=429, headers={"retry-after": "60"}), NOW.replace(tzinfo=None))
    assert result.retry_at == NOW + timedelta(minutes=1)


# ---------------------------------------------------------------------------------------------
# Policy rules


def rules(*raw: dict[str, Any]) -> Classifier:
    return Classifier([PolicyErrorRule.from_dict(r) for r in raw])


def test_policy_status_list_overrides_builtin() -> None:
    classifier = rules({"status": [400, 413], "match": "context limit", "kind": "rate_limit"})
    result = classifier.classify(err("anthropic", status=400, message="Context limit reached"), NOW)
    assert result.kind == "rate_limit"
    assert result.reason.startswith("policy errorRules[1]")
    assert "status 400/413" in result.reason
    # another status is not matched: the built-ins decide
    assert classifier.classify(err("anthropic", status=422, message="Context limit reached"), NOW).kind == (
        "context_overflow"
    )


def test_policy_regex_is_case_insensitive_and_searches_body_messages() -> None:
    classifier = rules({"match": "SPEND CAP", "kind": "quota_exhausted"})
    body = {"error": {"type": "invalid_request_error", "message": "Your org hit its spend cap"}}
    assert classifier.classify(err("anthropic", status=400, body=body), NOW).kind == "quota_exhausted"


def test_policy_provider_matches_base_or_account() -> None:
    by_base = rules({"provider": "anthropic", "status": 500, "kind": "overloaded"})
    assert by_base.classify(err("anthropic-2", status=500), NOW).kind == "overloaded"
    assert by_base.classify(err("openai-codex", status=500), NOW).kind == "other"
    by_account = rules({"provider": "anthropic-2", "status": 500, "kind": "overloaded"})
    assert by_account.classify(err("anthropic-2", status=500), NOW).kind == "overloaded"
    assert by_account.classify(err("anthropic-3", status=500), NOW).kind == "other"


def test_policy_rotate_forced() -> None:
    classifier = rules({"status": 401, "kind": "auth", "rotate": True})
    result = classifier.classify(err("anthropic", status=401, message="OAuth token has expired"), NOW)
    assert (result.kind, result.rotate, result.should_rotate) == ("auth", True, True)
    result = rules({"status": 429, "kind": "rate_limit", "rotate": False}).classify(err("anthropic", status=429), NOW)
    assert (result.rotate, result.should_rotate) == (False, False)
    assert classify(err("anthropic", status=429), NOW).rotate is None


def test_policy_retry_after_counts_as_a_source() -> None:
    classifier = rules({"status": 429, "kind": "rate_limit", "retryAfter": "10m"})
    result = classifier.classify(err("anthropic", status=429), NOW)
    assert result.retry_at == NOW + timedelta(minutes=10)
    assert result.retry_source == "policy errorRules[1] retryAfter"
    # a longer retry-after header still wins (the latest moment)
    result = classifier.classify(err("anthropic", status=429, headers={"retry-after": "1800"}), NOW)
    assert result.retry_at == NOW + timedelta(minutes=30)
    assert rules({"kind": "rate_limit", "retryAfter": 90}).classify(err("x", status=429), NOW).retry_at == (
        NOW + timedelta(seconds=90)
    )


def test_policy_type_and_code() -> None:
    by_type = rules({"type": "overloaded_error", "kind": "rate_limit"})
    message = '529 {"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
    assert by_type.classify(err("anthropic", message=message), NOW).kind == "rate_limit"
    by_code = rules({"code": "QUOTA_EXHAUSTED", "kind": "rate_limit"})
    assert by_code.classify(err("google-gemini-cli", status=429, body=GOOGLE_QUOTA_BODY), NOW).kind == "rate_limit"
    caller_type = rules({"type": "my_custom_error", "kind": "overloaded"})
    assert caller_type.classify(err("x", type="my_custom_error"), NOW).kind == "overloaded"


def test_policy_first_match_wins_and_all_fields_must_match() -> None:
    classifier = rules(
        {"provider": "openai-codex", "status": 429, "kind": "overloaded"},
        {"status": 429, "kind": "quota_exhausted"},
    )
    assert classifier.classify(err("anthropic", status=429), NOW).reason.startswith("policy errorRules[2]")
    assert classifier.classify(err("openai-codex", status=429), NOW).kind == "overloaded"


@pytest.mark.parametrize(
    "raw",
    [
        {"kind": "nope"},
        {"kind": "auth", "match": "("},
        {"kind": "auth", "retryAfter": "soon"},
        {"kind": "auth", "status": "429"},
        {"kind": "auth", "status": []},
    ],
)
def test_policy_rule_from_dict_rejects_bad_values(raw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PolicyErrorRule.from_dict(raw)


def test_policy_rule_from_dict_fields() -> None:
    rule = PolicyErrorRule.from_dict(
        {"provider": "anthropic", "status": 429, "type": "t", "code": "c", "match": "x+", "kind": "auth",
         "rotate": True, "retryAfter": "1h30m"}
    )  # fmt: skip
    assert rule.status == frozenset({429})
    assert rule.match is not None and rule.match.pattern == "x+" and rule.match.search("a XX b")
    assert rule.retry_after == timedelta(hours=1, minutes=30)
    assert (rule.provider, rule.type, rule.code, rule.kind, rule.rotate) == ("anthropic", "t", "c", "auth", True)


# ---------------------------------------------------------------------------------------------
# Provider rules mapping


def test_base_providers() -> None:
    assert list(BASE_PROVIDERS.items()) == [
        ("anthropic", "Anthropic (Claude Pro/Max)"),
        ("openai-codex", "ChatGPT Plus/Pro (Codex)"),
        ("github-copilot", "GitHub Copilot"),
        ("google-gemini-cli", "Google Cloud Code Assist"),
        ("google-antigravity", "Antigravity"),
    ]
    assert set(BUILTIN_PROVIDER_RULES) == set(BASE_PROVIDERS)


def test_provider_rules_are_replaceable_and_run_before_generic_rules() -> None:
    info = err("anthropic", status=429, headers=FIVE_HOUR_HEADERS, body=ANTHROPIC_429_BODY)
    assert Classifier().classify(info, WEEKLY_NOW).kind == "quota_exhausted"
    assert Classifier(provider_rules={}).classify(info, WEEKLY_NOW).kind == "rate_limit"

    def plugin_rule(info: ErrorInfo, parsed: Any) -> tuple[str, str] | None:
        return ("overloaded", "HTTP 418 teapot (kiro)") if parsed.status == 418 else None

    classifier = Classifier(provider_rules={"kiro": (plugin_rule,)})
    result = classifier.classify(ErrorInfo(provider="kiro-2", base="kiro", status=418), NOW)
    assert (result.kind, result.reason) == ("overloaded", "HTTP 418 teapot (kiro)")


def test_a_failing_provider_rule_is_skipped() -> None:
    def broken(info: ErrorInfo, parsed: Any) -> None:
        raise RuntimeError("bug")

    classifier = Classifier(provider_rules={"anthropic": (broken,)})
    assert classifier.classify(err("anthropic", status=429), NOW).kind == "rate_limit"


def test_a_malformed_provider_rule_result_is_skipped() -> None:
    def sloppy(info: ErrorInfo, parsed: Any) -> Any:
        return "overloaded"

    classifier = Classifier(provider_rules={"anthropic": (sloppy,)})
    assert classifier.classify(err("anthropic", status=429), NOW).kind == "rate_limit"


def test_openai_style_retry_hint() -> None:
    message = (
        "Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, "
        "Used 29000, Requested 2000. Please try again in 2.5s."
    )
    result = classify(err("openai-codex", status=429, message=message), NOW)
    assert (result.kind, result.retry_at) == ("rate_limit", NOW + timedelta(seconds=2.5))


def test_to_dict() -> None:
    result = classify(err("anthropic", status=429, headers={"retry-after": "60"}), NOW)
    assert result.to_dict() == {
        "kind": "rate_limit",
        "rotate": True,
        "retryAfter": "2026-04-06T10:01:00+00:00",
        "reason": "HTTP 429",
        "retrySource": "header retry-after",
    }
    assert set(ROTATION_KINDS) == {"rate_limit", "quota_exhausted", "overloaded"}


# ---------------------------------------------------------------------------------------------
# Robustness: nothing crashes


WEIRD_BODIES: list[Any] = [
    42,
    [],
    "not json",
    "{broken json",
    "<html><body>502 Bad Gateway</body></html>",
    {"error": "x"},
    {"error": "invalid_grant", "error_description": "Token has been revoked"},
    None,
    {"error": None},
    {"error": {"details": "x", "errors": "y", "message": 5, "code": {"a": 1}}},
    {"error": {"details": [1, None, {"@type": 5}, {"@type": "x.RetryInfo", "retryDelay": {"s": 1}}]}},
    {"error": {"details": [{"reason": ["QUOTA"], "metadata": {"quotaResetDelay": "-5s", "quotaResetTimeStamp": 7}}]}},
    {"error": {"message": '{"error": {"message": "{\\"error\\": {}}"}}'}},
    {"error": {"resets_at": "soon", "resets_in_seconds": float("inf")}},
    {"error": {"resets_at": 1e300, "resets_in_seconds": 1e300}},
    [[]],
    [None, {"error": {"code": "429"}}],
    b'{"error": {"type": "rate_limit_error"}}',
    float("nan"),
    {"status": True, "type": 3, "headers": "x"},
    {1: 2},
]
WEIRD_HEADERS: list[Any] = [
    None,
    {},
    {"retry-after": "soon", "retry-after-ms": "x", "x-codex-primary-used-percent": "lots"},
    {"anthropic-ratelimit-unified-status": "rejected", "anthropic-ratelimit-unified-reset": "tomorrow"},
    {"anthropic-ratelimit-unified-5h-status": "rejected", "anthropic-ratelimit-unified-5h-reset": ""},
    {"x-codex-primary-used-percent": "100", "x-codex-primary-reset-at": "1e400"},
    {"retry-after": "inf", "retry-after-ms": "-1"},
    {"Retry-After": None, None: "x"},
    [("a",), ("b", "c", "d"), "zz"],
    "not headers",
]


@pytest.mark.parametrize("body", WEIRD_BODIES, ids=[repr(b)[:40] for b in WEIRD_BODIES])
def test_no_crash_on_weird_input(body: Any) -> None:
    for headers in WEIRD_HEADERS:
        for status in (None, 0, 429, 999, "429", True):
            for message in ("", "429", "{[", None, 123, "x" * 20000 + " rate limit"):
                info = ErrorInfo(
                    provider="anthropic", base="anthropic", status=status, message=message, headers=headers, body=body
                )
                result = classify(info, NOW)
                assert result.kind in ERROR_KINDS
                assert result.reason
                if result.retry_at is not None:
                    assert NOW <= result.retry_at <= NOW + MAX_RETRY_DELAY


def test_json_nested_past_the_recursion_limit() -> None:
    deep = "[" * 100_000
    assert classify(err("anthropic", status=429, body=deep), NOW).kind == "rate_limit"
    assert classify(err("anthropic", message="429 " + deep), NOW).kind == "rate_limit"


def test_weird_inputs_still_classify_sensibly() -> None:
    assert classify(err("anthropic", status="429"), NOW).kind == "rate_limit"  # type: ignore[arg-type]
    assert classify(err("anthropic", status=502, body="<html>502 Bad Gateway</html>"), NOW).kind == "other"
    bytes_body = b'{"error": {"type": "overloaded_error"}}'
    assert classify(err("anthropic", body=bytes_body), NOW).kind == "overloaded"
    assert classify(err("anthropic", body={"error": "invalid_grant"}), NOW).kind == "auth"
    assert classify(err("anthropic", body="Too Many Requests"), NOW).kind == "rate_limit"
    assert classify(err("anthropic"), NOW).kind == "other"


def test_classification_is_cheap() -> None:
    import time

    infos = [c.info for c in ALL_CASES]
    classifier = Classifier()
    start = time.perf_counter()
    for _ in range(20):
        for info in infos:
            classifier.classify(info, NOW)
    per_call = (time.perf_counter() - start) / (20 * len(infos))
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per classification"


@pytest.mark.parametrize(("value", "after"), [
    ("120, 900", timedelta(seconds=900)),  # the header sent twice, joined as HTTP joins a repeated field
    ("900, 120", timedelta(seconds=900)),
    ("Mon, 06 Apr 2026 11:00:00 GMT, 60", timedelta(hours=1)),  # an HTTP date has a comma of its own
    ("60, Mon, 06 Apr 2026 11:00:00 GMT", timedelta(hours=1)),
    ("Mon, 06 Apr 2026 10:30:00 GMT, Mon, 06 Apr 2026 10:20:00 GMT", timedelta(minutes=30)),
    ("120, soon", timedelta(seconds=120)),  # a piece that is no time is left out
])
def test_a_repeated_retry_after_counts_its_latest_time(value: str, after: timedelta) -> None:
    result = classify(err("anthropic", status=429, headers={"retry-after": value}), NOW)
    assert result.retry_at == NOW + after and result.retry_source == "header retry-after"

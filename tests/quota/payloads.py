"""Realistic payloads of the providers' quota endpoints, error replies, rate-limit headers and credentials.

Copied from the project's references (``quota-endpoints.md`` §1-§5 and ``pi-multi-pass-behaviour.md``
§2.12, §5, §7.2); a section sign in a comment names the source. Variants change numbers only and say so
in their name. Values marked *illustrative* have the documented shape but no captured wording.

The constants are plain dicts shared by every test: ``copy.deepcopy`` one before changing it.
"""

from __future__ import annotations

import base64
import copy
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provider_server import Recorded, Reply

# ---------------------------------------------------------------------------------------------------
# Codex: GET {CHATGPT_BASE_URL}/wham/usage (behaviour §5.3)
# ---------------------------------------------------------------------------------------------------

#: Window lengths the checker matches (±120 s).
FIVE_HOURS_S = 18_000
SEVEN_DAYS_S = 604_800

#: The reset times of the behaviour §5.3 mock payload (epoch seconds).
CODEX_RESET_5H = 1_775_400_000
CODEX_RESET_7D = 1_775_800_000

#: behaviour §5.3, verbatim: plus plan, 42 % used in 5 h and 12 % used in 7 d (58 % / 88 % left, ready, score 58).
CODEX_USAGE: dict[str, Any] = {
    "plan_type": "plus",
    "email": "dev@example.com",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {"used_percent": 42, "limit_window_seconds": 18000, "reset_after_seconds": 7200,
                           "reset_at": 1775400000},
        "secondary_window": {"used_percent": 12, "limit_window_seconds": 604800, "reset_after_seconds": 400000,
                             "reset_at": 1775800000},
    },
    "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
}

#: behaviour §7.2 ``runWindowClassificationChecks``: primary is the 7-day window (35 % used), secondary the
#: 5-hour one (10 % used); matched by length this gives 5 h 90 % left and 7 d 65 % left.
CODEX_USAGE_SWAPPED: dict[str, Any] = {
    "plan_type": "plus",
    "email": "dev@example.com",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {"used_percent": 35, "limit_window_seconds": 604800, "reset_after_seconds": 400000,
                           "reset_at": 1775800000},
        "secondary_window": {"used_percent": 10, "limit_window_seconds": 18000, "reset_after_seconds": 7200,
                             "reset_at": 1775400000},
    },
    "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
}

#: Free plan (quota-endpoints §3.2: the primary window is the weekly one, the secondary is missing):
#: 30 % used in 7 d, no 5-hour window at all.
CODEX_USAGE_FREE: dict[str, Any] = {
    "plan_type": "free",
    "email": "dev@example.com",
    "rate_limit": {
        "allowed": True,
        "limit_reached": False,
        "primary_window": {"used_percent": 30, "limit_window_seconds": 604800, "reset_after_seconds": 400000,
                           "reset_at": 1775800000},
        "secondary_window": None,
    },
    "credits": {"has_credits": False, "unlimited": False, "balance": "0"},
}

#: behaviour §7.2: ``{}`` is an ``error`` result even with HTTP 200.
CODEX_USAGE_EMPTY: dict[str, Any] = {}


def codex_usage(used_5h: float | None, used_7d: float | None, *, reset_5h: int | None = CODEX_RESET_5H,
                reset_7d: int | None = CODEX_RESET_7D, plan: str = "plus", email: str | None = "dev@example.com",
                swapped: bool = False, now: int | None = None) -> dict[str, Any]:
    """A ``wham/usage`` body in the shape of :data:`CODEX_USAGE` with the given used percentages.

    ``None`` for a percentage leaves that window out (``null``); ``None`` for a reset leaves out
    ``reset_at`` (and ``reset_after_seconds``). ``swapped`` puts the 7-day window first, as
    :data:`CODEX_USAGE_SWAPPED` does; ``reset_after_seconds`` counts from ``now`` (default: the clock).
    Behaviour §7.2 severity cases: (20, 40) ready, (75, 20) watch, (88, 15) low, (97, 10) blocked.
    """
    clock = int(time.time()) if now is None else now

    def window(used: float | None, seconds: int, reset: int | None) -> dict[str, Any] | None:
        if used is None:
            return None
        body: dict[str, Any] = {"used_percent": used, "limit_window_seconds": seconds}
        if reset is not None:
            body["reset_after_seconds"] = max(0, reset - clock)
            body["reset_at"] = reset
        return body

    five, seven = window(used_5h, FIVE_HOURS_S, reset_5h), window(used_7d, SEVEN_DAYS_S, reset_7d)
    primary, secondary = (seven, five) if swapped else (five, seven)
    limit_reached = any(used is not None and used >= 100 for used in (used_5h, used_7d))
    document: dict[str, Any] = {"plan_type": plan}
    if email is not None:
        document["email"] = email
    document["rate_limit"] = {"allowed": not limit_reached, "limit_reached": limit_reached,
                              "primary_window": primary, "secondary_window": secondary}
    document["credits"] = {"has_credits": False, "unlimited": False, "balance": "0"}
    return document


# ---------------------------------------------------------------------------------------------------
# Gemini CLI: POST {MP_POLICY_GEMINI_BASE_URL}/v1internal:retrieveUserQuota (behaviour §5.4)
# ---------------------------------------------------------------------------------------------------

#: behaviour §5.4, verbatim: Pro 82, Flash min(25, 90) = 25, so the bottleneck is 25 (watch).
GEMINI_QUOTA: dict[str, Any] = {"buckets": [
    {"modelId": "gemini-2.5-pro", "tokenType": "REQUESTS", "remainingFraction": 0.82,
     "resetTime": "2026-04-05T12:00:00Z"},
    {"modelId": "gemini-2.5-flash", "tokenType": "REQUESTS", "remainingFraction": 0.25,
     "resetTime": "2026-04-04T18:30:00Z"},
    {"modelId": "gemini-2.5-flash-lite", "tokenType": "REQUESTS", "remainingFraction": 0.90,
     "resetTime": "2026-04-05T00:00:00Z"},
]}

#: behaviour §7.2 ``runGoogleGeminiQuotaParsingChecks``: two "Gemini 2.5 Pro" buckets merge to 61 (the
#: minimum; only the first has a reset), Flash is 25, so the worst is 25.
GEMINI_QUOTA_DUPLICATE_PRO: dict[str, Any] = {"buckets": [
    {"modelId": "Gemini 2.5 Pro", "tokenType": "REQUESTS", "remainingFraction": 0.82,
     "resetTime": "2026-04-05T12:00:00Z"},
    {"modelId": "Gemini 2.5 Flash", "tokenType": "REQUESTS", "remainingFraction": 0.25,
     "resetTime": "2026-04-04T18:30:00Z"},
    {"modelId": "Gemini 2.5 Pro", "tokenType": "REQUESTS", "remainingFraction": 0.61},
]}

#: No buckets: ``error`` with summary "no model quota data returned".
GEMINI_QUOTA_EMPTY: dict[str, Any] = {"buckets": []}

# ---------------------------------------------------------------------------------------------------
# Antigravity: POST {base}/v1internal:fetchAvailableModels, sandbox first, then prod (behaviour §5.5)
# ---------------------------------------------------------------------------------------------------

#: behaviour §5.5, verbatim: the hidden and the internal model drop out; three models, the worst is 42 (ready).
ANTIGRAVITY_MODELS: dict[str, Any] = {"models": {
    "gemini-3-pro-high": {"displayName": "Gemini 3 Pro (High)",
                          "quotaInfo": {"remainingFraction": 0.7, "resetTime": "2026-04-05T10:00:00Z"}},
    "claude-sonnet-4-5": {"displayName": "Claude Sonnet 4.5", "quotaInfo": {"remainingFraction": 0.42}},
    "gemini-3-flash": {"model": "gemini-3-flash",
                       "quotaInfo": {"remainingFraction": 0.88, "resetTime": "2026-04-04T18:30:00Z"}},
    "tab_flash_lite_preview": {"displayName": "tab_flash_lite_preview", "quotaInfo": {"remainingFraction": 0.99}},
    "chat_internal": {"displayName": "Internal", "isInternal": True, "quotaInfo": {"remainingFraction": 0.01}},
}}

#: behaviour §7.2 ``runGoogleAntigravityQuotaParsingChecks``: two models labelled "G3 Pro" merge (0.70 and
#: 0.42 give 42), the label falls back to ``model`` ("G3 Flash", 88), hidden and internal models drop out:
#: two models, the worst is 42.
ANTIGRAVITY_MODELS_MERGE: dict[str, Any] = {"models": {
    "g3-pro-high": {"displayName": "G3 Pro",
                    "quotaInfo": {"remainingFraction": 0.70, "resetTime": "2026-04-05T10:00:00Z"}},
    "g3-pro-low": {"displayName": "G3 Pro", "quotaInfo": {"remainingFraction": 0.42}},
    "g3-flash": {"model": "G3 Flash", "quotaInfo": {"remainingFraction": 0.88, "resetTime": "2026-04-04T18:30:00Z"}},
    "tab_flash_lite_preview": {"displayName": "tab_flash_lite_preview", "quotaInfo": {"remainingFraction": 0.99}},
    "chat_internal": {"displayName": "Internal", "isInternal": True, "quotaInfo": {"remainingFraction": 0.01}},
}}

#: No models at all.
ANTIGRAVITY_MODELS_EMPTY: dict[str, Any] = {"models": {}}

# ---------------------------------------------------------------------------------------------------
# Anthropic: GET {MP_POLICY_ANTHROPIC_BASE_URL}/api/oauth/usage (quota-endpoints §1.1, §1.2, §5.1)
# ---------------------------------------------------------------------------------------------------

#: The beta header the usage endpoint requires (§1.1).
ANTHROPIC_BETA = "oauth-2025-04-20"

#: quota-endpoints §5.1, verbatim: limits[] (session 16, weekly 42 active, Fable weekly 83 warning) and
#: null placeholder keys.
ANTHROPIC_USAGE: dict[str, Any] = {
    "five_hour": {"utilization": 16.0, "resets_at": "2026-09-23T06:40:00.056602+00:00", "limit_dollars": None,
                  "used_dollars": None, "remaining_dollars": None},
    "seven_day": {"utilization": 42.0, "resets_at": "2026-09-27T10:00:00.056629+00:00", "limit_dollars": None,
                  "used_dollars": None, "remaining_dollars": None},
    "seven_day_oauth_apps": None, "seven_day_opus": None, "seven_day_sonnet": {"utilization": 0.0, "resets_at": None},
    "seven_day_cowork": None, "iguana_necktie": None, "tangelo": None,
    "extra_usage": {"is_enabled": True, "monthly_limit": 2000, "used_credits": 763.0, "utilization": 38.15,
                    "currency": "USD", "decimal_places": 2, "disabled_reason": None},
    "limits": [
        {"kind": "session", "group": "session", "percent": 16, "severity": "normal",
         "resets_at": "2026-09-23T06:40:00.056602+00:00", "scope": None, "is_active": False},
        {"kind": "weekly_all", "group": "weekly", "percent": 42, "severity": "normal",
         "resets_at": "2026-09-27T10:00:00.056629+00:00", "scope": None, "is_active": True},
        {"kind": "weekly_scoped", "group": "weekly", "percent": 83, "severity": "warning",
         "resets_at": "2026-09-27T10:00:00.056881+00:00",
         "scope": {"model": {"id": None, "display_name": "Fable"}, "surface": None}, "is_active": False},
    ],
}

#: The older shape (§1.2 keys as typed in CCsrc): no limits[], only the five_hour, seven_day and
#: seven_day_opus windows (utilization is percent used, 0-100).
ANTHROPIC_USAGE_LEGACY: dict[str, Any] = {
    "five_hour": {"utilization": 16.0, "resets_at": "2026-09-23T06:40:00.056602+00:00"},
    "seven_day": {"utilization": 42.0, "resets_at": "2026-09-27T10:00:00.056629+00:00"},
    "seven_day_opus": {"utilization": 7.0, "resets_at": "2026-09-27T10:00:00.056629+00:00"},
}

#: §1.2: ``five_hour`` can be absent, and then ``seven_day`` is the primary window (legacy shape).
ANTHROPIC_USAGE_NO_FIVE_HOUR: dict[str, Any] = {
    key: value for key, value in ANTHROPIC_USAGE_LEGACY.items() if key != "five_hour"
}

# ---------------------------------------------------------------------------------------------------
# Copilot: GET {MP_POLICY_COPILOT_BASE_URL}/copilot_internal/user (quota-endpoints §2, §5.3)
# ---------------------------------------------------------------------------------------------------

#: quota-endpoints §5.3, verbatim: Pro, premium interactions 41 % left (123 of 300), chat and completions unlimited.
COPILOT_USER_PRO: dict[str, Any] = {
    "login": "octocat", "access_type_sku": "plus_monthly_subscriber_quota", "analytics_tracking_id": "0123abcd",
    "assigned_date": "2026-01-30T10:00:46-05:00", "can_signup_for_limited": False, "chat_enabled": True,
    "copilot_plan": "individual_pro", "organization_login_list": [], "organization_list": [],
    "endpoints": {"api": "https://api.individual.githubcopilot.com",
                  "proxy": "https://proxy.individual.githubcopilot.com",
                  "telemetry": "https://telemetry.individual.githubcopilot.com"},
    "codex_agent_enabled": True,
    "quota_reset_date": "2026-10-01",
    "quota_reset_date_utc": "2026-10-01T00:00:00.000Z",
    "quota_snapshots": {
        "chat": {"entitlement": 0, "overage_count": 0, "overage_permitted": False, "percent_remaining": 100,
                 "quota_id": "chat", "quota_remaining": 0, "remaining": 0, "unlimited": True,
                 "timestamp_utc": "2026-09-10T13:40:44.935Z"},
        "completions": {"entitlement": 0, "overage_count": 0, "overage_permitted": False, "percent_remaining": 100,
                        "quota_id": "completions", "quota_remaining": 0, "remaining": 0, "unlimited": True,
                        "timestamp_utc": "2026-09-10T13:40:44.935Z"},
        "premium_interactions": {"entitlement": 300, "overage_count": 0, "overage_permitted": True,
                                 "percent_remaining": 41.0, "quota_id": "premium_interactions",
                                 "quota_remaining": 123.0, "remaining": 123, "unlimited": False,
                                 "timestamp_utc": "2026-09-10T13:40:44.935Z"},
    },
}

#: quota-endpoints §5.3 free-tier variant, verbatim: no quota_snapshots; monthly_quotas is the allowance,
#: limited_user_quotas what is left (chat 410 of 500, completions 3870 of 4000).
COPILOT_USER_FREE: dict[str, Any] = {
    "login": "octocat", "copilot_plan": "individual", "access_type_sku": "free_limited_copilot",
    "monthly_quotas": {"chat": 500, "completions": 4000},
    "limited_user_quotas": {"chat": 410, "completions": 3870},
    "limited_user_reset_date": "2026-10-11",
}

#: quota-endpoints §5.3 over-quota variant: premium interactions below zero (remaining -1, -0.3333 %).
COPILOT_USER_OVER: dict[str, Any] = copy.deepcopy(COPILOT_USER_PRO)
COPILOT_USER_OVER["quota_snapshots"]["premium_interactions"].update(
    {"remaining": -1, "quota_remaining": -1.0, "percent_remaining": -0.3333})

#: quota-endpoints §2.2: a Business seat with token_based_billing shows a 0/0 premium placeholder that must
#: not become "0 % used" (here with percent_remaining 100, the shape CodexBar's isPlaceholder comment names).
COPILOT_USER_PLACEHOLDER: dict[str, Any] = copy.deepcopy(COPILOT_USER_PRO)
COPILOT_USER_PLACEHOLDER.update({"copilot_plan": "business", "access_type_sku": "copilot_for_business_seat_quota",
                                 "token_based_billing": True})
COPILOT_USER_PLACEHOLDER["quota_snapshots"]["premium_interactions"].update(
    {"entitlement": 0, "remaining": 0, "quota_remaining": 0.0, "percent_remaining": 100.0, "unlimited": False})

#: quota-endpoints §5.3 token exchange ``GET /copilot_internal/v2/token``, verbatim (chat only, not quota).
COPILOT_TOKEN_ENVELOPE: dict[str, Any] = {
    "token": "tid=abc;exp=1790000000;sku=plus_monthly_subscriber_quota;chat=1:deadbeef", "expires_at": 1790000000,
    "refresh_in": 1500, "sku": "plus_monthly_subscriber_quota", "individual": True, "chat_enabled": True,
    "endpoints": {"api": "https://api.individual.githubcopilot.com"}, "limited_user_quotas": None,
    "limited_user_reset_date": None,
}

# ---------------------------------------------------------------------------------------------------
# Error replies
# ---------------------------------------------------------------------------------------------------

#: quota-endpoints §5.1: an expired OAuth token.
ANTHROPIC_401_EXPIRED = Reply(status=401, json={
    "type": "error",
    "error": {"type": "authentication_error",
              "message": "OAuth token has expired. Please obtain a new token or refresh your existing token."},
    "request_id": "req_011CTEST"})

#: quota-endpoints §1.1: the usage endpoint called without ``anthropic-beta: oauth-2025-04-20`` (the
#: message is reported; the envelope is the one of the other Anthropic errors).
ANTHROPIC_401_NO_BETA = Reply(status=401, json={
    "type": "error",
    "error": {"type": "authentication_error", "message": "OAuth authentication is currently not supported."},
    "request_id": "req_011CTEST"})

#: quota-endpoints §1.1: a token without the ``user:profile`` scope.
ANTHROPIC_403_SCOPE = Reply(status=403, json={
    "type": "error",
    "error": {"type": "permission_error", "message": "OAuth token does not meet scope requirement user:profile",
              "details": {"error_visibility": "user_facing"}},
    "request_id": "req_011CTEST"})

#: quota-endpoints §1.1/§5.1: the usage endpoint's own rate limit (no top-level "type": "error").
ANTHROPIC_429 = Reply(status=429, headers={"Retry-After": "300"}, json={
    "error": {"message": "Rate limited. Please try again later.", "type": "rate_limit_error"}})

#: Codex 401 (*illustrative*: the references give no captured body; this is the FastAPI-style ``detail``
#: shape ChatGPT's backend is reported to use. The checker only needs the status: "Unauthorized - log in again").
CODEX_401 = Reply(status=401, json={
    "detail": "Could not parse your authentication token. Please try signing in again."})

#: Google's standard 403 (Cloud Code Assist without access to the project).
GOOGLE_403_PERMISSION = Reply(status=403, json={
    "error": {"code": 403, "message": "The caller does not have permission", "status": "PERMISSION_DENIED"}})

#: Google's standard 401 for a bad or expired access token.
GOOGLE_401 = Reply(status=401, json={
    "error": {"code": 401,
              "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login "
                         "cookie or other valid authentication credential. See "
                         "https://developers.google.com/identity/sign-in/web/devconsole-project.",
              "status": "UNAUTHENTICATED"}})

#: GitHub's 401 for a bad token.
COPILOT_401 = Reply(status=401, json={
    "message": "Bad credentials", "documentation_url": "https://docs.github.com/rest", "status": "401"})

#: quota-endpoints §2.4: the ``error_details`` shape with ``notification_id`` ``no_copilot_access``
#: (*illustrative* texts: the reference gives the keys and the id, not the wording).
COPILOT_403 = Reply(status=403, json={
    "error_details": {"message": "You do not have access to GitHub Copilot.", "notification_id": "no_copilot_access",
                      "title": "No Copilot access", "url": "https://github.com/features/copilot"},
    "message": "You do not have access to GitHub Copilot."})

#: A plain-text 500 (exercises the "HTTP <status>: <raw body>" branch).
GENERIC_500 = Reply(status=500, body="Internal Server Error", headers={"Content-Type": "text/plain; charset=utf-8"})

#: A 200 whose JSON is cut off.
GARBAGE_JSON = Reply(status=200, body='{"five_hour": {', headers={"Content-Type": "application/json"})

#: A 502 with an empty body (exercises "HTTP <status>").
EMPTY_BODY_502 = Reply(status=502, body=b"")

# ---------------------------------------------------------------------------------------------------
# Rate-limit headers and bodies of data-plane responses (passive capture)
# ---------------------------------------------------------------------------------------------------

#: quota-endpoints §5.4: ``POST /backend-api/codex/responses`` → 429 (5 h window used up).
CODEX_429_HEADERS: dict[str, str] = {
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

#: quota-endpoints §3.1/§5.4: the ``usage_limit_reached`` body.
CODEX_429_BODY: dict[str, Any] = {"error": {
    "type": "usage_limit_reached", "message": "The usage limit has been reached", "plan_type": "plus",
    "resets_at": 1777936568, "eligible_promo": None, "resets_in_seconds": 13872}}

#: The whole §5.4 response.
CODEX_RESPONSES_429 = Reply(status=429, headers=CODEX_429_HEADERS, json=CODEX_429_BODY)

#: The same header family on a normal response (§3.2), mirroring :data:`CODEX_USAGE`: 42 % of 5 h, 12 % of 7 d.
CODEX_200_HEADERS: dict[str, str] = {
    **CODEX_429_HEADERS,
    "x-codex-primary-used-percent": "42",
    "x-codex-primary-reset-after-seconds": "7200",
    "x-codex-primary-reset-at": str(CODEX_RESET_5H),
    "x-codex-secondary-used-percent": "12",
    "x-codex-secondary-reset-after-seconds": "400000",
    "x-codex-secondary-reset-at": str(CODEX_RESET_7D),
}

#: quota-endpoints §5.2: ``POST /v1/messages`` → 429, weekly limit hit.
ANTHROPIC_429_HEADERS: dict[str, str] = {
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

#: quota-endpoints §5.2 body.
ANTHROPIC_429_BODY: dict[str, Any] = {
    "type": "error",
    "error": {"type": "rate_limit_error",
              "message": "This request would exceed your account's rate limit. Please try again later."},
    "request_id": "req_011CTEST"}

#: The whole §5.2 response.
ANTHROPIC_MESSAGES_429 = Reply(status=429, headers=ANTHROPIC_429_HEADERS, json=ANTHROPIC_429_BODY)

#: §5.2: "a 200 response carries the same headers with status: allowed and no retry-after" (utilizations
#: 0.31 and 0.42 as fractions).
ANTHROPIC_200_HEADERS: dict[str, str] = {
    **{key: value for key, value in ANTHROPIC_429_HEADERS.items() if key != "retry-after"},
    "anthropic-ratelimit-unified-status": "allowed",
    "anthropic-ratelimit-unified-7d-status": "allowed",
    "anthropic-ratelimit-unified-7d-utilization": "0.42",
}

#: quota-endpoints §2.3: the premium-interactions snapshot header of a Copilot data-plane response.
COPILOT_QUOTA_HEADERS: dict[str, str] = {
    "x-quota-snapshot-premium_interactions":
        "ent=300&ov=0.0&ovPerm=true&rem=41.0&rst=2026-09-01T00%3A00%3A00Z&totRem=123.0",
}

#: quota-endpoints §2.5/§5.3: chat-side exhaustion.
COPILOT_402_QUOTA = Reply(status=402, json={"error": {"message": "You have no quota", "code": "quota_exceeded"}})

#: quota-endpoints §5.5: Cloud Code Assist quota exhausted (terminal).
GOOGLE_429_QUOTA_EXHAUSTED_BODY: dict[str, Any] = {"error": {
    "code": 429,
    "message": "Individual quota reached. Please upgrade your subscription to increase your limits. "
               "Resets in 9h22m20s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "QUOTA_EXHAUSTED",
         "domain": "cloudcode-pa.googleapis.com",
         "metadata": {"quotaResetTimeStamp": "2026-09-20T21:03:14Z", "quotaResetDelay": "33740.910400305s",
                      "uiMessage": "true", "model": "gemini-3.5-flash"}},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "33740.910400305s"}]}}
GOOGLE_429_QUOTA_EXHAUSTED = Reply(status=429, json=GOOGLE_429_QUOTA_EXHAUSTED_BODY)

#: quota-endpoints §5.5: a short rate limit (retryable; ``quotaResetDelay`` in ``ms``).
GOOGLE_429_RATE_LIMIT = Reply(status=429, json={"error": {
    "code": 429,
    "message": "You have exhausted your capacity on this model. Your quota will reset after 0s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "RATE_LIMIT_EXCEEDED",
         "domain": "cloudcode-pa.googleapis.com",
         "metadata": {"model": "gemini-2.5-pro", "quotaResetDelay": "479.417207ms",
                      "quotaResetTimeStamp": "2026-04-20T09:19:49Z", "uiMessage": "true"}},
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.479417207s"}]}})

#: quota-endpoints §4/§5.5: the quota-exhausted body wrapped in an array (streaming endpoints).
GOOGLE_429_ARRAY_WRAPPED = Reply(status=429, json=[GOOGLE_429_QUOTA_EXHAUSTED_BODY])

#: quota-endpoints §4/§5.5: a bare 429 without details.
GOOGLE_429_BARE = Reply(status=429, json={"error": {
    "code": 429, "message": "Resource has been exhausted (e.g. check quota).", "status": "RESOURCE_EXHAUSTED"}})

#: quota-endpoints §4/§5.5: server capacity, not the account's quota (*illustrative* message).
GOOGLE_503_CAPACITY = Reply(status=503, json={"error": {
    "code": 503, "message": "No capacity available for model gemini-2.5-pro on the server", "status": "UNAVAILABLE",
    "details": [
        {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "MODEL_CAPACITY_EXHAUSTED",
         "domain": "cloudcode-pa.googleapis.com", "metadata": {"model": "gemini-2.5-pro"}}]}})

# ---------------------------------------------------------------------------------------------------
# Google OAuth refresh: POST {MP_POLICY_GOOGLE_TOKEN_URL}, form-encoded
# ---------------------------------------------------------------------------------------------------

#: The refresh token the token endpoint rejects.
BAD_REFRESH_TOKEN = "bad-refresh"

#: The scopes Gemini CLI asks for.
GOOGLE_SCOPE = ("https://www.googleapis.com/auth/cloud-platform https://www.googleapis.com/auth/userinfo.email "
                "https://www.googleapis.com/auth/userinfo.profile")

GOOGLE_TOKEN_INVALID_GRANT = Reply(status=400, json={
    "error": "invalid_grant", "error_description": "Token has been expired or revoked."})


def google_token_endpoint(request: Recorded) -> Reply:
    """The OAuth token endpoint: ``grant_type=refresh_token&refresh_token=R`` gives ``refreshed-R``.

    ``bad-refresh`` gives 400 ``invalid_grant``; a missing refresh token 400 ``invalid_request``; another
    grant type 400 ``unsupported_grant_type`` (Google's error codes; other form fields are ignored).
    """
    form = request.form()
    grant = form.get("grant_type", "")
    if grant != "refresh_token":
        return Reply(status=400, json={"error": "unsupported_grant_type",
                                       "error_description": f"Invalid grant_type: {grant}"})
    refresh = form.get("refresh_token", "")
    if not refresh:
        return Reply(status=400, json={"error": "invalid_request",
                                       "error_description": "Missing required parameter: refresh_token"})
    if refresh == BAD_REFRESH_TOKEN:
        return GOOGLE_TOKEN_INVALID_GRANT
    return Reply(json={"access_token": f"refreshed-{refresh}", "expires_in": 3599, "token_type": "Bearer",
                       "scope": GOOGLE_SCOPE})


# ---------------------------------------------------------------------------------------------------
# Credentials as pi stores them in auth.json (behaviour §2.12)
# ---------------------------------------------------------------------------------------------------

#: The claim names the Codex checker reads from the access token (behaviour §5.3).
OPENAI_AUTH_CLAIM = "https://api.openai.com/auth"
OPENAI_PROFILE_CLAIM = "https://api.openai.com/profile"

#: Defaults of the credential builders.
CODEX_ACCOUNT_ID = "3f0c1a2e-7b5d-4c1e-9a8f-0d2b6e4c8a10"
GOOGLE_PROJECT_ID = "cloudaicompanion-demo-123456"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _expires_ms(expires_ms: int | None) -> int:
    return int(time.time() * 1000) + 3_600_000 if expires_ms is None else expires_ms


def codex_jwt(*, account_id: str | None = CODEX_ACCOUNT_ID, plan: str | None = "plus",
              email: str | None = "dev@example.com", user_id: str | None = "user-demo0001",
              expires_s: int | None = None) -> str:
    """A structurally real, unsigned JWT (``header.payload.signature``, base64url) like a ChatGPT access token.

    The ``https://api.openai.com/auth`` claim carries ``chatgpt_account_id``, ``chatgpt_plan_type`` and
    ``user_id``; ``https://api.openai.com/profile`` carries ``email``. ``None`` leaves a value out. The
    signature is a placeholder: nothing in the project verifies it.
    """
    now = int(time.time())
    auth = {key: value for key, value in (("chatgpt_account_id", account_id), ("chatgpt_plan_type", plan),
                                          ("user_id", user_id)) if value is not None}
    claims: dict[str, Any] = {"iat": now, "exp": now + 864_000 if expires_s is None else expires_s,
                              OPENAI_AUTH_CLAIM: auth}
    if email is not None:
        claims[OPENAI_PROFILE_CLAIM] = {"email": email, "email_verified": True}
    header = {"alg": "RS256", "typ": "JWT"}
    return ".".join((_b64url(json.dumps(header).encode()), _b64url(json.dumps(claims).encode()),
                     _b64url(b"unsigned-test-token")))


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (segment 2, base64url JSON), without verifying anything."""
    segment = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def codex_credential(*, access: str | None = None, refresh: str = "rt-codex-demo-refresh",
                     expires_ms: int | None = None, account_id: str | None = CODEX_ACCOUNT_ID,
                     plan: str = "plus", email: str = "dev@example.com") -> dict[str, Any]:
    """An ``openai-codex`` credential: the access token is :func:`codex_jwt`; ``account_id=None`` omits
    ``accountId`` (the checker then reads it from the token)."""
    credential: dict[str, Any] = {
        "type": "oauth",
        "access": access if access is not None else codex_jwt(account_id=account_id or CODEX_ACCOUNT_ID, plan=plan,
                                                              email=email),
        "refresh": refresh,
        "expires": _expires_ms(expires_ms),
    }
    if account_id is not None:
        credential["accountId"] = account_id
    return credential


def anthropic_credential(*, access: str = "sk-ant-oat01-demo-access-token",
                         refresh: str = "sk-ant-ort01-demo-refresh-token",
                         expires_ms: int | None = None) -> dict[str, Any]:
    """An ``anthropic`` (Claude Pro/Max OAuth) credential."""
    return {"type": "oauth", "access": access, "refresh": refresh, "expires": _expires_ms(expires_ms)}


def copilot_credential(*, github_token: str = "gho_demoGitHubOAuthToken000000000000000",
                       copilot_token: str | None = None, expires_ms: int | None = None,
                       enterprise_url: str | None = None) -> dict[str, Any]:
    """A ``github-copilot`` credential as pi stores it: ``refresh`` is the long-lived GitHub OAuth token (the
    one ``/copilot_internal/user`` wants), ``access`` the short-lived Copilot session token from
    ``/copilot_internal/v2/token`` (``tid=…;exp=…;sku=…;proxy-ep=…``, from which pi derives the API base URL),
    ``expires`` its expiry minus five minutes. Newer pi builds store the GitHub token in both fields:
    pass ``copilot_token=github_token`` for that shape.
    """
    expires = _expires_ms(expires_ms)
    access = copilot_token if copilot_token is not None else (
        f"tid=abc;exp={expires // 1000 + 300};sku=plus_monthly_subscriber_quota;"
        "proxy-ep=proxy.individual.githubcopilot.com;chat=1:deadbeef")
    credential: dict[str, Any] = {"type": "oauth", "refresh": github_token, "access": access, "expires": expires}
    if enterprise_url is not None:
        credential["enterpriseUrl"] = enterprise_url
    return credential


def google_credential(*, access: str = "ya29.demo-google-access-token", refresh: str = "1//0demo-google-refresh",
                      expires_ms: int | None = None, project_id: str | None = GOOGLE_PROJECT_ID,
                      email: str | None = None) -> dict[str, Any]:
    """A ``google-gemini-cli`` / ``google-antigravity`` credential (``projectId`` and optional ``email``)."""
    credential: dict[str, Any] = {"type": "oauth", "access": access, "refresh": refresh,
                                  "expires": _expires_ms(expires_ms)}
    if project_id is not None:
        credential["projectId"] = project_id
    if email is not None:
        credential["email"] = email
    return credential


def api_key_credential(key: str) -> dict[str, Any]:
    """An API-key credential (``{"type": "api_key", "key": …}``), which the quota checkers cannot use."""
    return {"type": "api_key", "key": key}


def auth_json(accounts: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
    """An ``auth.json`` document: ``accounts`` maps account names (``openai-codex-2``…) to credentials.

    Without ``accounts``: one logged-in account per base provider (``openai-codex``, ``anthropic``,
    ``github-copilot``, ``google-gemini-cli``, ``google-antigravity``), tokens valid for an hour.
    """
    if accounts is None:
        accounts = {"openai-codex": codex_credential(), "anthropic": anthropic_credential(),
                    "github-copilot": copilot_credential(), "google-gemini-cli": google_credential(),
                    "google-antigravity": google_credential(access="ya29.demo-antigravity-access-token",
                                                            refresh="1//0demo-antigravity-refresh")}
    return {name: dict(copy.deepcopy(credential)) for name, credential in accounts.items()}


def write_auth_json(path: Path, accounts: Mapping[str, Mapping[str, Any]] | None = None) -> Path:
    """Write :func:`auth_json` to ``path`` (creating its directory) and return the path."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(auth_json(accounts), indent=2) + "\n", encoding="utf-8")
    return path

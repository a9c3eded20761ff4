"""``openai-codex``: ChatGPT Plus/Pro usage from ``GET {base}/wham/usage`` (pi-multi-pass §5.3).

The two windows are recognised by their length (5 h = 18,000 s, 7 d = 604,800 s, ±120 s), never
by position: the endpoint may send them swapped, and a free plan has only the weekly one. The
account id comes from the credential's ``accountId`` or the access token's
``https://api.openai.com/auth`` claim (``chatgpt_account_id``). The token is not refreshed: an
expired one gets a 401, reported as "log in again".
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policy_engine.providers.families import Credential
from policy_engine.quota.context import CheckContext, QuotaCheckError, describe_response, parse_json
from policy_engine.quota.status import clamp_percent, failed_snapshot, snapshot_from_windows
from policy_engine.quota.values import from_epoch, number
from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = ["CodexChecker", "jwt_claims", "parse_codex_usage"]

DEFAULT_BASE = "https://chatgpt.com/backend-api"
_AUTH_CLAIM = "https://api.openai.com/auth"
_PROFILE_CLAIM = "https://api.openai.com/profile"
_WINDOWS = (("5h", 18_000), ("7d", 604_800))
_TOLERANCE = 120


def jwt_claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (not verified); ``{}`` when it is not one."""
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        data = json.loads(base64.urlsafe_b64decode(payload.encode("ascii")))
    except (ValueError, UnicodeError):
        return {}
    return data if isinstance(data, dict) else {}


def parse_codex_usage(account: str, data: Any, *, now: datetime, source: str = "openai-codex",
                      plan_hint: str | None = None) -> QuotaSnapshot:
    """A snapshot from a ``/wham/usage`` body; an ``error`` snapshot when neither window is found."""
    if not isinstance(data, Mapping):
        return failed_snapshot(account, "error", "unexpected response (not a JSON object)", now=now, source=source)
    plan = data.get("plan_type") if isinstance(data.get("plan_type"), str) else (plan_hint or "plan unknown")
    limits = data.get("rate_limit")
    found: dict[str, QuotaWindow] = {}
    if isinstance(limits, Mapping):
        for key in ("primary_window", "secondary_window"):
            window = limits.get(key)
            if not isinstance(window, Mapping):
                continue
            used = number(window.get("used_percent")) or 0.0
            length = number(window.get("limit_window_seconds")) or 0.0
            for name, seconds in _WINDOWS:
                if name not in found and abs(length - seconds) <= _TOLERANCE:
                    found[name] = QuotaWindow(name, clamp_percent(100.0 - used), from_epoch(window.get("reset_at")))
                    break
    windows = [found[name] for name, _ in _WINDOWS if name in found]
    if not windows:
        return failed_snapshot(account, "error", "no 5-hour or 7-day window in the usage response",
                               now=now, source=source)
    parts = [plan] + [f"{w.name} {w.remaining:g}%" for w in windows]
    return snapshot_from_windows(account, windows, now=now, source=source, summary=" | ".join(parts))


class CodexChecker:
    """Quota checker for ``openai-codex`` accounts."""

    base = "openai-codex"

    async def check(self, account: str, credential: Credential | None, ctx: CheckContext) -> QuotaSnapshot:
        """``GET {base}/wham/usage`` with the stored access token."""
        secret = credential.secret if credential is not None else {}
        access = secret.get("access") if isinstance(secret.get("access"), str) else ""
        if credential is None or credential.kind != "oauth" or not access:
            return failed_snapshot(account, "missing-auth", "not logged in", now=ctx.now, source=self.base)
        ctx = ctx.with_secrets([access, secret.get("refresh")])
        claims = jwt_claims(access)
        auth_claim = claims.get(_AUTH_CLAIM) if isinstance(claims.get(_AUTH_CLAIM), Mapping) else {}
        account_id = credential.account_id or auth_claim.get("chatgpt_account_id")
        headers = {"Authorization": f"Bearer {access}", "Accept": "application/json", "User-Agent": "mp-policy"}
        if isinstance(account_id, str) and account_id:
            headers["chatgpt-account-id"] = account_id
        url = ctx.base_urls(self.base, [DEFAULT_BASE])[0] + "/wham/usage"
        response = await ctx.client.get(url, headers=headers, timeout=ctx.timeout)
        if not response.is_success:
            raise QuotaCheckError(describe_response(
                response, ctx, forbidden_hint="this ChatGPT account has no Codex usage access"))
        plan_hint = auth_claim.get("chatgpt_plan_type")
        return parse_codex_usage(account, parse_json(response, ctx), now=ctx.now, source=self.base,
                                 plan_hint=plan_hint if isinstance(plan_hint, str) else None)

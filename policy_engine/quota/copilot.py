"""``github-copilot``: quota snapshots from ``GET {base}/copilot_internal/user`` (quota-endpoints §2.1-2.2).

Authenticated with the GitHub OAuth token itself (pi stores it as ``refresh``; ``access`` is the
short-lived Copilot token), sent as ``Authorization: token …``. On GitHub Enterprise the host is
``api.<enterpriseUrl>``. Each metered bucket (``premium_interactions``, and ``chat`` /
``completions`` when they are limited) is a window with ``percent_remaining`` (which goes
negative past the allowance: clamped to 0) and the monthly reset. Unlimited buckets are left
out; ``0/0`` placeholders of token-based billing are not read as "0 % left". The free tier sends
``monthly_quotas`` and ``limited_user_quotas`` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policy_engine.providers.families import Credential
from policy_engine.quota.context import CheckContext, QuotaCheckError, describe_response, parse_json
from policy_engine.quota.status import clamp_percent, failed_snapshot, snapshot_from_windows
from policy_engine.quota.values import from_epoch, from_iso, number
from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = ["CopilotChecker", "parse_copilot_user"]

DEFAULT_BASE = "https://api.github.com"
_BUCKETS = (("premium_interactions", "premium"), ("chat", "chat"), ("completions", "completions"))
_GITHUB_TOKEN_PREFIXES = ("gho_", "ghu_", "ghp_", "github_pat_")


def _reset(data: Mapping[str, Any], *keys: str) -> datetime | None:
    """The first of ``keys`` that holds a time: epoch seconds, ISO-8601, or a date (midnight UTC)."""
    for key in keys:
        value = data.get(key)
        moment = from_iso(value) if isinstance(value, str) else from_epoch(value)
        if moment is not None:
            return moment
    return None


def parse_copilot_user(account: str, data: Any, *, now: datetime, source: str = "github-copilot") -> QuotaSnapshot:
    """A snapshot from a ``copilot_internal/user`` body."""
    if not isinstance(data, Mapping):
        return failed_snapshot(account, "error", "unexpected response (not a JSON object)", now=now, source=source)
    plan = next((v for v in (data.get("copilot_plan"), data.get("access_type_sku")) if isinstance(v, str) and v),
                "plan unknown")
    reset = _reset(data, "quota_reset_date_utc", "quota_reset_date")
    windows: list[QuotaWindow] = []
    details: list[str] = []
    unlimited = False
    snapshots = data.get("quota_snapshots")
    if isinstance(snapshots, Mapping):
        for key, name in _BUCKETS:
            bucket = snapshots.get(key)
            if not isinstance(bucket, Mapping):
                continue
            if bucket.get("unlimited") is True:
                unlimited = True
                continue
            entitlement, percent = number(bucket.get("entitlement")), number(bucket.get("percent_remaining"))
            if percent is None or not entitlement:  # 0/0: a token-billing placeholder, not "0 % left"
                continue
            windows.append(QuotaWindow(name, clamp_percent(percent), reset))
            left = number(bucket.get("remaining"))
            details.append(f"{name} {clamp_percent(percent):g}%"
                           + (f" ({left:g}/{entitlement:g})" if left is not None else ""))
    monthly, limited = data.get("monthly_quotas"), data.get("limited_user_quotas")
    if not windows and isinstance(monthly, Mapping) and isinstance(limited, Mapping):
        free_reset = _reset(data, "limited_user_reset_date") or reset
        for key in ("chat", "completions"):
            allowance, left = number(monthly.get(key)), number(limited.get(key))
            if allowance and left is not None:
                windows.append(QuotaWindow(key, clamp_percent(left / allowance * 100.0), free_reset))
                details.append(f"{key} {clamp_percent(left / allowance * 100.0):g}% ({left:g}/{allowance:g})")
    if not windows:
        if unlimited:
            kind = "token-based billing" if data.get("token_based_billing") is True else "unlimited"
            return QuotaSnapshot(account, 100.0, now, source, "ready", (), f"{plan} | {kind}")
        return failed_snapshot(account, "error", "no metered quota in the response (token-based billing?)",
                               now=now, source=source)
    return snapshot_from_windows(account, windows, now=now, source=source, summary=" | ".join([plan, *details]))


def _github_token(credential: Credential) -> str:
    secret = credential.secret
    refresh, access, key = (secret.get(k) for k in ("refresh", "access", "key"))
    if isinstance(refresh, str) and refresh:
        return refresh
    for value in (access, key):
        if isinstance(value, str) and value.startswith(_GITHUB_TOKEN_PREFIXES):
            return value
    return ""


class CopilotChecker:
    """Quota checker for ``github-copilot`` accounts."""

    base = "github-copilot"

    async def check(self, account: str, credential: Credential | None, ctx: CheckContext) -> QuotaSnapshot:
        """``GET {base}/copilot_internal/user`` with the GitHub token."""
        token = _github_token(credential) if credential is not None else ""
        if not token:
            return failed_snapshot(account, "missing-auth", "not logged in", now=ctx.now, source=self.base)
        secret = credential.secret if credential is not None else {}
        ctx = ctx.with_secrets([token, secret.get("access")])
        enterprise = secret.get("enterpriseUrl")
        default = DEFAULT_BASE
        if isinstance(enterprise, str) and enterprise.strip():
            host = enterprise.strip().split("://", 1)[-1].strip("/")
            default = f"https://api.{host}"
        url = ctx.base_urls(self.base, [default])[0] + "/copilot_internal/user"
        headers = {"Authorization": f"token {token}", "X-GitHub-Api-Version": "2025-04-01",
                   "Accept": "application/json", "Editor-Version": "vscode/1.96.2",
                   "Editor-Plugin-Version": "copilot-chat/0.26.7", "User-Agent": "GitHubCopilotChat/0.26.7"}
        response = await ctx.client.get(url, headers=headers, timeout=ctx.timeout)
        if not response.is_success:
            raise QuotaCheckError(describe_response(
                response, ctx, forbidden_hint="this GitHub token has no Copilot access (log in to Copilot again)"))
        return parse_copilot_user(account, parse_json(response, ctx), now=ctx.now, source=self.base)

"""``anthropic``: Claude Pro/Max usage from ``GET {base}/api/oauth/usage`` (quota-endpoints §1.1-1.2).

The newer generic ``limits[]`` list is read first (``session`` = the 5-hour window, ``weekly_all``
= the 7-day window, ``weekly_scoped`` = a per-model weekly window); without it the top-level
windows are read (``five_hour``, ``seven_day``, ``seven_day_opus``, ``seven_day_sonnet``).
Utilisation is *percent used*, so remaining = 100 - utilisation. Per-model windows are listed but
do not make the account's bottleneck: the account still serves other models. An expired access
token is not sent (the agent refreshes it on its next request); a 403 means the token lacks the
``user:profile`` scope; a 429 is the usage endpoint's own rate limit.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from policy_engine.providers.families import Credential
from policy_engine.quota.context import CheckContext, QuotaCheckError, describe_response, parse_json
from policy_engine.quota.status import clamp_percent, failed_snapshot, snapshot_from_windows
from policy_engine.quota.values import from_iso, number
from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = ["AnthropicChecker", "parse_anthropic_usage"]

DEFAULT_BASE = "https://api.anthropic.com"
_ACCOUNT_KEYS = (("five_hour", "5h"), ("seven_day", "7d"))
_SCOPED_KEYS = (("seven_day_opus", "7d Opus"), ("seven_day_sonnet", "7d Sonnet"))


def _used(value: Any) -> float | None:
    used = number(value)
    return None if used is None else clamp_percent(100.0 - used)


def _from_limits(limits: list[Any]) -> tuple[list[QuotaWindow], list[QuotaWindow]]:
    account: list[QuotaWindow] = []
    scoped: list[QuotaWindow] = []
    for limit in limits:
        if not isinstance(limit, Mapping):
            continue
        remaining = _used(limit.get("percent"))
        if remaining is None:
            continue
        kind, reset = limit.get("kind"), from_iso(limit.get("resets_at"))
        if kind == "session":
            account.append(QuotaWindow("5h", remaining, reset))
        elif kind == "weekly_all":
            account.append(QuotaWindow("7d", remaining, reset))
        elif kind == "weekly_scoped":
            scope = limit.get("scope") if isinstance(limit.get("scope"), Mapping) else {}
            model = scope.get("model") if isinstance(scope.get("model"), Mapping) else {}
            label = next((v for v in (model.get("display_name"), model.get("id")) if isinstance(v, str) and v),
                         "model")
            scoped.append(QuotaWindow(f"7d {label}", remaining, reset))
    return account, scoped


def _from_windows(data: Mapping[str, Any]) -> tuple[list[QuotaWindow], list[QuotaWindow]]:
    def read(keys: tuple[tuple[str, str], ...]) -> list[QuotaWindow]:
        found = []
        for key, name in keys:
            window = data.get(key)
            if isinstance(window, Mapping) and (remaining := _used(window.get("utilization"))) is not None:
                found.append(QuotaWindow(name, remaining, from_iso(window.get("resets_at"))))
        return found

    return read(_ACCOUNT_KEYS), read(_SCOPED_KEYS)


def _extra_usage(data: Mapping[str, Any]) -> str:
    extra = data.get("extra_usage")
    if not isinstance(extra, Mapping) or extra.get("is_enabled") is not True:
        return ""
    used, limit = extra.get("used_credits"), extra.get("monthly_limit")
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (used, limit)):
        return ""
    places = extra.get("decimal_places") if isinstance(extra.get("decimal_places"), int) else 2
    currency = extra.get("currency") if isinstance(extra.get("currency"), str) else "USD"
    scale = 10 ** places
    return f"extra usage {used / scale:.{places}f}/{limit / scale:.{places}f} {currency}"  # type: ignore[operator]


def parse_anthropic_usage(account: str, data: Any, *, now: datetime, source: str = "anthropic") -> QuotaSnapshot:
    """A snapshot from an ``/api/oauth/usage`` body."""
    if not isinstance(data, Mapping):
        return failed_snapshot(account, "error", "unexpected response (not a JSON object)", now=now, source=source)
    limits = data.get("limits")
    account_windows, scoped = _from_limits(limits) if isinstance(limits, list) and limits else ([], [])
    if not account_windows and not scoped:
        account_windows, scoped = _from_windows(data)
    if not account_windows:
        return failed_snapshot(account, "error", "no 5-hour or 7-day window in the usage response",
                               now=now, source=source)
    parts = [f"{w.name} {w.remaining:g}%" for w in account_windows]
    parts += [f"{w.name} {w.remaining:g}% (model)" for w in scoped]
    if extra := _extra_usage(data):
        parts.append(extra)
    return snapshot_from_windows(account, account_windows, now=now, source=source, summary=" | ".join(parts),
                                 scoped=scoped)


class AnthropicChecker:
    """Quota checker for ``anthropic`` (Claude OAuth) accounts."""

    base = "anthropic"

    async def check(self, account: str, credential: Credential | None, ctx: CheckContext) -> QuotaSnapshot:
        """``GET {base}/api/oauth/usage`` with the OAuth access token and the OAuth beta header."""
        secret = credential.secret if credential is not None else {}
        access = secret.get("access") if isinstance(secret.get("access"), str) else ""
        if credential is None or credential.kind != "oauth" or not access:
            message = "an API key has no subscription quota" if credential is not None and \
                credential.kind == "api_key" else "not logged in"
            return failed_snapshot(account, "missing-auth", message, now=ctx.now, source=self.base)
        if credential.expires_at is not None and credential.expires_at <= ctx.now.timestamp():
            return failed_snapshot(account, "error", "the access token has expired; the agent refreshes it on "
                                   "its next request (or log in again)", now=ctx.now, source=self.base)
        ctx = ctx.with_secrets([access, secret.get("refresh")])
        headers = {"Authorization": f"Bearer {access}", "anthropic-beta": "oauth-2025-04-20",
                   "Accept": "application/json", "User-Agent": "mp-policy"}
        url = ctx.base_urls(self.base, [DEFAULT_BASE])[0] + "/api/oauth/usage"
        response = await ctx.client.get(url, headers=headers, timeout=ctx.timeout)
        if not response.is_success:
            raise QuotaCheckError(describe_response(
                response, ctx, forbidden_hint="the token lacks the user:profile scope (log in again with Claude Code)"))
        return parse_anthropic_usage(account, parse_json(response, ctx), now=ctx.now, source=self.base)

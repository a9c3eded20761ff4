"""``google-gemini-cli`` and ``google-antigravity``: Cloud Code Assist quota (pi-multi-pass §5.4-5.5).

Token choice, as pi-multi-pass does it: a stored access token that is valid for at least another
minute is used as is; otherwise the refresh token is exchanged at Google's OAuth token endpoint
(``MP_POLICY_GOOGLE_TOKEN_URL`` overrides it) with the family's public installed-app client, and
the new access token is used for this check only: ``auth.json`` is never written. Without a
refresh token an expired access token is tried anyway.

* Gemini CLI: ``POST {base}/v1internal:retrieveUserQuota``; buckets are grouped into families
  (``Pro`` when the model id contains "pro", else ``Flash`` for "flash", else the model id), each
  family keeping its lowest remaining fraction and earliest reset.
* Antigravity: ``POST {base}/v1internal:fetchAvailableModels`` on the sandbox endpoint, then on
  production; the next endpoint is tried after an HTTP error *and* after a network error (pi
  gave up after a network error on the first). Internal and hidden models are left out; models
  with the same label are merged.

The project id (``projectId`` in the credential, else the environment) is sent as
``{"project": id}`` when known (pi-multi-pass sent ``{}`` to the Gemini endpoint).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from policy_engine.providers.families import Credential
from policy_engine.quota.context import CheckContext, QuotaCheckError, describe_response, parse_json
from policy_engine.quota.status import clamp_percent, failed_snapshot, snapshot_from_windows
from policy_engine.quota.values import from_iso, number
from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = ["AntigravityChecker", "GeminiCliChecker", "parse_antigravity_models", "parse_gemini_buckets"]

TOKEN_URL = "https://oauth2.googleapis.com/token"
TOKEN_URL_ENV = "MP_POLICY_GOOGLE_TOKEN_URL"
GEMINI_BASE = "https://cloudcode-pa.googleapis.com"
ANTIGRAVITY_BASES = ("https://daily-cloudcode-pa.sandbox.googleapis.com", "https://cloudcode-pa.googleapis.com")
# Public installed-app OAuth clients of Gemini CLI and Antigravity (RFC 8252: not confidential).
_CLIENTS = {
    "google-gemini-cli": ("681255809395-oo8ft2oprdrnp9e3aqf6av3hmdib135j.apps.googleusercontent.com",
                          "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"),
    "google-antigravity": ("1071006060591-tmhssin2h21lcre235vtolojh4g403ep.apps.googleusercontent.com",
                           "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"),
}
_PROJECT_ENV = {
    "google-gemini-cli": ("GOOGLE_CLOUD_PROJECT", "GOOGLE_CLOUD_PROJECT_ID"),
    "google-antigravity": ("GOOGLE_ANTIGRAVITY_PROJECT_ID", "GOOGLE_ANTIGRAVITY_PROJECT", "GOOGLE_CLOUD_PROJECT",
                           "GOOGLE_CLOUD_PROJECT_ID"),
}
_HIDDEN_MODELS = frozenset({"tab_flash_lite_preview"})
_REFRESH_MARGIN = 60.0  # seconds: a token expiring sooner is refreshed first


def _percent(fraction: Any) -> float | None:
    value = number(fraction)
    return None if value is None else clamp_percent(round(value * 100))


def _merge(groups: dict[str, list[Any]], label: str, remaining: float | None,
           reset: datetime | None) -> None:
    entry = groups.setdefault(label, [None, None])
    if remaining is not None:
        entry[0] = remaining if entry[0] is None else min(entry[0], remaining)
    if reset is not None:
        entry[1] = reset if entry[1] is None else min(entry[1], reset)


def _windows(groups: Mapping[str, list[Any]]) -> list[QuotaWindow]:
    windows = [QuotaWindow(label, remaining, reset) for label, (remaining, reset) in groups.items()]
    windows.sort(key=lambda w: (101.0 if w.remaining is None else w.remaining, w.name))
    return windows


def _google_snapshot(account: str, windows: list[QuotaWindow], noun: tuple[str, str], *, now: datetime,
                     source: str) -> QuotaSnapshot:
    if not any(w.remaining is not None for w in windows):
        return failed_snapshot(account, "error", "no model quota data returned", now=now, source=source)
    snap = snapshot_from_windows(account, windows, now=now, source=source, summary="")
    word = noun[0] if len(windows) == 1 else noun[1]
    summary = f"{len(windows)} {word} | bottleneck {snap.remaining:g}%"
    return QuotaSnapshot(snap.provider, snap.remaining, snap.fetched_at, snap.source, snap.status, snap.windows,
                         summary)


def parse_gemini_buckets(account: str, data: Any, *, now: datetime,
                         source: str = "google-gemini-cli") -> QuotaSnapshot:
    """A snapshot from a ``retrieveUserQuota`` body, one window per model family."""
    buckets = data.get("buckets") if isinstance(data, Mapping) else None
    groups: dict[str, list[Any]] = {}
    for bucket in buckets if isinstance(buckets, list) else ():
        if not isinstance(bucket, Mapping):
            continue
        remaining, reset = _percent(bucket.get("remainingFraction")), from_iso(bucket.get("resetTime"))
        if remaining is None and reset is None:
            continue
        model = bucket.get("modelId")
        lowered = model.lower() if isinstance(model, str) else ""
        family = "Pro" if "pro" in lowered else "Flash" if "flash" in lowered else (
            model if isinstance(model, str) and model else "unknown")
        _merge(groups, family, remaining, reset)
    return _google_snapshot(account, _windows(groups), ("family", "families"), now=now, source=source)


def parse_antigravity_models(account: str, data: Any, *, now: datetime,
                             source: str = "google-antigravity") -> QuotaSnapshot:
    """A snapshot from a ``fetchAvailableModels`` body, one window per model label."""
    models = data.get("models") if isinstance(data, Mapping) else None
    groups: dict[str, list[Any]] = {}
    for key, model in (models.items() if isinstance(models, Mapping) else ()):
        if not isinstance(model, Mapping) or model.get("isInternal") is True or str(key).lower() in _HIDDEN_MODELS:
            continue
        label = next((v for v in (model.get("displayName"), model.get("model")) if isinstance(v, str) and v), str(key))
        if label.lower() in _HIDDEN_MODELS:
            continue
        info = model.get("quotaInfo") if isinstance(model.get("quotaInfo"), Mapping) else {}
        remaining, reset = _percent(info.get("remainingFraction")), from_iso(info.get("resetTime"))
        if remaining is None and reset is None:
            continue
        _merge(groups, label, remaining, reset)
    return _google_snapshot(account, _windows(groups), ("model", "models"), now=now, source=source)


class _GoogleChecker(ABC):
    """What both Cloud Code Assist checkers share: project id, token choice and refresh, endpoint fallback."""

    base = ""
    _forbidden = ""

    def _project(self, secret: Mapping[str, Any], env: Mapping[str, str]) -> str:
        project = secret.get("projectId")
        if isinstance(project, str) and project.strip():
            return project.strip()
        return next((env[name].strip() for name in _PROJECT_ENV[self.base] if env.get(name, "").strip()), "")

    async def _token(self, secret: Mapping[str, Any], ctx: CheckContext) -> str:
        access = secret.get("access") if isinstance(secret.get("access"), str) else ""
        refresh = secret.get("refresh") if isinstance(secret.get("refresh"), str) else ""
        expires = secret.get("expires")
        expires_ok = not isinstance(expires, int | float) or isinstance(expires, bool) or (
            expires / 1000.0 > ctx.now.timestamp() + _REFRESH_MARGIN)
        if access and expires_ok:
            return access
        if refresh:
            return await self._refresh(refresh, ctx)
        return access

    async def _refresh(self, refresh: str, ctx: CheckContext) -> str:
        client_id, client_secret = _CLIENTS[self.base]
        url = ctx.env.get(TOKEN_URL_ENV, "").strip() or TOKEN_URL
        response = await ctx.client.post(url, data={
            "client_id": client_id, "client_secret": client_secret, "refresh_token": refresh,
            "grant_type": "refresh_token"}, headers={"Accept": "application/json"}, timeout=ctx.timeout)
        if not response.is_success:
            detail = describe_response(response, ctx, forbidden_hint="the OAuth client was refused")
            raise QuotaCheckError(f"token refresh failed: {detail} - log in again")
        token = parse_json(response, ctx)
        access = token.get("access_token") if isinstance(token, Mapping) else None
        if not isinstance(access, str) or not access:
            raise QuotaCheckError("token refresh failed: no access_token in the response - log in again")
        return access

    @abstractmethod
    def _headers(self, token: str) -> dict[str, str]:
        """The request headers the family's own client sends."""

    async def _post(self, urls: Iterable[str], token: str, body: Mapping[str, Any],
                    ctx: CheckContext) -> Any:
        """POST to each URL in turn until one answers 2xx; the last error otherwise."""
        import httpx  # here, not at import time: registering the checkers must stay cheap for every command

        last = "no endpoint configured"
        for url in urls:
            try:
                response = await ctx.client.post(url, json=dict(body), headers=self._headers(token),
                                                 timeout=ctx.timeout)
            except httpx.TimeoutException:
                last = f"timed out after {ctx.timeout:g}s ({url})"
                continue
            except httpx.TransportError as exc:
                last = f"cannot reach {url}: {type(exc).__name__}"
                continue
            if response.is_success:
                return parse_json(response, ctx)
            last = describe_response(response, ctx, forbidden_hint=self._forbidden)
        raise QuotaCheckError(last)

    async def check(self, account: str, credential: Credential | None, ctx: CheckContext) -> QuotaSnapshot:
        """Choose (or refresh) the token, then ask the quota endpoint."""
        secret = credential.secret if credential is not None else {}
        if credential is None or credential.kind != "oauth":
            return failed_snapshot(account, "missing-auth", "not logged in", now=ctx.now, source=self.base)
        if not any(isinstance(secret.get(k), str) and secret.get(k) for k in ("access", "refresh")):
            return failed_snapshot(account, "missing-auth", "missing Google tokens", now=ctx.now, source=self.base)
        ctx = ctx.with_secrets([secret.get("access"), secret.get("refresh")])
        token = await self._token(secret, ctx)
        ctx = ctx.with_secrets([token])
        project = self._project(secret, ctx.env)
        return await self._query(account, token, project, ctx)

    @abstractmethod
    async def _query(self, account: str, token: str, project: str, ctx: CheckContext) -> QuotaSnapshot:
        """Ask the family's endpoint and parse the answer."""


class GeminiCliChecker(_GoogleChecker):
    """Quota checker for ``google-gemini-cli`` accounts."""

    base = "google-gemini-cli"
    _forbidden = "this Google account has no Gemini Code Assist quota access (check the project id)"

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json",
                "Content-Type": "application/json", "User-Agent": "google-api-nodejs-client/9.15.1",
                "X-Goog-Api-Client": "gl-node/22.17.0"}

    async def _query(self, account: str, token: str, project: str, ctx: CheckContext) -> QuotaSnapshot:
        urls = [u + "/v1internal:retrieveUserQuota" for u in ctx.base_urls(self.base, [GEMINI_BASE])]
        data = await self._post(urls, token, {"project": project} if project else {}, ctx)
        return parse_gemini_buckets(account, data, now=ctx.now, source=self.base)


class AntigravityChecker(_GoogleChecker):
    """Quota checker for ``google-antigravity`` accounts."""

    base = "google-antigravity"
    _forbidden = "the project and account do not belong together (check projectId)"

    def _headers(self, token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}", "Accept": "application/json",
                "Content-Type": "application/json", "User-Agent": "antigravity/1.11.9 windows/amd64",
                "X-Goog-Api-Client": "google-cloud-sdk vscode_cloudshelleditor/0.1",
                "Client-Metadata": '{"ideType":"IDE_UNSPECIFIED","platform":"PLATFORM_UNSPECIFIED",'
                                   '"pluginType":"GEMINI"}'}

    async def _query(self, account: str, token: str, project: str, ctx: CheckContext) -> QuotaSnapshot:
        urls = [u + "/v1internal:fetchAvailableModels" for u in ctx.base_urls(self.base, ANTIGRAVITY_BASES)]
        data = await self._post(urls, token, {"project": project} if project else {}, ctx)
        return parse_antigravity_models(account, data, now=ctx.now, source=self.base)

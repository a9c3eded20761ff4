"""What a quota checker gets to work with (:class:`CheckContext`), endpoint overrides, and HTTP error wording.

Endpoints are looked up per base provider in this order: the environment variable
(``CHATGPT_BASE_URL`` as pi-multi-pass reads it, ``MP_POLICY_GEMINI_BASE_URL``,
``MP_POLICY_ANTIGRAVITY_BASE_URLS`` (comma-separated, tried in order),
``MP_POLICY_ANTHROPIC_BASE_URL``, ``MP_POLICY_COPILOT_BASE_URL``), then the policy's
``settings.quotaEndpoints``, then the provider's public endpoint. Trailing slashes are dropped.

Error messages say what to do (401: log in again; 403: a scope or project problem) and never
contain a token: every message passes through :meth:`CheckContext.scrub`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from policy_engine.common.records import dataclass

if TYPE_CHECKING:
    import httpx

__all__ = ["ENDPOINT_ENV", "CheckContext", "QuotaCheckError", "describe_response", "parse_json"]

#: Environment variable that overrides each base provider's quota endpoint(s).
ENDPOINT_ENV: dict[str, str] = {
    "openai-codex": "CHATGPT_BASE_URL",
    "google-gemini-cli": "MP_POLICY_GEMINI_BASE_URL",
    "google-antigravity": "MP_POLICY_ANTIGRAVITY_BASE_URLS",
    "anthropic": "MP_POLICY_ANTHROPIC_BASE_URL",
    "github-copilot": "MP_POLICY_COPILOT_BASE_URL",
}

_MAX_DETAIL = 200  # characters of a response body quoted in an error


class QuotaCheckError(Exception):
    """A check failed in a way the user can act on; the message is already free of secrets."""


@dataclass(frozen=True)
class CheckContext:
    """The HTTP client, the clock reading, the environment and the policy's endpoint overrides."""

    client: httpx.AsyncClient
    now: datetime
    env: Mapping[str, str] = field(default_factory=dict)
    endpoints: Mapping[str, Sequence[str]] = field(default_factory=dict)
    timeout: float = 10.0
    secrets: tuple[str, ...] = ()

    def base_urls(self, base: str, defaults: Sequence[str]) -> list[str]:
        """The endpoint base URL(s) for ``base``: environment, then ``settings.quotaEndpoints``, then defaults."""
        env_name = ENDPOINT_ENV.get(base)
        raw = self.env.get(env_name, "") if env_name else ""
        urls: Iterable[str] = [u for u in raw.split(",") if u.strip()] if raw.strip() else ()
        if not urls:
            urls = self.endpoints.get(base) or defaults
        return [u.strip().rstrip("/") for u in urls]

    def with_secrets(self, values: Iterable[Any]) -> CheckContext:
        """A copy that also scrubs these values (an account's tokens) from every message."""
        extra = tuple(v for v in values if isinstance(v, str) and len(v) >= 6)
        return CheckContext(self.client, self.now, self.env, self.endpoints, self.timeout, self.secrets + extra)

    def scrub(self, text: str) -> str:
        """``text`` with every known token replaced by ``***``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


def _body_message(response: httpx.Response) -> str:
    text = response.text.strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        return text[:_MAX_DETAIL]
    candidates: list[Any] = []
    if isinstance(data, list) and data:
        data = data[0]  # Google wraps streaming errors in an array
    if isinstance(data, Mapping):
        error = data.get("error")
        if isinstance(error, Mapping):
            candidates += [error.get("message"), error.get("error_description")]
        elif isinstance(error, str):
            candidates += [data.get("error_description"), error]
        details = data.get("error_details")
        if isinstance(details, Mapping):
            candidates.append(details.get("message"))
        candidates += [data.get("message"), data.get("detail")]
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate.strip()[:_MAX_DETAIL]
    return text[:_MAX_DETAIL]


def describe_response(response: httpx.Response, ctx: CheckContext, *, forbidden_hint: str) -> str:
    """A short, actionable description of a non-2xx response (never a token).

    401: the login expired or was revoked, log in again. 403: ``forbidden_hint`` (a scope or
    project problem, in the provider's words). 429: the usage endpoint's own rate limit (the
    cached value stays). Anything else: ``HTTP <status>: <message from the body>``.
    """
    status = response.status_code
    message = ctx.scrub(_body_message(response))
    suffix = f": {message}" if message else ""
    if status == 401:
        return f"HTTP 401 unauthorized{suffix} - log in again"
    if status == 403:
        return f"HTTP 403 forbidden{suffix} - {forbidden_hint}"
    if status == 429:
        retry = response.headers.get("retry-after")
        wait = f" (retry after {retry}s)" if retry and retry.strip().isdigit() and retry.strip() != "0" else ""
        return f"HTTP 429 rate limited by the usage endpoint{wait}{suffix}; keeping the last known value"
    return f"HTTP {status}{suffix}"


def parse_json(response: httpx.Response, ctx: CheckContext) -> Any:
    """The response body as JSON, or :class:`QuotaCheckError` naming the endpoint."""
    try:
        return json.loads(response.content)
    except ValueError:
        raise QuotaCheckError(f"invalid JSON from {ctx.scrub(str(response.request.url))}") from None

"""Built-in error rules of the five base providers.

Each rule is a :data:`policy_engine.classify.ProviderRule`: it looks at the error and the
:class:`~policy_engine.classify.ParsedError` and returns ``(kind, reason)`` or ``None`` (no
opinion). The classifier consults them after a policy's own ``errorRules`` and before the generic
rules, first answer wins. Decisions taken here (see the quota-endpoints reference):

- anthropic: a 429 with ``anthropic-ratelimit-unified-status: rejected`` (or any plan window
  ``-5h``/``-7d``/``-7d_oi`` ``-status: rejected``) is ``quota_exhausted`` (a plan window is used
  up); without it a 429 is a plain ``rate_limit``. "out of extra usage", "extra usage is required",
  "draw from your extra usage", "credit balance is too low" and the old Claude Code
  "usage limit reached|<epoch>" are ``quota_exhausted`` whatever the status (they come as 400/429).
- openai-codex: ``usage_limit_reached`` / ``usage_not_included`` (as ``error.type`` or
  ``error.code``) and a 429 with any ``x-codex-*-used-percent`` >= 100 are ``quota_exhausted``;
  pi's own "You have hit your ChatGPT usage limit" text is ``quota_exhausted`` too (pi writes it
  for ``usage_limit_reached``, ``usage_not_included`` and ``rate_limit_exceeded`` alike, so the
  text cannot tell them apart); a structured ``rate_limit_exceeded`` is ``rate_limit``.
- github-copilot: 402 or code ``quota_exceeded`` is ``quota_exhausted``; the token-exchange 403
  ``notification_id`` ``no_copilot_access`` / ``subscription_ended`` is ``auth`` (the account has
  no Copilot), ``billing_locked`` is ``quota_exhausted`` (the account cannot pay; another may);
  GitHub's "API rate limit exceeded" (403 or 429) is ``rate_limit``.
- google-gemini-cli, google-antigravity: ``ErrorInfo`` reasons (``QUOTA_EXHAUSTED``,
  ``RATE_LIMIT_EXCEEDED``, ``MODEL_CAPACITY_EXHAUSTED`` …, see
  :func:`~policy_engine.classify.google_reason_rule`), ``VALIDATION_REQUIRED`` is ``auth``; a bare
  ``RESOURCE_EXHAUSTED`` without a reason is ``rate_limit`` unless its text says the quota is used
  up ("Individual quota reached"), as Gemini CLI treats it as retryable.
"""

from __future__ import annotations

import re
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the rules are registered by every CLI call; the classifier's modules load when one runs
    from policy_engine.classify.model import ErrorInfo, ErrorKind, ParsedError, ProviderRule

__all__ = ["BASE_PROVIDERS", "BUILTIN_PROVIDER_RULES"]

BASE_PROVIDERS: MappingProxyType[str, str] = MappingProxyType(
    {
        "anthropic": "Anthropic (Claude Pro/Max)",
        "openai-codex": "ChatGPT Plus/Pro (Codex)",
        "github-copilot": "GitHub Copilot",
        "google-gemini-cli": "Google Cloud Code Assist",
        "google-antigravity": "Antigravity",
    }
)
"""The base providers, in pi-multi-pass order: base key -> display name."""


# ---------------------------------------------------------------------------------------------
# Anthropic

# Patterns are searched in ParsedError.lower (the lower-cased text), so they are written lower-case.
_ANTHROPIC_QUOTA_TEXT = re.compile(
    r"out of extra usage|extra usage is required|draw from your extra usage|credit balance is too low"
    r"|usage limit reached\|\d{10}"
)
_UNIFIED_WINDOW = re.compile(r"^anthropic-ratelimit-unified-(.+)-status$")


def anthropic_unified_rejected(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """429 (or no status) with a ``rejected`` unified status: a plan window is used up."""
    if p.status not in (429, None):
        return None
    h = p.headers
    claim = h.get("anthropic-ratelimit-unified-representative-claim")
    detail = f", claim {claim}" if claim else ""
    if h.get("anthropic-ratelimit-unified-status", "").lower() == "rejected":
        return "quota_exhausted", (
            f"{p.status_label()} with anthropic-ratelimit-unified-status rejected{detail} ({info.base})"
        )
    for name, value in h.items():
        window = _UNIFIED_WINDOW.match(name)
        if window and window.group(1) != "overage" and value.lower() == "rejected":
            return "quota_exhausted", f"{p.status_label()} with {name} rejected{detail} ({info.base})"
    return None


def anthropic_quota_text(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """Extra usage and credit balance messages (usually a 400 ``invalid_request_error``)."""
    phrase = p.search(_ANTHROPIC_QUOTA_TEXT)
    if phrase:
        return "quota_exhausted", f"{p.status_label()}; message says '{phrase}' ({info.base})"
    return None


# ---------------------------------------------------------------------------------------------
# ChatGPT Codex

_CODEX_USAGE_TEXT = re.compile(r"hit your chatgpt usage limit")
_USED_PERCENT = re.compile(r"^x-(.+)-(primary|secondary)-used-percent$")


def codex_usage_error(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """``usage_limit_reached`` / ``usage_not_included`` in ``error.type`` or ``error.code``."""
    found = p.find(("usage_limit_reached", "usage_not_included"))
    if found:
        name, where = found
        return "quota_exhausted", f"{p.status_label()} with {where} {name} ({info.base})"
    return None


def codex_window_used_up(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """A 429 while a usage window (``x-codex-primary``/``secondary``) is at 100%."""
    if p.status != 429:
        return None
    for name, value in p.headers.items():
        if _USED_PERCENT.match(name):
            try:
                percent = float(value)
            except ValueError:
                continue
            if percent >= 100:
                return "quota_exhausted", f"HTTP 429 with {name} {value} ({info.base})"
    return None


def codex_usage_text(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """pi's friendly Codex text "You have hit your ChatGPT usage limit …"."""
    phrase = p.search(_CODEX_USAGE_TEXT)
    if phrase:
        return "quota_exhausted", f"{p.status_label()}; message says '{phrase}' ({info.base})"
    return None


def codex_rate_limit(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """A structured ``rate_limit_exceeded``: a short-term rate limit."""
    found = p.find(("rate_limit_exceeded",))
    if found:
        return "rate_limit", f"{p.status_label()} with {found[1]} {found[0]} ({info.base})"
    return None


# ---------------------------------------------------------------------------------------------
# GitHub Copilot

_GITHUB_RATE_TEXT = re.compile(r"api rate limit exceeded|secondary rate limit")
_COPILOT_NOTIFICATIONS: dict[str, ErrorKind] = {
    "no_copilot_access": "auth",
    "subscription_ended": "auth",
    "billing_locked": "quota_exhausted",
}


def copilot_quota(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """402, or ``error.code: quota_exceeded``: the monthly premium allowance is used up."""
    found = p.find(("quota_exceeded",))
    if found:
        return "quota_exhausted", f"{p.status_label()} with {found[1]} {found[0]} ({info.base})"
    if p.status == 402:
        return "quota_exhausted", f"HTTP 402 ({info.base})"
    return None


def copilot_access(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """Token-exchange ``notification_id``: no Copilot, subscription ended, billing locked."""
    for name, kind in _COPILOT_NOTIFICATIONS.items():
        where = p.codes.get(name)
        if where is not None:
            return kind, f"{p.status_label()} with {where} {name} ({info.base})"
    return None


def copilot_github_rate_limit(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """GitHub API's "API rate limit exceeded" (403 or 429)."""
    if p.status not in (403, 429, None):
        return None
    phrase = p.search(_GITHUB_RATE_TEXT)
    if phrase:
        return "rate_limit", f"{p.status_label()}; message says '{phrase}' ({info.base})"
    return None


# ---------------------------------------------------------------------------------------------
# Google Cloud Code Assist and Antigravity


def google_reasons(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """``ErrorInfo`` reasons (``VALIDATION_REQUIRED`` first, then the shared Google table)."""
    if "validation_required" in p.reasons:
        return "auth", f"{p.status_label()} with ErrorInfo.reason VALIDATION_REQUIRED ({info.base})"
    from policy_engine.classify.generic_rules import google_reason_rule

    return google_reason_rule(p, info.base)


def google_resource_exhausted(info: ErrorInfo, p: ParsedError) -> tuple[ErrorKind, str] | None:
    """A bare ``RESOURCE_EXHAUSTED``: rate_limit, unless the text says the quota is used up."""
    found = p.find(("resource_exhausted",))
    if found is None:
        return None
    reason = f"{p.status_label()} with {found[1]} {found[0]} and no quota reason ({info.base})"
    from policy_engine.classify.generic_rules import quota_text

    phrase = quota_text(p)
    if phrase:
        return "quota_exhausted", f"{reason}; the text says the quota is used up ('{phrase}')"
    return "rate_limit", reason


_GOOGLE_RULES: tuple[ProviderRule, ...] = (google_reasons, google_resource_exhausted)

BUILTIN_PROVIDER_RULES: dict[str, tuple[ProviderRule, ...]] = {
    "anthropic": (anthropic_unified_rejected, anthropic_quota_text),
    "openai-codex": (codex_usage_error, codex_window_used_up, codex_usage_text, codex_rate_limit),
    "github-copilot": (copilot_quota, copilot_access, copilot_github_rate_limit),
    "google-gemini-cli": _GOOGLE_RULES,
    "google-antigravity": _GOOGLE_RULES,
}
"""Base provider -> its error rules, in the order they are consulted."""

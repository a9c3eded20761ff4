"""Parsing one provider error once: status, structured types/codes, embedded JSON, Google details.

:func:`parse_error` turns an :class:`~policy_engine.classify.ErrorInfo` into a
:class:`~policy_engine.classify.ParsedError` that every rule reads; the retry/reset moments found
on the way are collected by :mod:`policy_engine.classify.retry_times`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from policy_engine.classify.model import ErrorInfo, ParsedError
from policy_engine.classify.patterns import _API_ERROR_PREFIX, _IDENT_OK, _LEAD_IDENT, _STATUS_PREFIX
from policy_engine.classify.readers import _as_status, _as_text, _ident, _json_in, _lower_headers, _unwrap
from policy_engine.classify.retry_times import _RetryMoments

_TEXT_LIMIT = 4096  # characters of message/body text searched by patterns (keeps a huge page cheap)
_JSON_LIMIT = 65536  # characters of a message searched for an embedded JSON body


class _Collector(_RetryMoments):
    """Mutable scratch space while parsing; frozen into a :class:`ParsedError` at the end."""

    def __init__(self, now: datetime) -> None:
        super().__init__(now)
        self.types: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        self.reasons: dict[str, str] = {}
        self.metadata: list[Mapping[str, str]] = []
        self.quota_ids: list[str] = []
        self.texts: list[str] = []
        self.body_status: int | None = None
        self.body_headers: dict[str, str] = {}

    @staticmethod
    def _put(table: dict[str, str], value: Any, where: str) -> None:
        if isinstance(value, str) and _IDENT_OK.match(value.strip()):
            table.setdefault(_ident(value), where)

    def type(self, value: Any, where: str) -> None:
        self._put(self.types, value, where)

    def code(self, value: Any, where: str) -> None:
        self._put(self.codes, value, where)

    # -- body ------------------------------------------------------------------------------

    def body(self, body: Mapping[str, Any], label: str, depth: int = 0) -> None:
        top_type = body.get("type")
        if top_type != "error":
            self.type(top_type, "type")
        status = body.get("status")
        if isinstance(status, str) and not status.strip().isdigit():
            self.type(status, "status")
        elif self.body_status is None:
            self.body_status = _as_status(status)  # Codex SSE wrapper: {"type":"error","status":429,...}
        self.code(body.get("code"), "code")
        if isinstance(body.get("message"), str):
            self.texts.append(body["message"])
        headers = body.get("headers")
        if isinstance(headers, Mapping):
            self.body_headers.update(_lower_headers(headers))
        details = body.get("error_details")
        if isinstance(details, Mapping):  # Copilot token exchange 403
            self.code(details.get("notification_id"), "error_details.notification_id")
            for key in ("title", "message"):
                if isinstance(details.get(key), str):
                    self.texts.append(details[key])
        error = body.get("error")
        if isinstance(error, Mapping):
            self.error(error, label, depth)
        elif isinstance(error, str):  # {"error": "invalid_grant"} or {"error": "some sentence"}
            if _IDENT_OK.match(error.strip()) and " " not in error.strip():
                self.code(error, "error")
            else:
                self.texts.append(error)
            if isinstance(body.get("error_description"), str):
                self.texts.append(body["error_description"])

    def error(self, error: Mapping[str, Any], label: str, depth: int) -> None:
        self.type(error.get("type"), "error.type")
        code = error.get("code")
        if isinstance(code, str):
            self.code(code, "error.code")
        elif self.body_status is None:
            self.body_status = _as_status(code)  # Google: {"code": 429, "status": "RESOURCE_EXHAUSTED"}
        status = error.get("status")
        if isinstance(status, str) and not status.strip().isdigit():
            self.type(status, "error.status")
        elif self.body_status is None:
            self.body_status = _as_status(status)
        message = error.get("message")
        if isinstance(message, str):
            self.texts.append(message)
            stripped = message.lstrip()
            if depth < 2 and stripped[:1] in ("{", "["):  # Google sometimes nests a JSON error
                nested = _unwrap(_json_in(stripped))
                if nested is not None:
                    self.body(nested, label, depth + 1)
        for item in error.get("errors") or ():  # older Vertex style: errors[].reason
            if isinstance(item, Mapping):
                self.code(item.get("reason"), "errors[].reason")
        self.error_resets(error, label)
        details = error.get("details")
        if isinstance(details, list):
            for item in details:
                if isinstance(item, Mapping):
                    self.google_detail(item, label)

    def google_detail(self, item: Mapping[str, Any], label: str) -> None:
        kind = _as_text(item.get("@type")).rsplit("/", 1)[-1]
        if kind.endswith("ErrorInfo") or (not kind and "reason" in item):
            reason = item.get("reason")
            if isinstance(reason, str) and _IDENT_OK.match(reason.strip()):
                self.reasons.setdefault(_ident(reason), "ErrorInfo.reason")
            metadata = item.get("metadata")
            if isinstance(metadata, Mapping):
                meta = {str(k): _as_text(v) for k, v in metadata.items()}
                self.metadata.append(meta)
                self.quota_reset(meta, label)
        elif kind.endswith("RetryInfo"):
            self.retry_info(item, label)
        elif kind.endswith("QuotaFailure"):
            for violation in item.get("violations") or ():
                if isinstance(violation, Mapping):
                    for key in ("quotaId", "quotaMetric"):
                        if isinstance(violation.get(key), str):
                            self.quota_ids.append(violation[key])


def _message_status(message: str) -> tuple[int | None, int]:
    """A status from a well-formed message prefix, and where the rest of the message starts."""
    match = _STATUS_PREFIX.match(message) or _API_ERROR_PREFIX.match(message)
    if match is None:
        return None, 0
    return int(match.group(1)), match.end()


def parse_error(info: ErrorInfo, now: datetime) -> ParsedError:
    """Extract everything rules need from ``info`` once. Never raises on odd input."""
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    c = _Collector(now)
    message = _as_text(info.message)[:_JSON_LIMIT]

    status = _as_status(info.status)
    status_source: str | None = "status" if status is not None else None
    prefix_status, rest = _message_status(message)
    if status is None and prefix_status is not None:
        status, status_source = prefix_status, "message prefix"

    c.type(info.type, "type")
    c.code(info.code, "code")
    lead = _LEAD_IDENT.match(message, rest)
    if lead:
        c.type(lead.group(1), "message prefix")

    body = info.body
    raw_text = ""
    if isinstance(body, bytes | bytearray):
        body = _as_text(body)
    if isinstance(body, str):
        stripped = body.strip()
        parsed = None
        if stripped[:1] in ("{", "["):
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):
                parsed = None
        if isinstance(parsed, dict | list):
            body = parsed
        else:
            raw_text, body = stripped, None
    mapping = _unwrap(body)
    body_source: str | None = "body" if mapping is not None else None
    if mapping is None and ("{" in message or "[" in message):
        mapping = _unwrap(_json_in(message))
        body_source = "message JSON" if mapping is not None else None
    if mapping is not None:
        c.body(mapping, body_source or "body")
    if status is None and c.body_status is not None:
        status, status_source = c.body_status, "body"

    headers = _lower_headers(info.headers)
    for name, value in c.body_headers.items():
        headers.setdefault(name, value)
    c.headers(headers)

    # the message first, then the body's own message fields, each capped, so a long message never hides them
    text = "\n".join(t[:_TEXT_LIMIT] for t in (message, *c.texts, raw_text) if t)[: 2 * _TEXT_LIMIT]
    lower = text.lower()
    c.text_retry(text, lower)

    return ParsedError(
        status=status,
        status_source=status_source,
        headers=headers,
        body=mapping,
        body_source=body_source,
        types=c.types,
        codes=c.codes,
        reasons=c.reasons,
        reason_metadata=tuple(c.metadata),
        quota_ids=tuple(c.quota_ids),
        text=text,
        lower=lower,
        retry=tuple(c.retry),
        retry_absolute=c.absolute,
    )

"""Every retry/reset moment an error can carry: headers, body fields, message text.

Readers for the time formats providers use (epoch seconds or milliseconds, RFC 3339, HTTP dates,
Go/protobuf durations, "9h22m20s"-style message phrases) and :class:`_RetryMoments`, which
collects the sane moments of one error as ``(moment, source)`` in discovery order. Moments that
are past, negative or more than :data:`~policy_engine.classify.MAX_RETRY_DELAY` away are dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from policy_engine.classify.model import MAX_RETRY_DELAY
from policy_engine.classify.patterns import (
    _EPOCH_TEXT,
    _GO_DURATION,
    _GO_PART,
    _RETRY_PART,
    _RETRY_TEXT,
    _UNIFIED_WINDOW_STATUS,
    _USED_PERCENT,
)
from policy_engine.classify.readers import _as_float

_TEXT_UNITS = {
    "ms": 0.001, "msec": 0.001, "msecs": 0.001, "millisecond": 0.001, "milliseconds": 0.001,
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
}  # fmt: skip
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_STANDARD_FAMILIES = ("requests", "tokens", "input-tokens", "output-tokens")


def _epoch(value: Any) -> datetime | None:
    number = _as_float(value)
    if number is None or number <= 0:
        return None
    if number >= 1e11:  # milliseconds
        number /= 1000.0
    try:
        return datetime.fromtimestamp(number, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _rfc3339(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _http_date(value: str) -> datetime | None:
    try:
        from email.utils import parsedate_to_datetime  # rarely needed: HTTP-date retry-after

        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment is None:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _instant(value: Any) -> datetime | None:
    """An absolute moment written as epoch seconds, RFC 3339 or an HTTP date."""
    moment = _epoch(value)
    if moment is None and isinstance(value, str):
        moment = _rfc3339(value) or _http_date(value)
    return moment


def _go_duration(value: Any) -> timedelta | None:
    """A Go/protobuf duration string ("900s", "479.417207ms", "161h39m41.3s"); numbers are seconds."""
    number = _as_float(value)
    if number is not None:
        return timedelta(seconds=number) if number >= 0 else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not _GO_DURATION.match(text):
        return None
    seconds = sum(float(n) * _GO_UNITS[u] for n, u in _GO_PART.findall(text))
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        return None


def _text_duration(text: str) -> timedelta | None:
    seconds = 0.0
    for number, unit in _RETRY_PART.findall(text):
        factor = _TEXT_UNITS.get(unit.lower())
        if factor is None:
            return None
        seconds += float(number) * factor
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        return None


def _seconds(value: float) -> timedelta | None:
    try:
        return timedelta(seconds=value)
    except OverflowError:
        return None


class _RetryMoments:
    """The retry/reset moments of one error, as ``(moment, source)`` in discovery order."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.retry: list[tuple[datetime, str]] = []
        self.absolute = False  # an absolute moment was seen: whether it counts depends on ``now``

    def at(self, moment: datetime | None, source: str) -> None:
        """Record an absolute moment (dropped when past or absurdly far)."""
        if moment is None:
            return
        self.absolute = True
        if self.now <= moment <= self.now + MAX_RETRY_DELAY:
            self.retry.append((moment, source))

    def after(self, delay: timedelta | None, source: str) -> None:
        """Record a delay from now (dropped when negative or absurdly long)."""
        if delay is None or delay < timedelta(0) or delay > MAX_RETRY_DELAY:
            return
        self.retry.append((self.now + delay, source))

    # -- body ------------------------------------------------------------------------------

    def error_resets(self, error: Mapping[str, Any], label: str) -> None:
        """Codex body fields: ``error.resets_at`` (epoch seconds) and ``error.resets_in_seconds``."""
        self.at(_epoch(error.get("resets_at")), f"{label} error.resets_at")
        seconds = _as_float(error.get("resets_in_seconds"))
        if seconds is not None:
            self.after(_seconds(seconds), f"{label} error.resets_in_seconds")

    def quota_reset(self, meta: Mapping[str, str], label: str) -> None:
        """Google ``ErrorInfo.metadata``: ``quotaResetDelay`` (Go duration), ``quotaResetTimeStamp``."""
        self.after(_go_duration(meta.get("quotaResetDelay")), f"{label} ErrorInfo quotaResetDelay")
        self.at(_rfc3339(meta.get("quotaResetTimeStamp")), f"{label} ErrorInfo quotaResetTimeStamp")

    def retry_info(self, item: Mapping[str, Any], label: str) -> None:
        """Google ``RetryInfo.retryDelay`` (Go duration)."""
        self.after(_go_duration(item.get("retryDelay")), f"{label} RetryInfo.retryDelay")

    # -- headers -----------------------------------------------------------------------------

    def joined_retry_after(self, value: str) -> None:
        """A ``retry-after`` sent more than once, its values joined with ``, `` (as HTTP joins a repeated field):
        each delay and HTTP date counts (the latest wins, as for every retry time). An HTTP date has a comma of
        its own (``Wed, 09 Dec 2026 11:00:00 GMT``), so a piece that is no value is tried with the next one."""
        pieces = [piece.strip() for piece in value.split(",")]
        k = 0
        while k < len(pieces):
            seconds = _as_float(pieces[k])
            if seconds is not None:
                self.after(_seconds(seconds), "header retry-after")
            elif k + 1 < len(pieces) and (moment := _http_date(f"{pieces[k]}, {pieces[k + 1]}")) is not None:
                self.at(moment, "header retry-after")
                k += 1
            else:
                self.at(_http_date(pieces[k]), "header retry-after")
            k += 1

    def headers(self, h: Mapping[str, str]) -> None:
        value = h.get("retry-after")
        if value:
            seconds = _as_float(value)
            if seconds is not None:
                self.after(_seconds(seconds), "header retry-after")
            elif (moment := _http_date(value)) is not None or "," not in value:
                self.at(moment, "header retry-after")
            else:
                self.joined_retry_after(value)
        seconds = _as_float(h.get("retry-after-ms"))
        if seconds is not None:
            self.after(_seconds(seconds / 1000.0), "header retry-after-ms")
        if not any(name.startswith(("anthropic-", "x-")) for name in h):
            return
        if h.get("anthropic-ratelimit-unified-status", "").lower() == "rejected":
            self.at(
                _instant(h.get("anthropic-ratelimit-unified-reset")),
                "header anthropic-ratelimit-unified-reset",
            )
        for family in _STANDARD_FAMILIES:
            if _as_float(h.get(f"anthropic-ratelimit-{family}-remaining")) == 0:
                name = f"anthropic-ratelimit-{family}-reset"
                self.at(_instant(h.get(name)), f"header {name}")
        for name, value in h.items():
            window = _UNIFIED_WINDOW_STATUS.match(name)
            if window and window.group(1) != "overage" and value.lower() == "rejected":
                reset = f"anthropic-ratelimit-unified-{window.group(1)}-reset"
                self.at(_instant(h.get(reset)), f"header {reset}")
                continue
            used = _USED_PERCENT.match(name)
            if used:
                percent = _as_float(value)
                if percent is not None and percent >= 100:
                    prefix = f"x-{used.group(1)}-{used.group(2)}"
                    moment = _epoch(h.get(f"{prefix}-reset-at"))
                    if moment is not None:
                        self.at(moment, f"header {prefix}-reset-at")
                    else:
                        after = _as_float(h.get(f"{prefix}-reset-after-seconds"))
                        if after is not None:
                            self.after(_seconds(after), f"header {prefix}-reset-after-seconds")

    # -- message text ------------------------------------------------------------------------

    def text_retry(self, text: str, lower: str) -> None:
        if not lower:
            return
        same = len(text) == len(lower)
        for pattern in (_RETRY_TEXT, _EPOCH_TEXT):
            for match in pattern.finditer(lower):
                phrase = text[match.start() : match.end()] if same else match.group(0)
                source = f"message '{phrase.strip()}'"
                if pattern is _RETRY_TEXT:
                    self.after(_text_duration(match.group(1)), source)
                else:
                    self.at(_epoch(match.group(1)), source)

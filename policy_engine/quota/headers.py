"""Passive quota capture: the quota that normal responses (and 429s) carry in their headers.

An agent that embeds the engine passes the response headers to ``Engine.succeed`` or
``Engine.fail``; when they carry quota, the quota cache is updated in the same state batch, so
``quota-first`` gets fresh numbers without any polling (source ``headers``). Header names are
matched case-insensitively. Read here (quota-endpoints §1.3, §2.3, §3.2):

* Codex ``x-codex-primary-*`` / ``x-codex-secondary-*``: used percent, window length in minutes
  (300 = 5 h, 10080 = 7 d, 0 = absent; never assume primary means 5 h) and reset epoch.
* Anthropic ``anthropic-ratelimit-unified-{5h,7d}-{utilization,reset}``: a *fraction* used and a
  reset epoch; ``7d_oi`` is a per-model weekly window (listed, not the bottleneck).
* Copilot ``x-quota-snapshot-<id>``: URL-encoded ``ent``/``rem``/``rst`` (``ent=-1`` unlimited).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from urllib.parse import parse_qs

from policy_engine.quota.status import clamp_percent, snapshot_from_windows
from policy_engine.quota.values import from_epoch, from_iso, number_text
from policy_engine.state import QuotaSnapshot, QuotaWindow

__all__ = ["HEADER_PARSERS", "snapshot_from_headers"]

SOURCE = "headers"
_CODEX_WINDOWS = {300: "5h", 10080: "7d"}


def _codex(account: str, h: Mapping[str, str], now: datetime) -> QuotaSnapshot | None:
    found: dict[str, QuotaWindow] = {}
    for which in ("primary", "secondary"):
        prefix = f"x-codex-{which}-"
        used, minutes = number_text(h.get(prefix + "used-percent")), number_text(h.get(prefix + "window-minutes"))
        if used is None or minutes is None:
            continue
        name = _CODEX_WINDOWS.get(round(minutes))
        if name is not None and name not in found:
            found[name] = QuotaWindow(name, clamp_percent(100.0 - used), from_epoch(h.get(prefix + "reset-at")))
    if not found:
        return None
    windows = [found[n] for n in ("5h", "7d") if n in found]
    plan = h.get("x-codex-plan-type") or "plan unknown"
    summary = " | ".join([plan, *(f"{w.name} {w.remaining:g}%" for w in windows)])
    return snapshot_from_windows(account, windows, now=now, source=SOURCE, summary=summary)


def _anthropic(account: str, h: Mapping[str, str], now: datetime) -> QuotaSnapshot | None:
    prefix = "anthropic-ratelimit-unified-"

    def window(key: str, name: str) -> QuotaWindow | None:
        used = number_text(h.get(f"{prefix}{key}-utilization"))
        if used is None:
            return None
        return QuotaWindow(name, clamp_percent(100.0 - used * 100.0), from_epoch(h.get(f"{prefix}{key}-reset")))

    windows = [w for w in (window("5h", "5h"), window("7d", "7d")) if w is not None]
    scoped = [w for w in (window("7d_oi", "7d model"),) if w is not None]
    if not windows:
        return None
    parts = [f"{w.name} {w.remaining:g}%" for w in windows] + [f"{w.name} {w.remaining:g}% (model)" for w in scoped]
    status = h.get(prefix + "status")
    if status:
        parts.append(status)
    return snapshot_from_windows(account, windows, now=now, source=SOURCE, summary=" | ".join(parts), scoped=scoped)


def _copilot(account: str, h: Mapping[str, str], now: datetime) -> QuotaSnapshot | None:
    windows: list[QuotaWindow] = []
    for name, value in sorted(h.items()):
        if not name.startswith("x-quota-snapshot-"):
            continue
        fields = {k: v[0] for k, v in parse_qs(value, keep_blank_values=True).items() if v}
        entitlement, remaining = number_text(fields.get("ent")), number_text(fields.get("rem"))
        if remaining is None or entitlement is None or entitlement < 0 or entitlement == 0:
            continue  # -1: unlimited; 0: a placeholder
        reset = from_iso(fields.get("rst"))
        label = name.removeprefix("x-quota-snapshot-").replace("premium_interactions", "premium")
        windows.append(QuotaWindow(label, clamp_percent(remaining), reset))
    if not windows:
        return None
    summary = " | ".join(f"{w.name} {w.remaining:g}%" for w in windows)
    return snapshot_from_windows(account, windows, now=now, source=SOURCE, summary=summary)


#: Header parsers by base provider.
HEADER_PARSERS: dict[str, Callable[[str, Mapping[str, str], datetime], QuotaSnapshot | None]] = {
    "openai-codex": _codex,
    "anthropic": _anthropic,
    "github-copilot": _copilot,
}


def snapshot_from_headers(account: str, base: str | None, headers: Mapping[str, str] | None,
                          now: datetime) -> QuotaSnapshot | None:
    """The quota that ``headers`` carry for ``account`` (of family ``base``), or ``None``."""
    if not headers or base not in HEADER_PARSERS:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    return HEADER_PARSERS[base](account, lowered, now)

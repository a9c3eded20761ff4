"""Passive capture: quota read from the headers of normal responses and 429s."""

from __future__ import annotations

from datetime import UTC, datetime

import payloads as P
import pytest

from policy_engine.quota.headers import snapshot_from_headers

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)


def _windows(snap: object) -> dict[str, float | None]:
    return {w.name: w.remaining for w in snap.windows}  # type: ignore[attr-defined]


def test_codex_429_headers() -> None:
    snap = snapshot_from_headers("openai-codex-2", "openai-codex", P.CODEX_429_HEADERS, NOW)
    assert snap is not None and snap.source == "headers" and snap.provider == "openai-codex-2"
    assert _windows(snap) == {"5h": 0, "7d": 20}
    assert (snap.remaining, snap.status) == (0, "blocked")
    assert snap.windows[0].resets_at == datetime.fromtimestamp(1777936568, UTC)


def test_codex_200_headers_match_the_usage_endpoint() -> None:
    snap = snapshot_from_headers("openai-codex", "openai-codex", P.CODEX_200_HEADERS, NOW)
    assert snap is not None and _windows(snap) == {"5h": 58, "7d": 88} and snap.summary == "plus | 5h 58% | 7d 88%"


def test_codex_free_plan_primary_is_weekly() -> None:
    headers = {"x-codex-primary-used-percent": "30", "x-codex-primary-window-minutes": "10080",
               "x-codex-secondary-used-percent": "", "x-codex-secondary-window-minutes": "0"}
    snap = snapshot_from_headers("openai-codex", "openai-codex", headers, NOW)
    assert snap is not None and _windows(snap) == {"7d": 70}


def test_anthropic_headers_are_fractions() -> None:
    snap = snapshot_from_headers("anthropic", "anthropic", P.ANTHROPIC_429_HEADERS, NOW)
    assert snap is not None and _windows(snap) == {"5h": 69, "7d": 0}
    assert snap.status == "blocked" and "rejected" in snap.summary
    ok = snapshot_from_headers("anthropic", "anthropic", P.ANTHROPIC_200_HEADERS, NOW)
    assert ok is not None and _windows(ok) == {"5h": 69, "7d": 58} and ok.status == "ready"


def test_anthropic_per_model_window_is_not_the_bottleneck() -> None:
    headers = {**P.ANTHROPIC_200_HEADERS, "anthropic-ratelimit-unified-7d_oi-utilization": "0.97",
               "anthropic-ratelimit-unified-7d_oi-reset": "1790730000"}
    snap = snapshot_from_headers("anthropic", "anthropic", headers, NOW)
    assert snap is not None and _windows(snap)["7d model"] == 3 and snap.remaining == 58


def test_copilot_quota_snapshot_header() -> None:
    snap = snapshot_from_headers("github-copilot", "github-copilot", P.COPILOT_QUOTA_HEADERS, NOW)
    assert snap is not None and _windows(snap) == {"premium": 41}
    assert snap.windows[0].resets_at == datetime(2026, 9, 1, tzinfo=UTC)
    unlimited = {"x-quota-snapshot-chat": "ent=-1&ov=0.0&ovPerm=false&rem=100.0&rst=&totRem=0"}
    assert snapshot_from_headers("github-copilot", "github-copilot", unlimited, NOW) is None


def test_header_names_are_case_insensitive() -> None:
    upper = {k.upper(): v for k, v in P.CODEX_200_HEADERS.items()}
    assert snapshot_from_headers("openai-codex", "openai-codex", upper, NOW) is not None


@pytest.mark.parametrize(("base", "headers"), [
    ("openai-codex", {}), ("openai-codex", None), ("openai-codex", {"x-codex-primary-used-percent": "abc",
                                                                     "x-codex-primary-window-minutes": "300"}),
    ("anthropic", {"anthropic-ratelimit-unified-status": "allowed"}),
    ("google-gemini-cli", P.CODEX_200_HEADERS),  # no header capture for Google
    (None, P.CODEX_200_HEADERS),
])
def test_headers_without_quota_give_nothing(base: str | None, headers: dict[str, str] | None) -> None:
    assert snapshot_from_headers("x", base, headers, NOW) is None

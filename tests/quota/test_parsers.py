"""Parsing each provider's usage payload into a snapshot (the reference payloads, their variants, bad input)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import payloads as P
import pytest

from policy_engine.quota.anthropic import parse_anthropic_usage
from policy_engine.quota.codex import jwt_claims, parse_codex_usage
from policy_engine.quota.copilot import parse_copilot_user
from policy_engine.quota.google import parse_antigravity_models, parse_gemini_buckets

NOW = datetime(2026, 4, 4, 12, 0, tzinfo=UTC)


def _windows(snap: Any) -> dict[str, float | None]:
    return {w.name: w.remaining for w in snap.windows}


# -- Codex ------------------------------------------------------------------------------------

def test_codex_reference_payload() -> None:
    snap = parse_codex_usage("openai-codex", P.CODEX_USAGE, now=NOW)
    assert _windows(snap) == {"5h": 58, "7d": 88}
    assert snap.remaining == 58 and snap.status == "ready"
    assert snap.summary == "plus | 5h 58% | 7d 88%"
    assert snap.windows[0].resets_at == datetime.fromtimestamp(P.CODEX_RESET_5H, UTC)


def test_codex_windows_are_matched_by_length_not_position() -> None:
    snap = parse_codex_usage("openai-codex", P.CODEX_USAGE_SWAPPED, now=NOW)
    assert _windows(snap) == {"5h": 90, "7d": 65}


def test_codex_free_plan_has_only_the_weekly_window() -> None:
    snap = parse_codex_usage("openai-codex", P.CODEX_USAGE_FREE, now=NOW)
    assert list(_windows(snap)) == ["7d"]
    assert snap.status != "error"


@pytest.mark.parametrize(("used", "status", "remaining"), [
    ((20, 40), "ready", 60), ((75, 20), "watch", 25), ((88, 15), "low", 12), ((97, 10), "blocked", 3),
    ((42, 12), "ready", 58), ((120, 0), "blocked", 0),
])
def test_codex_severity(used: tuple[float, float], status: str, remaining: float) -> None:
    snap = parse_codex_usage("c", P.codex_usage(*used), now=NOW)
    assert (snap.status, snap.remaining) == (status, remaining)


@pytest.mark.parametrize("body", [P.CODEX_USAGE_EMPTY, {"rate_limit": None}, [], "text",
                                  {"rate_limit": {"primary_window": {"used_percent": 5, "limit_window_seconds": 60}}}])
def test_codex_without_a_known_window_is_an_error(body: Any) -> None:
    snap = parse_codex_usage("c", body, now=NOW)
    assert snap.status == "error" and snap.remaining is None


def test_codex_plan_falls_back_to_the_token_claim() -> None:
    body = copy.deepcopy(P.CODEX_USAGE)
    del body["plan_type"]
    assert parse_codex_usage("c", body, now=NOW, plan_hint="pro").summary.startswith("pro |")


def test_jwt_claims_reads_the_payload_and_tolerates_garbage() -> None:
    claims = jwt_claims(P.codex_jwt())
    assert claims[P.OPENAI_AUTH_CLAIM]["chatgpt_account_id"] == P.CODEX_ACCOUNT_ID
    assert jwt_claims("not-a-jwt") == {} and jwt_claims("a.@@@.c") == {}


# -- Google -----------------------------------------------------------------------------------

def test_gemini_reference_payload() -> None:
    snap = parse_gemini_buckets("google-gemini-cli", P.GEMINI_QUOTA, now=NOW)
    assert _windows(snap) == {"Flash": 25, "Pro": 82}
    assert (snap.remaining, snap.status) == (25, "watch")
    assert snap.summary == "2 families | bottleneck 25%"


def test_gemini_families_merge_to_the_minimum_and_earliest_reset() -> None:
    snap = parse_gemini_buckets("g", P.GEMINI_QUOTA_DUPLICATE_PRO, now=NOW)
    windows = {w.name: w for w in snap.windows}
    assert windows["Pro"].remaining == 61 and windows["Pro"].resets_at is not None
    assert snap.remaining == 25


@pytest.mark.parametrize("body", [P.GEMINI_QUOTA_EMPTY, {}, None, {"buckets": [{"modelId": "x"}]},
                                  {"buckets": [{"modelId": "x", "remainingFraction": "0.5"}]}])
def test_gemini_without_data_is_an_error(body: Any) -> None:
    snap = parse_gemini_buckets("g", body, now=NOW)
    assert snap.status == "error" and snap.summary == "no model quota data returned"


def test_antigravity_reference_payload() -> None:
    snap = parse_antigravity_models("google-antigravity", P.ANTIGRAVITY_MODELS, now=NOW)
    names = set(_windows(snap))
    assert "tab_flash_lite_preview" not in names and "Internal" not in names
    assert len(names) == 3 and snap.remaining == 42 and snap.status == "ready"
    assert snap.summary == "3 models | bottleneck 42%"


def test_antigravity_merges_labels_and_falls_back_to_the_model_name() -> None:
    snap = parse_antigravity_models("a", P.ANTIGRAVITY_MODELS_MERGE, now=NOW)
    assert snap.remaining == 42
    assert len(snap.windows) == 2


def test_antigravity_without_models_is_an_error() -> None:
    assert parse_antigravity_models("a", P.ANTIGRAVITY_MODELS_EMPTY, now=NOW).status == "error"


# -- Anthropic --------------------------------------------------------------------------------

def test_anthropic_reference_payload_reads_limits_first() -> None:
    snap = parse_anthropic_usage("anthropic", P.ANTHROPIC_USAGE, now=NOW)
    assert _windows(snap) == {"5h": 84, "7d": 58, "7d Fable": 17}
    assert (snap.remaining, snap.status) == (58, "ready")  # a per-model window is not the account's bottleneck
    assert "extra usage 7.63/20.00 USD" in snap.summary


def test_anthropic_legacy_windows() -> None:
    snap = parse_anthropic_usage("anthropic", P.ANTHROPIC_USAGE_LEGACY, now=NOW)
    assert {"5h", "7d"} <= set(_windows(snap))
    assert snap.remaining == min(v for k, v in _windows(snap).items() if k in ("5h", "7d"))


def test_anthropic_without_five_hour_window_uses_the_weekly_one() -> None:
    snap = parse_anthropic_usage("anthropic", P.ANTHROPIC_USAGE_NO_FIVE_HOUR, now=NOW)
    assert "5h" not in _windows(snap) and "7d" in _windows(snap)
    assert snap.status != "error"


@pytest.mark.parametrize("body", [{}, {"five_hour": None, "seven_day": None}, [], {"limits": []}])
def test_anthropic_without_windows_is_an_error(body: Any) -> None:
    assert parse_anthropic_usage("a", body, now=NOW).status == "error"


# -- Copilot ----------------------------------------------------------------------------------

def test_copilot_pro_reads_premium_interactions_and_skips_unlimited_buckets() -> None:
    snap = parse_copilot_user("github-copilot", P.COPILOT_USER_PRO, now=NOW)
    assert _windows(snap) == {"premium": 41}
    assert snap.windows[0].resets_at == datetime(2026, 10, 1, tzinfo=UTC)
    assert snap.summary == "individual_pro | premium 41% (123/300)"


def test_copilot_free_tier() -> None:
    snap = parse_copilot_user("github-copilot", P.COPILOT_USER_FREE, now=NOW)
    assert _windows(snap) == {"chat": 82, "completions": pytest.approx(96.75)}
    assert snap.windows[0].resets_at == datetime(2026, 10, 11, tzinfo=UTC)


def test_copilot_over_quota_is_blocked_not_negative() -> None:
    snap = parse_copilot_user("github-copilot", P.COPILOT_USER_OVER, now=NOW)
    assert (snap.remaining, snap.status) == (0, "blocked")


def test_copilot_placeholders_are_not_zero_percent() -> None:
    snap = parse_copilot_user("github-copilot", P.COPILOT_USER_PLACEHOLDER, now=NOW)
    # The 0/0 premium bucket is skipped; chat and completions are unlimited: nothing caps this seat.
    assert (snap.remaining, snap.status, snap.summary) == (100, "ready", "business | token-based billing")
    body = copy.deepcopy(P.COPILOT_USER_PLACEHOLDER)
    for bucket in ("chat", "completions"):
        del body["quota_snapshots"][bucket]
    assert parse_copilot_user("github-copilot", body, now=NOW).status == "error"


def test_copilot_all_unlimited_is_ready() -> None:
    body = copy.deepcopy(P.COPILOT_USER_PRO)
    body["quota_snapshots"]["premium_interactions"]["unlimited"] = True
    snap = parse_copilot_user("github-copilot", body, now=NOW)
    assert (snap.remaining, snap.status, snap.summary) == (100, "ready", "individual_pro | unlimited")

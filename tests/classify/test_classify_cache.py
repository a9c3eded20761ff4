"""The classifier remembers verdicts by error shape, and never where the time of the call matters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from policy_engine.classify import Classifier, ErrorInfo
from policy_engine.classify.model import ErrorKind, ParsedError

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)


def _fresh(info: ErrorInfo, now: datetime) -> object:
    return Classifier().classify(info, now)


def test_a_repeated_error_gives_the_same_verdict_as_a_fresh_classifier() -> None:
    classifier = Classifier()
    info = ErrorInfo("anthropic", "anthropic", status=429, message="Rate limit reached; try again later.")
    assert classifier.classify(info, NOW).kind == "rate_limit"
    assert len(classifier._cache) == 1
    for k in range(3):
        now = NOW + timedelta(minutes=k)
        assert classifier.classify(info, now) == _fresh(info, now)


def test_a_relative_retry_is_counted_from_each_call() -> None:
    classifier = Classifier()
    info = ErrorInfo("anthropic", "anthropic", status=429, headers={"retry-after": "120"})
    assert classifier.classify(info, NOW).retry_at == NOW + timedelta(seconds=120)
    later = NOW + timedelta(hours=1)
    assert classifier.classify(info, later).retry_at == later + timedelta(seconds=120)
    vienna = later.astimezone(ZoneInfo("Europe/Vienna"))
    again = classifier.classify(info, vienna)
    assert again == _fresh(info, vienna)
    assert again.retry_at is not None and again.retry_at.tzinfo == vienna.tzinfo


def test_an_absolute_reset_time_is_never_cached() -> None:
    reset = NOW + timedelta(hours=2)
    info = ErrorInfo("openai-codex", "openai-codex", status=429,
                     body={"error": {"type": "usage_limit_reached", "resets_at": int(reset.timestamp())}})
    classifier = Classifier()
    assert classifier.classify(info, NOW).retry_at == reset
    # Three hours on the reset is past and ignored; 40 days earlier it is absurdly far and ignored too.
    for now in (NOW + timedelta(hours=3), NOW - timedelta(days=40), NOW):
        assert classifier.classify(info, now) == _fresh(info, now)
    assert not classifier._cache


def test_unhashable_odd_input_is_classified_without_the_cache() -> None:
    info = ErrorInfo("anthropic", "anthropic", status=429, body={"error": {"x": {1, 2}}})
    classifier = Classifier()
    assert classifier.classify(info, NOW).kind == "rate_limit"
    assert not classifier._cache


def test_a_plugin_rule_runs_on_every_error() -> None:
    calls: list[str] = []

    def rule(info: ErrorInfo, parsed: ParsedError) -> tuple[ErrorKind, str] | None:
        calls.append(info.message)
        return ("overloaded", "plugin says so") if len(calls) > 1 else None

    classifier = Classifier(provider_rules={"acme": (rule,)})
    info = ErrorInfo("acme", "acme", status=429, message="slow down")
    assert classifier.classify(info, NOW).kind == "rate_limit"
    assert classifier.classify(info, NOW).kind == "overloaded"
    assert len(calls) == 2

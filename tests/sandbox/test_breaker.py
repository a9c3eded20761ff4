"""The circuit breaker pauses a selector that keeps costing time, and lets one trial through later."""

from __future__ import annotations

from policy_engine.sandbox.breaker import CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_three_costly_failures_and_half_opens_after_the_pause() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(2):
        assert breaker.allow() is None
        breaker.failure("timeout", costly=True)
    assert breaker.allow() is None
    breaker.failure("timeout", costly=True)
    paused = breaker.allow()
    assert paused is not None and "3 failures in a row" in paused and "timeout" in paused and "30 s" in paused
    clock.now += 29
    assert breaker.allow() is not None
    clock.now += 1
    assert breaker.allow() is None  # the trial call
    assert breaker.allow() is not None  # only one trial at a time
    breaker.failure("crash", costly=True)  # the trial failed: twice as long
    assert breaker.pause == 60
    clock.now += 59
    assert breaker.allow() is not None
    clock.now += 1
    assert breaker.allow() is None
    breaker.success()
    assert breaker.allow() is None and breaker.failures == 0 and breaker.open_until is None


def test_cheap_failures_do_not_count_and_the_pause_is_capped() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock, max_pause=100)
    for _ in range(10):
        breaker.failure("error", costly=False)
    assert breaker.allow() is None and breaker.failures == 0
    for _ in range(3):
        breaker.failure("timeout", costly=True)
    for _ in range(5):
        clock.now += breaker.pause
        assert breaker.allow() is None
        breaker.failure("timeout", costly=True)
    assert breaker.pause == 100


def test_a_trial_that_answers_badly_but_quickly_closes_the_breaker() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock, threshold=1)
    breaker.failure("timeout", costly=True)
    clock.now += 30
    assert breaker.allow() is None
    breaker.failure("error", costly=False)
    assert breaker.allow() is None and breaker.open_until is None

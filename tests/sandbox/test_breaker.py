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
    assert paused is not None and "3 failures in its last 3 calls" in paused, paused
    assert "timeout" in paused and "30 s" in paused
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


def test_alternating_a_success_and_a_timeout_still_opens_the_breaker() -> None:
    """A success used to reset the count: a script timing out on every other call was never paused."""
    clock = Clock()
    breaker = CircuitBreaker(clock=clock)
    for _ in range(2):
        assert breaker.allow() is None
        breaker.success()
        assert breaker.allow() is None
        breaker.failure("timeout", costly=True)
    assert breaker.allow() is None
    breaker.success()
    assert breaker.allow() is None
    breaker.failure("timeout", costly=True)
    paused = breaker.allow()
    assert paused is not None and "3 failures in its last 6 calls" in paused, paused


def test_a_trial_success_keeps_the_pause_length_until_a_clean_window() -> None:
    clock = Clock()
    breaker = CircuitBreaker(clock=clock, threshold=2, window=4)
    for _ in range(2):
        breaker.failure("crash", costly=True)
    assert breaker.pause == 30
    clock.now += 30
    assert breaker.allow() is None
    breaker.success()  # the trial answered: calls go ahead again ...
    assert breaker.allow() is None
    for _ in range(2):  # ... but the alternation that follows pauses it for longer each time
        breaker.failure("timeout", costly=True)
        breaker.success()
    assert breaker.allow() is not None and breaker.pause == 60
    clock.now += 60
    assert breaker.allow() is None
    for _ in range(4):  # a whole window without a costly failure: back to the first pause
        breaker.success()
    for _ in range(2):
        breaker.failure("timeout", costly=True)
    assert breaker.pause == 30


def test_failures_older_than_the_window_are_forgotten() -> None:
    breaker = CircuitBreaker(clock=Clock(), threshold=3, window=5)
    for _ in range(10):
        breaker.failure("timeout", costly=True)
        for _ in range(4):
            breaker.success()
    assert breaker.allow() is None and breaker.failures == 1

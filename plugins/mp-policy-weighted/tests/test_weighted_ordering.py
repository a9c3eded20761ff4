"""The order ``weighted`` gives: deterministic, seed- and time-dependent, proportional to the weights."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone

import pytest
from policy_engine.strategies.base import Strategy

from mp_policy_weighted import Weighted, WeightedPlan, decision_ms
from mp_policy_weighted.strategy import mp_policy_strategies
from weighted_helpers import T0, make_ctx, make_pool

MEMBERS = ["a", "b", "c", "d", "e"]
SAMPLES = 20_000
TOLERANCE = 0.02  # percentage points, as a fraction


def order_at(pool_members: list[str], options: dict[str, object], now: datetime, *, name: str = "pool",
             eligible: list[str] | None = None) -> list[str]:
    pool = make_pool(pool_members, options, name=name)
    return list(Weighted().order(make_ctx(pool, eligible, now=now)).ordered)


def shares(counter: Counter[str], total: int) -> dict[str, float]:
    return {member: count / total for member, count in counter.items()}


def test_registers_a_strategy_that_fits_the_core_protocol() -> None:
    strategies = mp_policy_strategies()
    assert [s.name for s in strategies] == ["weighted"]
    strategy = strategies[0]
    assert isinstance(strategy, Strategy)
    assert strategy.skips_members is False
    assert strategy.keeps_order is False
    assert strategy.options_schema is not None


def test_the_same_seed_and_instant_give_the_same_order() -> None:
    first = order_at(MEMBERS, {"seed": 5}, T0)
    again = order_at(MEMBERS, {"seed": 5}, T0)
    assert first == again
    assert sorted(first) == sorted(MEMBERS)


def test_a_known_order_stays_the_same_across_versions_and_machines() -> None:
    # Pinned: a change here changes every user's orders (and their policy tests).
    assert order_at(MEMBERS, {}, T0, name="golden") == ["b", "d", "a", "e", "c"]
    assert order_at(MEMBERS, {"seed": 1}, T0, name="golden") == ["d", "a", "b", "c", "e"]


def test_different_seeds_give_different_orders() -> None:
    orders = {tuple(order_at(MEMBERS, {"seed": seed}, T0)) for seed in range(60)}
    assert len(orders) > 30  # 120 possible orders; one seed-blind order would give a single one


def test_different_instants_give_different_orders() -> None:
    orders = {tuple(order_at(MEMBERS, {}, T0 + timedelta(milliseconds=ms))) for ms in range(60)}
    assert len(orders) > 30


def test_the_pool_name_is_part_of_the_draw() -> None:
    orders = {tuple(order_at(MEMBERS, {}, T0, name=f"pool-{i}")) for i in range(60)}
    assert len(orders) > 30


def test_the_draw_changes_per_millisecond_not_within_one() -> None:
    assert decision_ms(T0 + timedelta(microseconds=999)) == decision_ms(T0)
    assert order_at(MEMBERS, {}, T0 + timedelta(microseconds=999)) == order_at(MEMBERS, {}, T0)


def test_decision_ms_is_the_instant_whatever_the_zone() -> None:
    assert decision_ms(datetime(1970, 1, 1, 0, 0, 0, 1000, tzinfo=UTC)) == 1
    vienna_summer = timezone(timedelta(hours=2))
    assert decision_ms(T0.astimezone(vienna_summer)) == decision_ms(T0) == 1_775_469_600_000
    assert decision_ms(T0.replace(tzinfo=None)) == decision_ms(T0)  # naive is read as UTC
    assert order_at(MEMBERS, {}, T0.astimezone(vienna_summer)) == order_at(MEMBERS, {}, T0)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        ({"work": 7, "personal": 3}, {"work": 0.7, "personal": 0.3}),
        ({"a": 5, "b": 3, "c": 2}, {"a": 0.5, "b": 0.3, "c": 0.2}),
        ({"a": 0.25, "b": 0.25, "c": 0.5}, {"a": 0.25, "b": 0.25, "c": 0.5}),
    ],
)
def test_first_choices_follow_the_weights(weights: dict[str, float], expected: dict[str, float]) -> None:
    members = list(weights)
    pool = make_pool(members, {"weights": weights})
    strategy = Weighted()
    firsts: Counter[str] = Counter()
    for ms in range(SAMPLES):  # hash-based, so the same 20,000 draws on every run: not flaky
        firsts[strategy.order(make_ctx(pool, now=T0 + timedelta(milliseconds=ms))).ordered[0]] += 1
    got = shares(firsts, SAMPLES)
    for member, share in expected.items():
        assert got[member] == pytest.approx(share, abs=TOLERANCE), (member, got)


def test_later_places_follow_the_weights_among_the_members_left() -> None:
    # Weights 5/3/2: P(b second) = P(a first)·3/5 + P(c first)·3/8 = 0.3 + 0.075 = 0.375, and so on.
    pool = make_pool(["a", "b", "c"], {"weights": {"a": 5, "b": 3, "c": 2}})
    strategy = Weighted()
    seconds: Counter[str] = Counter()
    for ms in range(SAMPLES):
        seconds[strategy.order(make_ctx(pool, now=T0 + timedelta(milliseconds=ms))).ordered[1]] += 1
    got = shares(seconds, SAMPLES)
    expected = {"a": 0.3 * 5 / 7 + 0.2 * 5 / 8, "b": 0.5 * 3 / 5 + 0.2 * 3 / 8, "c": 0.5 * 2 / 5 + 0.3 * 2 / 7}
    for member, share in expected.items():
        assert got[member] == pytest.approx(share, abs=TOLERANCE), (member, got)


def test_members_without_a_weight_get_the_default_weight() -> None:
    pool = make_pool(["light", "heavy", "other"], {"weights": {"light": 1}, "defaultWeight": 4.5})
    strategy = Weighted()
    firsts: Counter[str] = Counter()
    for ms in range(SAMPLES):
        firsts[strategy.order(make_ctx(pool, now=T0 + timedelta(milliseconds=ms))).ordered[0]] += 1
    got = shares(firsts, SAMPLES)
    assert got["light"] == pytest.approx(0.1, abs=TOLERANCE)
    assert got["heavy"] == pytest.approx(0.45, abs=TOLERANCE)
    assert got["other"] == pytest.approx(0.45, abs=TOLERANCE)


def test_every_eligible_member_appears_exactly_once() -> None:
    pool = make_pool(MEMBERS, {"weights": {"a": 9, "b": 0.01}, "seed": -3})
    strategy = Weighted()
    for ms in range(500):
        ordered = list(strategy.order(make_ctx(pool, now=T0 + timedelta(milliseconds=ms))).ordered)
        assert len(ordered) == len(MEMBERS)
        assert sorted(ordered) == sorted(MEMBERS)


def test_ineligible_members_are_never_added() -> None:
    pool = make_pool(MEMBERS, {"weights": {"a": 100, "e": 100}})
    strategy = Weighted()
    eligible = ["e", "b", "c"]  # "a" (the heaviest) and "d" were removed by the evaluator
    for ms in range(500):
        result = strategy.order(make_ctx(pool, eligible, now=T0 + timedelta(milliseconds=ms)))
        assert sorted(result.ordered) == sorted(eligible)
        assert not result.skipped
        assert not result.fallback


def test_a_subset_keeps_the_relative_order_of_the_full_draw() -> None:
    # Removing members at the same instant (a fail right after a select) continues the same permutation.
    full = order_at(MEMBERS, {"weights": {"c": 3}}, T0)
    subset = [m for m in MEMBERS if m != full[0]]
    assert order_at(MEMBERS, {"weights": {"c": 3}}, T0, eligible=subset) == full[1:]


def test_the_phase_and_the_current_provider_do_not_change_the_draw() -> None:
    pool = make_pool(MEMBERS)
    select = Weighted().order(make_ctx(pool, now=T0)).ordered
    fail = Weighted().order(make_ctx(pool, now=T0, phase="fail", current="c")).ordered
    assert list(select) == list(fail)


def test_the_note_names_the_first_member_its_weight_and_the_count() -> None:
    pool = make_pool(["anthropic", "anthropic-2", "anthropic-3"], {"weights": {"anthropic-2": 3}})
    for ms in range(50):
        result = Weighted().order(make_ctx(pool, now=T0 + timedelta(milliseconds=ms)))
        first = result.ordered[0]
        weight = "3" if first == "anthropic-2" else "1"
        assert result.note == f"weighted: {first} (w={weight}) first of 3"


def test_no_eligible_member_gives_an_empty_order_without_fallback() -> None:
    result = Weighted().order(make_ctx(make_pool(MEMBERS), []))
    assert list(result.ordered) == []
    assert result.fallback is False
    assert result.note == "weighted: no eligible member"


def test_a_member_is_always_available() -> None:
    pool = make_pool(MEMBERS)
    assert Weighted().available_at(pool, "a", T0) == T0


def test_without_prepare_the_options_are_read_leniently() -> None:
    # The compiler always runs prepare; order still copes if it did not (no plan on the pool).
    pool = make_pool(["a", "b", "c"], {"weights": {"a": 0, "b": 2}}, prepare=False)
    assert pool.prepared is None
    result = Weighted().order(make_ctx(pool))
    assert result.ordered[-1] == "a"  # the unusable weight goes last, after the weighted draw
    assert sorted(result.ordered) == ["a", "b", "c"]
    assert result.fallback is False
    assert result.note.endswith("; no usable weight, tried last: a")


def test_falls_back_to_rotation_order_only_when_no_weight_is_usable() -> None:
    pool = make_pool(["c", "a", "b"], {"weights": {"a": "heavy"}, "defaultWeight": -1}, prepare=False)
    result = Weighted().order(make_ctx(pool))
    assert list(result.ordered) == ["c", "a", "b"]
    assert result.fallback is True
    assert result.note == "weighted: no usable weight for c, a, b; rotation order"


def test_a_plan_reports_each_members_weight() -> None:
    plan = WeightedPlan(weights={"a": 2.0}, default_weight=0.5, unusable=frozenset({"b"}))
    assert plan.weight("a") == 2.0
    assert plan.weight("b") is None
    assert plan.weight("c") == 0.5

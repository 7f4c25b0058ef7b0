"""The pick orders, as pure functions: exact for fixed ids, and the weighted draw's proportions."""

from __future__ import annotations

from collections import Counter

from server.selection.schemas import SelectionStrategy
from server.selection.strategies import Member, Order, ordered, weight

ROUND_ROBIN, LEAST_RECENT, WEIGHTED, HEALTH = (
    SelectionStrategy.ROUND_ROBIN,
    SelectionStrategy.LEAST_RECENT,
    SelectionStrategy.WEIGHTED,
    SelectionStrategy.HEALTH,
)


def ids(members: list[Member]) -> list[str]:
    return [m.id for m in members]


def test_round_robin_starts_at_the_pointers_level_and_goes_round() -> None:
    levels = [[Member("a1"), Member("a2", last_sequence=1)], [Member("b1")], [Member("c1", last_sequence=0)]]
    assert ids(ordered(levels, Order(ROUND_ROBIN, pointer=0))) == ["a1", "a2", "b1", "c1"]
    assert ids(ordered(levels, Order(ROUND_ROBIN, pointer=1))) == ["b1", "c1", "a1", "a2"]
    assert ids(ordered(levels, Order(ROUND_ROBIN, pointer=5))) == ["c1", "a1", "a2", "b1"]


def test_least_recent_never_picked_first_then_by_the_last_pick_and_always_from_the_first_level() -> None:
    levels = [[Member("a1", last_sequence=7), Member("a2"), Member("a3", last_sequence=2)], [Member("b1")]]
    assert ids(ordered(levels, Order(LEAST_RECENT, pointer=1))) == ["a2", "a3", "a1", "b1"]


def test_health_best_success_rate_first_none_counts_as_healthy() -> None:
    level = [Member("bad", success_rate=0.2), Member("new"), Member("good", success_rate=0.9, last_sequence=3)]
    assert ids(ordered([level], Order(HEALTH))) == ["new", "good", "bad"]


def test_weight_by_id_then_the_highest_label_then_one() -> None:
    weights = {"m1": 5, "gold": 3, "silver": 2}
    assert weight(Member("m1", ("silver",)), weights) == 5
    assert weight(Member("m2", ("silver", "gold")), weights) == 3
    assert weight(Member("m3", ("bronze",)), weights) == 1


def test_weighted_is_deterministic_for_a_seed_and_differs_by_seed() -> None:
    level = [Member(f"m{n}") for n in range(5)]
    first = ids(ordered([level], Order(WEIGHTED, seed="lead-1")))
    assert first == ids(ordered([list(reversed(level))], Order(WEIGHTED, seed="lead-1")))
    assert first == ["m3", "m4", "m1", "m2", "m0"]  # pinned: a change of the draw changes every pool's picks
    assert ids(ordered([level], Order(WEIGHTED, seed="lead-2"))) != first


def test_weighted_first_picks_follow_the_weights() -> None:
    level = [Member("heavy"), Member("light1"), Member("light2")]
    firsts = Counter(ordered([level], Order(WEIGHTED, weights={"heavy": 3}, seed=f"s{n}"))[0].id for n in range(3000))
    # heavy 3 / (3 + 1 + 1) = 60% of first picks, the light ones 20% each (within 3 points).
    assert abs(firsts["heavy"] / 3000 - 0.6) < 0.03
    assert abs(firsts["light1"] / 3000 - 0.2) < 0.03 and abs(firsts["light2"] / 3000 - 0.2) < 0.03

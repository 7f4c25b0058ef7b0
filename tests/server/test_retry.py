import random

import pytest

from server.delivery.retry import pause_seconds, retry_delay
from server.targets.schemas import RetryPolicy

POLICY = RetryPolicy(max_attempts=8, base_delay_seconds=2, max_delay_seconds=60)


class Fixed(random.Random):
    """An rng whose uniform() returns the upper bound, to see the ceiling."""

    def uniform(self, a: float, b: float) -> float:
        return b


@pytest.mark.parametrize(("failures", "ceiling"), [(1, 2), (2, 4), (3, 8), (5, 32), (6, 60), (20, 60)])
def test_ceiling_doubles_and_is_capped(failures: int, ceiling: float) -> None:
    assert retry_delay(failures, POLICY, rng=Fixed()) == ceiling


def test_full_jitter_spans_zero_to_ceiling() -> None:
    rng = random.Random(7)
    delays = [retry_delay(3, POLICY, rng=rng) for _ in range(2000)]
    assert min(delays) < 0.5
    assert max(delays) > 7.5
    assert all(0 <= d <= 8 for d in delays)


def test_provider_hint_is_a_floor_but_capped() -> None:
    assert retry_delay(1, POLICY, hint_seconds=30, rng=random.Random(1)) == 30
    assert retry_delay(1, POLICY, hint_seconds=600, rng=random.Random(1)) == 60


@pytest.mark.parametrize(
    ("retry_after", "consecutive", "expected"),
    [
        (5.0, 1, 5.0),
        (5.0, 2, 10.0),
        (5.0, 3, 20.0),
        (None, 1, 60.0),
        (None, 2, 120.0),
        (None, 10, 3600.0),
        (-3, 1, 0.0),
    ],
)
def test_pause_follows_provider_then_doubles(retry_after: float | None, consecutive: int, expected: float) -> None:
    assert pause_seconds(retry_after, consecutive, default_seconds=60, max_seconds=3600) == expected


def test_explicit_schedule_with_jitter() -> None:
    policy = RetryPolicy(max_attempts=3, base_delay_seconds=1, max_delay_seconds=100, schedule_seconds=[10, 50])
    rng = random.Random(3)
    first = [retry_delay(1, policy, rng=rng) for _ in range(500)]
    second = [retry_delay(2, policy, rng=rng) for _ in range(500)]
    assert min(first) >= 8 and max(first) <= 12
    assert min(second) >= 40 and max(second) <= 60
    assert len({round(x, 3) for x in first}) > 100

"""Per-target limits shared by every worker: two limiter instances are two workers."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest

from server.delivery.limits import Limiter, Limits, LocalLimiter, RedisLimiter
from tests.support import services
from tests.support.waiting import until


@pytest.fixture(params=["local", pytest.param("redis", marks=pytest.mark.integration)])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[Limiter, Limiter]]:
    if request.param == "local":
        shared = LocalLimiter()
        yield shared, shared
        return
    namespace = services.redis_namespace(f"herald-limits-{services.RUN_TAG}")
    yield RedisLimiter(services.REDIS_URL, namespace), RedisLimiter(services.REDIS_URL, namespace)
    services.drop_redis_namespace(namespace)


def grants(acquire: Callable[[], tuple[str | None, float]], n: int) -> list[tuple[str | None, float]]:
    return [acquire() for _ in range(n)]


def test_concurrency_cap_across_workers(pair: tuple[Limiter, Limiter]) -> None:
    a, b = pair
    limits = Limits(max_concurrency=2)
    first, _ = a.acquire("tgt_1", limits, 30)
    second, _ = b.acquire("tgt_1", limits, 30)
    third, wait = a.acquire("tgt_1", limits, 30)
    assert first and second and third is None and wait == 0
    assert b.acquire("tgt_2", limits, 30)[0] is not None  # other targets are unaffected
    a.release("tgt_1", first)
    assert b.acquire("tgt_1", limits, 30)[0] is not None


def test_rate_window_across_workers_says_how_long_to_wait(pair: tuple[Limiter, Limiter]) -> None:
    a, b = pair
    limits = Limits(requests=3, per_seconds=1.0)
    results = grants(lambda: a.acquire("tgt_r", limits, 30), 2) + grants(lambda: b.acquire("tgt_r", limits, 30), 2)
    assert [token is not None for token, _ in results] == [True, True, True, False]
    wait = results[-1][1]
    assert 0.8 < wait <= 1.0
    asked = time.monotonic()
    until(lambda: b.acquire("tgt_r", limits, 30)[0], timeout=2, message="a grant once the window moved on")
    assert time.monotonic() - asked >= wait - 0.05  # not before the wait it announced


def test_expired_lease_frees_the_slot(pair: tuple[Limiter, Limiter]) -> None:
    a, b = pair
    limits = Limits(max_concurrency=1)
    assert a.acquire("tgt_l", limits, 0.2)[0] is not None  # a worker that dies never releases
    held = time.monotonic()
    assert b.acquire("tgt_l", limits, 0.2)[0] is None
    until(lambda: b.acquire("tgt_l", limits, 0.2)[0], timeout=2, message="the slot once the 0.2 s lease expired")
    assert time.monotonic() - held >= 0.15

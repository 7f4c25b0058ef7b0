"""What one batch asks of the limiter and builds once: the flags in the worker's own thread, the rate
windows only for targets that have a rate limit, one default retry policy for the whole batch."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from server.db import session_scope
from server.delivery.claims import claim_batch
from server.delivery.engine import process_jobs
from server.delivery.limits import Limits
from server.models import Job
from server.runtime import Runtime
from tests.support import factories
from tests.support.factories import call
from tests.support.fakes.engine_sync import engine_runtime
from tests.support.receiver import Receiver


class CountingLimiter:
    """The runtime's limiter, with the thread of every ``flagged`` call and every window asked for."""

    def __init__(self, inner: object) -> None:
        self._inner = inner
        self.flagged_threads: list[int] = []
        self.windows: list[str] = []

    def flagged(self, target_ids: set[str]) -> dict[str, float]:
        self.flagged_threads.append(threading.get_ident())
        return self._inner.flagged(target_ids)  # type: ignore[attr-defined, no-any-return]

    def acquire(self, target_id: str, limits: Limits, lease_seconds: float) -> tuple[str | None, float]:
        if limits.requests:
            self.windows.append(target_id)
        return self._inner.acquire(target_id, limits, lease_seconds)  # type: ignore[attr-defined, no-any-return]

    def __getattr__(self, name: str) -> object:
        return getattr(self._inner, name)


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    with closing(engine_runtime(tmp_path)) as runtime:
        yield runtime


def _targets(rt: Runtime, receiver: Receiver, count: int, **extra: object) -> list[str]:
    return [
        call(
            rt,
            "create_distribution_target",
            name=f"wh{i}-{len(extra)}",
            channel="webhook",
            config={"url": f"{receiver.url}/hook/{i}"},
            **extra,
        ).target.id
        for i in range(count)
    ]


def _jobs(rt: Runtime, target_ids: list[str]) -> list[str]:
    plan = call(rt, "create_distribution_plan", content=factories.content(), targetIds=target_ids).plan
    return [job.id for job in plan.jobs]


def _statuses(rt: Runtime, job_ids: list[str]) -> list[str]:
    with session_scope(rt.engine) as session:
        return [session.get(Job, job_id).status for job_id in job_ids]  # type: ignore[union-attr]


def test_flags_are_read_once_in_the_worker_thread_and_no_window_without_a_rate_limit(
    rt: Runtime, receiver: Receiver
) -> None:
    limiter = CountingLimiter(rt.limiter)
    rt.limiter = limiter  # type: ignore[assignment]
    jobs = _jobs(rt, _targets(rt, receiver, 3))

    process_jobs(rt, jobs)

    assert limiter.flagged_threads == [threading.get_ident()]
    assert limiter.windows == []
    assert _statuses(rt, jobs) == ["delivered"] * 3
    assert len(receiver.requests) == 3


def test_a_rate_limited_target_takes_its_window_and_the_others_do_not(rt: Runtime, receiver: Receiver) -> None:
    limiter = CountingLimiter(rt.limiter)
    rt.limiter = limiter  # type: ignore[assignment]
    plain = _targets(rt, receiver, 2)
    limited = _targets(rt, receiver, 1, rateLimit={"requests": 1, "perSeconds": 60})
    jobs = _jobs(rt, plain + limited)

    process_jobs(rt, jobs)

    assert limiter.flagged_threads == [threading.get_ident()]
    assert limiter.windows == limited
    assert _statuses(rt, jobs) == ["delivered"] * 3


def test_claims_of_a_batch_share_the_settings_retry_policy(rt: Runtime, receiver: Receiver) -> None:
    own = {"maxAttempts": 2, "baseDelaySeconds": 1, "maxDelaySeconds": 2}
    default = _targets(rt, receiver, 2)
    custom = _targets(rt, receiver, 1, retryPolicy=own)
    claims = {claim.view.id: claim for claim in claim_batch(rt, _jobs(rt, default + custom))}

    first, second, third = (claims[target_id].retry_policy for target_id in default + custom)
    assert first is second
    assert first.max_attempts == rt.settings.retry_max_attempts
    assert (third.max_attempts, third.base_delay_seconds, third.max_delay_seconds) == (2, 1.0, 2.0)

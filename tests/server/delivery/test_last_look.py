"""Bursts of requests to a target that answers 429: a request that waited for a connection while its
target answered 429 takes a last look before it leaves and is held (no attempt spent), not sent into the
pause; the 429s of one burst pause the target once, and only the next 429 in a row, after the pause,
doubles it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import col, select

from adapters.http_client import client
from server.db import session_scope
from server.delivery.engine import FLAGGED, process_jobs
from server.delivery.limits import NOTED_KEPT, RedisLimiter
from server.models import Attempt, Job, Target
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support import factories, services
from tests.support.factories import call
from tests.support.queues import RecordingQueue
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = factories.runtime(tmp_path)
    runtime.queue = RecordingQueue()
    yield runtime
    runtime.close()


def _jobs(rt: Runtime, job_ids: list[str]) -> list[tuple[Job, list[Attempt]]]:
    with session_scope(rt.engine) as session:
        return [
            (job, list(session.exec(select(Attempt).where(Attempt.job_id == job.id)).all()))
            for job in session.exec(select(Job).where(col(Job.id).in_(job_ids))).all()
        ]


def test_a_request_queued_for_a_connection_is_held_once_its_target_answers_429(
    rt: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client, "CONNECTIONS_PER_HOST", 1)  # the second request waits for the first one's connection
    receiver.script["/queued"] = [Reply(429, headers={"Retry-After": "30"}), Reply(200)]
    target = call(
        rt, "create_distribution_target", name="queued", channel="webhook", config={"url": f"{receiver.url}/queued"}
    )
    job_ids = [
        call(rt, "create_distribution_plan", content=factories.content(), targetIds=[target.target.id]).plan.jobs[0].id
        for _ in range(2)
    ]
    process_jobs(rt, job_ids)  # one batch: both requests start together and share the one connection
    assert len(receiver.at("/queued")) == 1
    jobs = sorted(_jobs(rt, job_ids), key=lambda pair: pair[0].attempts)
    (held, held_attempts), (limited, limited_attempts) = jobs
    assert (limited.status, limited.attempts, limited.error_class) == ("scheduled", 1, "rate_limited")
    assert [a.outcome for a in limited_attempts] == ["rate_limited"]
    assert (held.status, held.attempts, held.retries_used, held.held_reason) == ("scheduled", 0, 0, FLAGGED)
    assert held_attempts == []
    assert held.next_attempt_at is not None
    assert timedelta(seconds=28) < held.next_attempt_at - utcnow() <= timedelta(seconds=30)


@pytest.mark.integration
def test_a_flag_this_process_noted_follows_redis_when_another_process_resumes() -> None:
    namespace = services.redis_namespace(f"herald-last-look-{services.RUN_TAG}")
    worker, server = RedisLimiter(services.REDIS_URL, namespace), RedisLimiter(services.REDIS_URL, namespace)
    try:
        worker.note_pause("tgt_a", time.time() + 30)  # its own 429: known here before Redis has it
        assert worker.noted("tgt_a") is not None and server.noted("tgt_a") is None
        worker.flag_pause("tgt_b", 30)
        assert server.noted("tgt_b") is None  # memory only: the other process learns at its next read
        assert set(server.flagged({"tgt_a", "tgt_b"})) == {"tgt_b"}
        assert server.noted("tgt_b") is not None
        server.clear_pause("tgt_b")  # an operator resumed it through the server
        assert worker.noted("tgt_b") is not None  # not yet read from Redis
        assert worker.flagged({"tgt_a", "tgt_b"}) == {}
        assert worker.noted("tgt_a") is None and worker.noted("tgt_b") is None
    finally:
        services.drop_redis_namespace(namespace)


def test_the_pauses_a_process_noted_are_forgotten_once_ended_when_many_pile_up() -> None:
    limiter = RedisLimiter(services.REDIS_URL, "herald-unused")  # note_pause and noted never touch Redis
    now = time.time()
    for number in range(NOTED_KEPT):
        limiter.note_pause(f"tgt_old{number}", now - 1)
    limiter.note_pause("tgt_live", now + 30)
    assert len(limiter._noted) == 1  # the ended ones went when the map outgrew its size
    assert limiter.noted("tgt_live") is not None and limiter.noted("tgt_old0") is None


def one_job(rt: Runtime, target_id: str) -> str:
    plan = call(rt, "create_distribution_plan", content=factories.content(), targetIds=[target_id]).plan
    job_id: str = plan.jobs[0].id
    return job_id


def pause_of(rt: Runtime, target_id: str) -> tuple[int, timedelta]:
    with session_scope(rt.engine) as session:
        target = session.get(Target, target_id)
        assert target is not None and target.paused_until is not None
        return target.consecutive_rate_limits, target.paused_until - utcnow()


def test_a_burst_of_429s_pauses_once_and_the_next_429_after_the_pause_doubles_it(
    rt: Runtime, receiver: Receiver
) -> None:
    receiver.script["/busy"] = [Reply(429, headers={"Retry-After": "30"})] * 4
    config = {"url": receiver.url + "/busy"}
    target_id = call(rt, "create_distribution_target", name="busy", channel="webhook", config=config).target.id

    # Three requests of one batch leave before any 429 is known: three 429s, one pause of the provider's 30 s.
    process_jobs(rt, [one_job(rt, target_id) for _ in range(3)])
    assert len(receiver.requests) == 3
    streak, left = pause_of(rt, target_id)
    assert streak == 1 and timedelta(seconds=28) < left <= timedelta(seconds=30)

    # The pause ends; the next request is answered 429 again: a second 429 in a row, twice the pause.
    with session_scope(rt.engine) as session:
        target = session.get(Target, target_id)
        assert target is not None
        target.paused_until = utcnow() - timedelta(seconds=1)
    rt.limiter.clear_pause(target_id)  # as a resume does: the flag of the first 429 is lifted too
    process_jobs(rt, [one_job(rt, target_id)])
    assert len(receiver.requests) == 4
    streak, left = pause_of(rt, target_id)
    assert streak == 2 and timedelta(seconds=58) < left <= timedelta(seconds=60)

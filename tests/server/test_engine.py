"""The delivery state machine, called directly (no broker): claim, deliver, classify, record."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlmodel import select
from standardwebhooks.webhooks import Webhook

from server.db import session_scope
from server.delivery.claims import claim_batch
from server.delivery.engine import deliver_claims, process_job, process_jobs
from server.jobs.sweeper import sweep
from server.models import Attempt, Job, Plan, Receipt, Target
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support import factories
from tests.support.factories import call
from tests.support.queues import RecordingQueue
from tests.support.receiver import Receiver, Reply


@pytest.fixture
def rt(tmp_path: Path) -> Runtime:
    runtime = factories.runtime(tmp_path)
    runtime.queue = RecordingQueue()
    yield runtime
    runtime.close()


def webhook_target(rt: Runtime, receiver: Receiver, path: str = "/hook", **extra: object) -> tuple[str, str]:
    result = call(
        rt,
        "create_distribution_target",
        name=f"wh{path}",
        channel="webhook",
        config={"url": receiver.url + path},
        **extra,
    )
    return result.target.id, result.revealed_secrets["signingSecret"]


def plan_for(rt: Runtime, *target_ids: str) -> tuple[str, list[str]]:
    result = call(rt, "create_distribution_plan", content=factories.content(), targetIds=list(target_ids))
    return result.plan.id, [job.id for job in result.plan.jobs]


def load(rt: Runtime, model: type, id_: str):  # type: ignore[no-untyped-def]
    with session_scope(rt.engine) as session:
        return session.get(model, id_)


def attempts(rt: Runtime, job_id: str) -> list[Attempt]:
    with session_scope(rt.engine) as session:
        return list(session.exec(select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)).all())


def test_delivers_signed_webhook_and_stores_receipt(rt: Runtime, receiver: Receiver) -> None:
    target_id, secret = webhook_target(rt, receiver)
    plan_id, [job_id] = plan_for(rt, target_id)
    assert rt.queue.sent == [([job_id], None)]
    process_job(rt, job_id)
    [request] = receiver.at("/hook")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "content.published"
    assert request.headers["webhook-id"] == job_id
    job = load(rt, Job, job_id)
    assert (job.status, job.attempts) == ("delivered", 1)
    assert load(rt, Plan, plan_id).status == "succeeded"
    with session_scope(rt.engine) as session:
        receipt = session.exec(select(Receipt).where(Receipt.job_id == job_id)).one()
    assert receipt.response_meta["statusCode"] == 200
    [attempt] = attempts(rt, job_id)
    assert (attempt.outcome, attempt.status_code, attempt.error) == ("delivered", 200, None)


def test_duplicate_message_does_not_deliver_twice(rt: Runtime, receiver: Receiver) -> None:
    target_id, _ = webhook_target(rt, receiver)
    _, [job_id] = plan_for(rt, target_id)
    process_job(rt, job_id)
    process_job(rt, job_id)
    assert len(receiver.at("/hook")) == 1


def test_transient_failures_retry_with_same_webhook_id_then_succeed(rt: Runtime, receiver: Receiver) -> None:
    receiver.script["/hook"] = [Reply(503), Reply(500), Reply(200)]
    target_id, _ = webhook_target(rt, receiver)
    _, [job_id] = plan_for(rt, target_id)
    for _ in range(3):
        process_job(rt, job_id)
        job = load(rt, Job, job_id)
        if job.status == "scheduled":
            assert job.error_class == "transient"
            time.sleep(max((job.next_attempt_at - utcnow()).total_seconds(), 0))
    assert load(rt, Job, job_id).status == "delivered"
    assert {r.headers["webhook-id"] for r in receiver.at("/hook")} == {job_id}
    assert [a.status_code for a in attempts(rt, job_id)] == [503, 500, 200]


def test_exhausted_retries_become_dead_letter(rt: Runtime, receiver: Receiver) -> None:
    receiver.script["/hook"] = [Reply(500)]
    policy = {"maxAttempts": 2, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.01}
    target_id, _ = webhook_target(rt, receiver, retryPolicy=policy)
    plan_id, [job_id] = plan_for(rt, target_id)
    process_job(rt, job_id)
    time.sleep(0.02)
    process_job(rt, job_id)
    job = load(rt, Job, job_id)
    assert (job.status, job.attempts, job.error_class) == ("dead", 2, "transient")
    assert "HTTP 500" in job.last_error or "500" in job.last_error
    assert load(rt, Plan, plan_id).status == "failed"


def test_permanent_4xx_fails_at_once(rt: Runtime, receiver: Receiver) -> None:
    receiver.script["/hook"] = [Reply(422, body='{"error": "bad payload"}')]
    target_id, _ = webhook_target(rt, receiver)
    plan_id, [job_id] = plan_for(rt, target_id)
    process_job(rt, job_id)
    job = load(rt, Job, job_id)
    assert (job.status, job.attempts, job.error_class) == ("failed", 1, "permanent")
    result = call(rt, "get_distribution_plan", id=plan_id)
    assert result.plan.status == "failed"
    assert result.recommended_next_action.tool == "update_distribution_target"
    assert result.recommended_next_action.arguments == {"id": target_id}


def test_429_pauses_target_without_spending_attempts(rt: Runtime, receiver: Receiver) -> None:
    receiver.script["/hook"] = [Reply(429, headers={"Retry-After": "30"}), Reply(200)]
    target_id, _ = webhook_target(rt, receiver)
    _, jobs = plan_for(rt, target_id)
    process_job(rt, jobs[0])
    target = load(rt, Target, target_id)
    assert target.paused_until - utcnow() > timedelta(seconds=28)
    job = load(rt, Job, jobs[0])
    assert (job.status, job.retries_used, job.error_class) == ("scheduled", 0, "rate_limited")
    assert job.next_attempt_at == target.paused_until
    process_job(rt, jobs[0])  # early: the pause holds it back, no request sent
    assert len(receiver.at("/hook")) == 1
    read = call(rt, "get_distribution_target", id=target_id)
    assert read.target.pause_reason.startswith("rate limited")
    # A provider's pause ends by itself: the hint waits it out rather than overriding it.
    assert read.recommended_next_action.tool == "get_distribution_target"
    assert 28 <= (read.recommended_next_action.after_seconds or 0) <= 30
    call(rt, "resume_distribution_target", id=target_id)
    process_job(rt, jobs[0])
    assert load(rt, Job, jobs[0]).status == "delivered"


def test_credentials_echoed_by_a_receiver_are_redacted(rt: Runtime, receiver: Receiver) -> None:
    token = "tok-echo-7f3a9c"
    receiver.script["/echo"] = [Reply(401, body=f'{{"error": "invalid token {token}"}}')]
    result = call(
        rt,
        "create_distribution_target",
        name="echo",
        channel="http",
        config={"url": receiver.url + "/echo"},
        credentials={"bearerToken": token},
    )
    _, [job_id] = plan_for(rt, result.target.id)
    process_job(rt, job_id)
    job = load(rt, Job, job_id)
    [attempt] = attempts(rt, job_id)
    assert (job.status, job.error_class) == ("failed", "systemic")
    assert token not in job.last_error and token not in attempt.error
    assert "invalid token [redacted]" in attempt.error
    plan = call(rt, "get_distribution_plan", id=load(rt, Job, job_id).plan_id)
    assert token not in plan.model_dump_json()


@pytest.fixture(params=factories.DATABASES)
def any_rt(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    runtime = factories.runtime_on(request.param, request, tmp_path)
    runtime.queue = RecordingQueue()
    return runtime


def test_a_batch_is_claimed_sent_and_recorded_together(
    any_rt: Runtime, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = any_rt
    receiver.script["/busy"] = [Reply(429, headers={"Retry-After": "30"})]
    receiver.script["/broken"] = [Reply(422)]
    ok = [webhook_target(rt, receiver, f"/ok{i}")[0] for i in range(3)]
    busy, _ = webhook_target(rt, receiver, "/busy")
    broken, _ = webhook_target(rt, receiver, "/broken")
    first, first_jobs = plan_for(rt, *ok)
    second, second_jobs = plan_for(rt, ok[0], busy, broken)
    published: list[dict] = []
    monkeypatch.setattr(rt.events, "publish", lambda plan_id, event: published.append(event))
    commits: list[object] = []
    event.listen(rt.engine, "commit", commits.append)

    process_jobs(rt, first_jobs + second_jobs)

    assert len(commits) == 2  # one transaction claims the batch, one records it
    assert len(receiver.requests) == 6
    with session_scope(rt.engine) as session:
        jobs = {job.target_id + job.plan_id: job for job in session.exec(select(Job)).all()}
        assert [jobs[t + first].status for t in ok] == ["delivered"] * 3
        assert (jobs[ok[0] + second].status, jobs[busy + second].status, jobs[broken + second].status) == (
            "delivered",
            "scheduled",
            "failed",
        )
        assert len(session.exec(select(Attempt)).all()) == 6
        assert len(session.exec(select(Receipt)).all()) == 4
        counts = {p.id: (p.status, p.delivered_count, p.failed_count) for p in session.exec(select(Plan)).all()}
    assert counts == {first: ("succeeded", 3, 0), second: ("running", 1, 1)}
    assert sorted((e["planId"], len(e["jobIds"]), e["planStatus"]) for e in published) == sorted(
        [(first, 3, "succeeded"), (second, 2, None)]
    )
    assert load(rt, Target, busy).paused_until is not None


def test_a_batch_still_in_flight_keeps_its_leases(tmp_path: Path) -> None:
    rt = factories.runtime(tmp_path, lease_seconds=0.3)
    rt.queue = RecordingQueue()
    target = call(rt, "create_distribution_target", name="slow", channel="stub", config={"latencyMs": 1200})
    _, [job_id] = plan_for(rt, target.target.id)
    worker = threading.Thread(target=process_jobs, args=(rt, [job_id]))
    worker.start()
    time.sleep(0.8)  # more than two leases
    job = load(rt, Job, job_id)
    assert job.status == "delivering" and job.lease_expires_at > utcnow()
    assert sweep(rt, grace_seconds=0) == 0  # nothing for the sweeper to take from a live worker
    worker.join()
    wait_for(lambda: load(rt, Job, job_id).status == "delivered")
    assert len(attempts(rt, job_id)) == 1
    rt.close()


def wait_for(condition, seconds: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_hanging_receiver_does_not_hold_back_its_batch(tmp_path: Path, receiver: Receiver) -> None:
    rt = factories.runtime(tmp_path, batch_patience_seconds=0.2)
    rt.queue = RecordingQueue()
    fast = [webhook_target(rt, receiver, f"/fast{i}")[0] for i in range(3)]
    slow = call(rt, "create_distribution_target", name="slow", channel="stub", config={"latencyMs": 1500}).target.id
    plan_id, jobs = plan_for(rt, *fast, slow)
    started = time.monotonic()
    process_jobs(rt, jobs)
    assert time.monotonic() - started < 1.0  # the thread moved on
    with session_scope(rt.engine) as session:
        statuses = {job.target_id: job.status for job in session.exec(select(Job))}
    assert [statuses[t] for t in fast] == ["delivered"] * 3 and statuses[slow] == "delivering"
    [slow_job] = [job_id for job_id in jobs if load(rt, Job, job_id).target_id == slow]
    wait_for(lambda: load(rt, Job, slow_job).status == "delivered")
    assert load(rt, Plan, plan_id).status == "succeeded"
    rt.close()


def test_a_job_claimed_before_a_429_is_recorded_is_not_sent_into_the_pause(rt: Runtime, receiver: Receiver) -> None:
    receiver.script["/busy"] = [Reply(429, headers={"Retry-After": "30"}), Reply(200)]
    target_id, _ = webhook_target(rt, receiver, "/busy")
    _, [first] = plan_for(rt, target_id)
    _, [second] = plan_for(rt, target_id)
    [early] = claim_batch(rt, [second])  # another worker claimed it while the pause was not yet known
    process_job(rt, first)  # 429: the target is flagged at once, then paused in the database
    deliver_claims(rt, [early])
    assert len(receiver.at("/busy")) == 1
    job = load(rt, Job, second)
    assert (job.status, job.attempts, job.retries_used) == ("scheduled", 0, 0)
    assert timedelta(seconds=28) < job.next_attempt_at - utcnow() <= timedelta(seconds=30)
    assert attempts(rt, second) == []
    call(rt, "resume_distribution_target", id=target_id)  # a resume lifts the flag with the pause
    process_job(rt, second)
    assert load(rt, Job, second).status == "delivered"

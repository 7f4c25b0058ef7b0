"""The scheduler tick, stepped by hand: what it sends, when, and only once."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlmodel import col, select

from server.db import session_scope
from server.delivery.claims import claim_batch
from server.delivery.engine import process_jobs
from server.jobs.scheduler import tick
from server.models import Job, Target
from server.models.base import utcnow
from server.runtime import Runtime
from tests.server.jobs.conftest import HORIZON_SECONDS, recorder
from tests.support import factories
from tests.support.factories import call


def stub_targets(rt: Runtime, count: int) -> list[str]:
    return [
        call(rt, "create_distribution_target", name=f"t-{uuid.uuid4().hex[:8]}", channel="stub", config={}).target.id
        for _ in range(count)
    ]


def plan_at(rt: Runtime, target_ids: list[str], due: datetime | None) -> list[str]:
    arguments = {"scheduledAt": due.isoformat()} if due else {}
    plan = call(rt, "create_distribution_plan", content=factories.content(), targetIds=target_ids, **arguments).plan
    return [job.id for job in plan.jobs]


def jobs(rt: Runtime, ids: list[str]) -> dict[str, Job]:
    with session_scope(rt.engine) as session:
        return {job.id: job for job in session.exec(select(Job).where(col(Job.id).in_(ids))).all()}


def test_a_job_beyond_the_horizon_is_sent_once_when_its_due_time_comes_within_it(rt: Runtime) -> None:
    due = (utcnow() + timedelta(hours=2)).replace(microsecond=0)
    [job_id] = plan_at(rt, stub_targets(rt, 1), due)
    assert recorder(rt).sent == []
    assert jobs(rt, [job_id])[job_id].queued_for is None

    before = due - timedelta(seconds=HORIZON_SECONDS + 1)
    assert (tick(rt, now=utcnow()), tick(rt, now=before)) == (0, 0)
    assert recorder(rt).sent == []

    assert tick(rt, now=due - timedelta(seconds=HORIZON_SECONDS - 1)) == 1
    assert recorder(rt).sent == [([job_id], due)]
    assert jobs(rt, [job_id])[job_id].queued_for == due
    assert (tick(rt, now=due), tick(rt, now=due + timedelta(hours=1))) == (0, 0)
    assert recorder(rt).sent == [([job_id], due)]


def test_a_job_within_the_horizon_is_sent_at_creation_and_the_tick_leaves_it(rt: Runtime) -> None:
    due = (utcnow() + timedelta(seconds=HORIZON_SECONDS / 2)).replace(microsecond=0)
    [job_id] = plan_at(rt, stub_targets(rt, 1), due)
    assert recorder(rt).sent == [([job_id], due)]
    assert jobs(rt, [job_id])[job_id].queued_for == due
    assert tick(rt, now=due) == 0
    assert recorder(rt).sent == [([job_id], due)]


def test_the_tick_sends_by_due_time_a_batch_at_a_time(rt: Runtime) -> None:
    [a, b, c] = stub_targets(rt, 3)
    start = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    [late] = plan_at(rt, [a], start + timedelta(minutes=2))
    [early] = plan_at(rt, [b], start)
    [middle] = plan_at(rt, [c], start + timedelta(minutes=1))
    assert tick(rt, now=start + timedelta(minutes=2), batch=2) == 3
    assert recorder(rt).sent == [
        ([early], start),
        ([middle], start + timedelta(minutes=1)),
        ([late], start + timedelta(minutes=2)),
    ]


def test_ticks_at_once_send_each_job_exactly_once(rt: Runtime) -> None:
    due = (utcnow() + timedelta(days=1)).replace(microsecond=0)
    ids = plan_at(rt, stub_targets(rt, 40), due)
    barrier = threading.Barrier(4)
    counts: list[int] = []

    def run() -> None:
        barrier.wait()
        counts.append(tick(rt, now=due, batch=7))

    threads = [threading.Thread(target=run) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sum(counts) == 40 and len(counts) == 4
    sent = [job_id for batch, eta in recorder(rt).sent for job_id in batch]
    assert sorted(sent) == sorted(ids)
    assert {eta for _, eta in recorder(rt).sent} == {due}


def test_a_hold_beyond_the_horizon_is_left_to_the_tick(rt: Runtime) -> None:
    [target] = stub_targets(rt, 1)
    call(rt, "pause_distribution_target", id=target, seconds=3 * 3600, reason="maintenance")
    [job_id] = plan_at(rt, [target], None)
    assert recorder(rt).sent == [([job_id], None)]
    assert claim_batch(rt, [job_id]) == []
    job = jobs(rt, [job_id])[job_id]
    with session_scope(rt.engine) as session:
        paused_until = session.get(Target, target).paused_until  # type: ignore[union-attr]
    assert (job.status, job.next_attempt_at, job.queued_for) == ("scheduled", paused_until, None)
    assert recorder(rt).sent == [([job_id], None)]  # no message for a hold three hours away
    assert tick(rt, now=paused_until - timedelta(seconds=HORIZON_SECONDS)) == 1
    assert recorder(rt).sent == [([job_id], None), ([job_id], paused_until)]


def test_the_hot_path_writes_jobs_in_the_statements_it_always_had(rt: Runtime) -> None:
    """Plan creation: one INSERT of its jobs; a batch: one UPDATE to lease them, one to finish them."""
    targets = stub_targets(rt, 25)
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:  # type: ignore[no-untyped-def]
        if "distribution_jobs" in statement.split("WHERE")[0] and not statement.lstrip().startswith("SELECT"):
            statements.append(statement.split()[0])

    event.listen(rt.engine, "before_cursor_execute", seen)
    ids = plan_at(rt, targets, None)
    copied = rt.engine.dialect.name == "postgresql"  # COPY, below the statements SQLAlchemy sees
    assert statements == ([] if copied else ["INSERT"])
    assert all(job.queued_for == job.next_attempt_at is not None for job in jobs(rt, ids).values())
    statements.clear()
    process_jobs(rt, ids)
    assert statements == ["UPDATE", "UPDATE"]
    assert {job.status for job in jobs(rt, ids).values()} == {"delivered"}

"""Each arrow of the job diagram moves only the jobs where it starts; the others are left exactly as they were."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from server.db import session_scope
from server.jobs import transitions
from server.jobs.status import JobStatus
from server.jobs.transitions import TransitionRefused
from server.models import Job
from server.models.base import utcnow
from server.runtime import Runtime
from tests.server.jobs.conftest import HORIZON_SECONDS
from tests.server.jobs.test_scheduler import plan_at, stub_targets

STATES = ("pending", "scheduled", "delivering", "leased_out", "delivered", "failed", "dead", "cancelled", "skipped")
FIELDS = ("status", "attempts", "retries_used", "next_attempt_at", "queued_for", "lease_expires_at", "finished_at")


def jobs_in_every_state(rt: Runtime) -> dict[str, str]:
    """One job per state, by name; ``delivering`` holds a live lease, ``leased_out`` an expired one (each an
    hour from now: a test takes its own ``now`` before this setup, which may take seconds on a loaded machine)."""
    ids = plan_at(rt, stub_targets(rt, len(STATES)), utcnow() + timedelta(days=1))
    now = utcnow()
    by_state = dict(zip(STATES, ids, strict=True))
    with session_scope(rt.engine) as session:
        for state, job_id in by_state.items():
            values: dict[str, Any] = {"status": state, "next_attempt_at": now, "queued_for": now}
            if state in ("delivering", "leased_out"):
                values.update(status="delivering", attempts=1, lease_expires_at=now + timedelta(hours=1))
                if state == "leased_out":
                    values["lease_expires_at"] = now - timedelta(hours=1)
            elif state not in ("pending", "scheduled"):
                values.update(next_attempt_at=None, queued_for=None, finished_at=now)
            session.execute(update(Job).where(col(Job.id) == job_id).values(values))
    return by_state


def snapshot(rt: Runtime) -> dict[str, tuple]:
    with session_scope(rt.engine) as session:
        return {job.id: tuple(getattr(job, f) for f in FIELDS) for job in session.exec(select(Job)).all()}


def changed(before: dict[str, tuple], after: dict[str, tuple], by_state: dict[str, str]) -> set[str]:
    names = {job_id: state for state, job_id in by_state.items()}
    return {names[job_id] for job_id in before if before[job_id] != after[job_id]}


def bulk(rt: Runtime, arrow: Any, *args: Any) -> tuple[set[str], dict[str, tuple], Any]:
    by_state = jobs_in_every_state(rt)
    before = snapshot(rt)
    with session_scope(rt.engine) as session:
        result = arrow(session, list(by_state.values()), *args)
    after = snapshot(rt)
    return changed(before, after, by_state), {state: after[job_id] for state, job_id in by_state.items()}, result


def test_lease_takes_waiting_jobs_and_expired_leases_only(rt: Runtime) -> None:
    now = utcnow()
    moved, rows, _ = bulk(rt, transitions.lease, now, 30.0)
    assert moved == {"pending", "scheduled", "leased_out"}
    lease = now + timedelta(seconds=30)
    assert rows["pending"][:2] == ("delivering", 1) and rows["pending"][5] == lease
    assert rows["leased_out"][:2] == ("delivering", 2) and rows["leased_out"][5] == lease


def test_finish_delivered_ends_delivering_jobs_only(rt: Runtime) -> None:
    now = utcnow()
    moved, rows, _ = bulk(rt, transitions.finish_delivered, now)
    assert moved == {"delivering", "leased_out"}
    assert rows["delivering"] == ("delivered", 1, 0, None, None, None, now)


def test_cancel_stops_waiting_jobs_and_leaves_delivering_ones_alone(rt: Runtime) -> None:
    now = utcnow()
    moved, rows, count = bulk(rt, transitions.cancel, now)
    assert (moved, count) == ({"pending", "scheduled"}, 2)
    assert rows["pending"] == ("cancelled", 0, 0, None, None, None, now)
    assert rows["delivering"][0] == "delivering"


def test_requeue_sends_failed_and_dead_jobs_again_only(rt: Runtime) -> None:
    now = utcnow()
    moved, rows, count = bulk(rt, transitions.requeue, now)
    assert (moved, count) == ({"failed", "dead"}, 2)
    assert rows["dead"] == ("pending", 0, 0, now, now, None, None)


def test_release_makes_waiting_jobs_due_now_only(rt: Runtime) -> None:
    now = utcnow() + timedelta(seconds=5)
    moved, rows, _ = bulk(rt, transitions.release, now)
    assert moved == {"pending", "scheduled"}
    assert rows["scheduled"][:5] == ("scheduled", 0, 0, now, now)


def one(rt: Runtime, state: str) -> tuple[Session, Job]:
    job_id = jobs_in_every_state(rt)[state]
    session = Session(rt.engine)
    job = session.get(Job, job_id)
    assert job is not None
    return session, job


def refused(rt: Runtime, state: str, arrow: Any, *args: Any, **kwargs: Any) -> None:
    """``arrow`` refuses a job in ``state`` and changes nothing on it."""
    session, job = one(rt, state)
    with session:
        before = tuple(getattr(job, f) for f in FIELDS)
        with pytest.raises(TransitionRefused):
            arrow(job, *args, **kwargs)
        assert tuple(getattr(job, f) for f in FIELDS) == before


@pytest.mark.parametrize("state", ["delivered", "failed", "dead", "cancelled", "skipped"])
def test_finish_refuses_a_job_already_final(rt: Runtime, state: str) -> None:
    refused(rt, state, transitions.finish, JobStatus.FAILED, utcnow(), error="late")


def test_finish_refuses_to_skip(rt: Runtime) -> None:
    refused(rt, "delivering", transitions.finish, JobStatus.SKIPPED, utcnow())


def test_finish_ends_a_delivering_job_with_its_error(rt: Runtime) -> None:
    session, job = one(rt, "delivering")
    now = utcnow()
    with session:
        transitions.finish(job, JobStatus.DEAD, now, error="gave up", error_class="transient")
        assert tuple(getattr(job, f) for f in FIELDS) == ("dead", 1, 0, None, None, None, now)
        assert (job.last_error, job.error_class) == ("gave up", "transient")


@pytest.mark.parametrize("state", ["pending", "scheduled", "delivered", "failed", "dead", "cancelled", "skipped"])
def test_retry_at_refuses_a_job_not_in_flight(rt: Runtime, state: str) -> None:
    refused(rt, state, transitions.retry_at, utcnow(), utcnow(), HORIZON_SECONDS)


def test_retry_at_schedules_a_delivering_job_and_sends_within_the_horizon_only(rt: Runtime) -> None:
    session, job = one(rt, "delivering")
    now = utcnow()
    with session:
        soon, later = now + timedelta(seconds=10), now + timedelta(seconds=HORIZON_SECONDS + 1)
        assert transitions.retry_at(job, soon, now, HORIZON_SECONDS) == soon
        assert tuple(getattr(job, f) for f in FIELDS) == ("scheduled", 1, 0, soon, soon, None, None)
        job.status = JobStatus.DELIVERING
        assert transitions.retry_at(job, later, now, HORIZON_SECONDS) is None
        assert (job.next_attempt_at, job.queued_for) == (later, None)


@pytest.mark.parametrize("state", ["delivered", "failed", "dead", "cancelled", "skipped"])
def test_hold_refuses_a_final_job(rt: Runtime, state: str) -> None:
    refused(rt, state, transitions.hold, None, "halted", utcnow(), HORIZON_SECONDS)


def test_hold_waits_without_spending_an_attempt(rt: Runtime) -> None:
    session, job = one(rt, "delivering")
    now = utcnow()
    with session:
        assert transitions.hold(job, None, "halted", now, HORIZON_SECONDS, give_back_attempt=True) is None
        assert tuple(getattr(job, f) for f in FIELDS) == ("scheduled", 0, 0, None, None, None, None)
        assert job.held_reason == "halted"


def test_release_one_makes_the_next_ordered_job_due_now(rt: Runtime) -> None:
    session, job = one(rt, "scheduled")
    due = job.next_attempt_at
    with session:
        transitions.release_one(job, due + timedelta(minutes=5))  # already due: stays as it is
        assert (job.status, job.next_attempt_at, job.queued_for) == ("scheduled", due, due)
        earlier = due - timedelta(minutes=5)
        transitions.release_one(job, earlier)
        assert (job.status, job.next_attempt_at, job.queued_for) == ("scheduled", earlier, earlier)
    refused(rt, "delivering", transitions.release_one, earlier)


def test_created_rows_and_the_horizon_rule(rt: Runtime) -> None:
    now = utcnow()
    later = now + timedelta(hours=2)
    assert transitions.created(None, now, now, now) == {
        "status": "pending",
        "next_attempt_at": now,
        "queued_for": now,
        "skip_reason": None,
        "finished_at": None,
    }
    assert transitions.created(None, later, None, now)["status"] == "scheduled"
    assert transitions.created("refused by policy", now, now, now) == {
        "status": "skipped",
        "next_attempt_at": None,
        "queued_for": None,
        "skip_reason": "refused by policy",
        "finished_at": now,
    }
    edge: datetime = now + timedelta(seconds=HORIZON_SECONDS)
    assert [transitions.message_due(due, now, HORIZON_SECONDS) for due in (None, now, edge, later)] == [
        None,
        now,
        edge,
        None,
    ]


def test_fail_late_starts_from_delivered_only() -> None:
    now = utcnow()
    job = Job(id="job_1", workspace_id="w", plan_id="p", target_id="t", content_key="k", status=JobStatus.DELIVERED)
    transitions.fail_late(job, now, error="WhatsApp reported it failed.")
    assert (job.status, job.error_class, job.last_error, job.finished_at) == (
        JobStatus.FAILED, "permanent", "WhatsApp reported it failed.", now
    )  # fmt: skip
    with pytest.raises(TransitionRefused):
        transitions.fail_late(job, now, error="again")
    assert job.last_error == "WhatsApp reported it failed."

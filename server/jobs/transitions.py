"""The arrows of the job diagram in ``server.jobs.status``: the only code that assigns a job's status.

Each function is one arrow, named after it. A single-job form takes the ORM ``Job`` (the caller has
locked it) and raises ``TransitionRefused`` when the job is not where the arrow starts, changing
nothing; a bulk form is one UPDATE for many ids whose WHERE names the states the arrow starts from,
so a row elsewhere is left as it is. Whenever a due time is written, ``queued_for`` is written in
the same statement (``message_due``): the caller sends the message after commit
when it is set, the scheduler tick later when it is not.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, or_, update
from sqlmodel import Session, col

from server.db import one_of
from server.jobs.status import RETRYABLE, UNFINISHED, WAITING, JobStatus
from server.models import Job

# What ``finish`` may end a job with; ``skipped`` is decided at creation only.
FINISHED_BY_WORKERS = (JobStatus.DELIVERED, JobStatus.FAILED, JobStatus.DEAD, JobStatus.CANCELLED)


class TransitionRefused(ValueError):
    """A job asked to take an arrow that does not start where it is (a bug in the caller)."""


def message_due(due: datetime | None, now: datetime, horizon_seconds: float) -> datetime | None:
    """The ``queued_for`` of a job due at ``due``, written ``now``: ``due`` when its message is sent at
    once (due within the horizon), None when it is left to the scheduler tick (or has no due time)."""
    if due is None or due - now > timedelta(seconds=horizon_seconds):
        return None
    return due


def _expect(job: Job, allowed: tuple[JobStatus, ...], arrow: str) -> None:
    if job.status not in allowed:
        raise TransitionRefused(f"job {job.id} is {job.status}: {arrow} starts from {', '.join(allowed)}")


def created(skip_reason: str | None, due: datetime, queued_for: datetime | None, now: datetime) -> dict[str, Any]:
    """create: the state columns of a new job row, due at ``due`` (``scheduled`` if later than ``now``)
    with its message already sent for ``queued_for``; ``skipped`` when there is a ``skip_reason``."""
    if skip_reason is not None:
        return {
            "status": JobStatus.SKIPPED,
            "next_attempt_at": None,
            "queued_for": None,
            "skip_reason": skip_reason,
            "finished_at": now,
        }
    return {
        "status": JobStatus.SCHEDULED if due > now else JobStatus.PENDING,
        "next_attempt_at": due,
        "queued_for": queued_for,
        "skip_reason": None,
        "finished_at": None,
    }


def fallback(origin: Job, job_id: str, target_id: str, now: datetime, *, addressed: bool) -> dict[str, Any]:
    """fallback (create): the row of the job a failed or dead ``origin`` spawns on its target's fallback,
    in the same plan and for the same content, due now (its message is sent after commit); for the same
    recipient when the fallback target is ``addressed`` (else it is one broadcast delivery of that content)."""
    _expect(origin, (JobStatus.FAILED, JobStatus.DEAD), "fallback")
    return {
        "id": job_id,
        "workspace_id": origin.workspace_id,
        "plan_id": origin.plan_id,
        "target_id": target_id,
        "content_key": origin.content_key,
        "fallback_of": origin.id,
        "recipient_id": origin.recipient_id if addressed else None,
        "variation": origin.variation,
        "attempts": 0,
        "retries_used": 0,
        "created_at": now,
        "updated_at": now,
        **created(None, now, now, now),
    }


def lease(session: Session, job_ids: list[str], now: datetime, lease_seconds: float) -> None:
    """lease (bulk, a batch's claims in one UPDATE): pending | scheduled, or delivering whose lease
    expired → delivering, one attempt spent, held until ``now + lease_seconds``."""
    free = or_(
        col(Job.status).in_(WAITING),
        and_(col(Job.status) == JobStatus.DELIVERING, col(Job.lease_expires_at) <= now),
    )
    session.execute(
        update(Job)
        .where(one_of(session, Job.id, job_ids), free)
        .values(
            status=JobStatus.DELIVERING,
            attempts=Job.attempts + 1,
            updated_at=now,
            held_reason=None,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
        )
        .execution_options(synchronize_session=False)
    )


def renew_leases(session: Session, mine: Iterable[tuple[str, int]], until: datetime) -> None:
    """Extend the leases of jobs still delivering at the given attempt (never one another worker has since leased)."""
    ours = or_(*(and_(col(Job.id) == job_id, col(Job.attempts) == attempt) for job_id, attempt in mine))
    session.execute(update(Job).where(col(Job.status) == JobStatus.DELIVERING, ours).values(lease_expires_at=until))


def hold(
    job: Job,
    until: datetime | None,
    reason: str,
    now: datetime,
    horizon_seconds: float,
    *,
    give_back_attempt: bool = False,
) -> datetime | None:
    """hold: pending | scheduled | delivering → scheduled, waiting for ``until`` (None: until an operator
    resumes) without spending an attempt (``give_back_attempt``: the lease's attempt was not sent).

    Returns the due time to send the message for after commit, or None (no message now)."""
    _expect(job, UNFINISHED, "hold")
    job.status, job.next_attempt_at, job.held_reason, job.updated_at = JobStatus.SCHEDULED, until, reason, now
    job.lease_expires_at = None
    if give_back_attempt:
        job.attempts -= 1
    job.queued_for = message_due(until, now, horizon_seconds)
    return job.queued_for


def retry_at(job: Job, due: datetime, now: datetime, horizon_seconds: float) -> datetime | None:
    """retry at: delivering → scheduled at ``due``, after an attempt that may be tried again.

    Returns the due time to send the message for after commit, or None (the tick sends it)."""
    _expect(job, (JobStatus.DELIVERING,), "retry_at")
    job.status, job.next_attempt_at, job.lease_expires_at, job.updated_at = JobStatus.SCHEDULED, due, None, now
    job.queued_for = message_due(due, now, horizon_seconds)
    return job.queued_for


def finish(
    job: Job, status: JobStatus, now: datetime, *, error: str | None = None, error_class: str | None = None
) -> None:
    """finish: delivering (or, found at claim, waiting) → delivered | failed | dead | cancelled.

    The plan's counters are the caller's (``server.jobs.plan_state.Tally``), once per plan and status."""
    if status not in FINISHED_BY_WORKERS:
        raise TransitionRefused(f"finish ends a job {', '.join(FINISHED_BY_WORKERS)}, not {status}")
    _expect(job, UNFINISHED, "finish")
    job.status, job.finished_at, job.updated_at, job.lease_expires_at = status, now, now, None
    job.next_attempt_at = job.queued_for = None
    if error is not None:
        job.last_error, job.error_class = error, error_class or "permanent"


def fail_late(job: Job, now: datetime, *, error: str, error_class: str = "permanent") -> None:
    """fail late: delivered → failed, when the provider reports after accepting it that the message failed
    (a status webhook). The plan's counters are the caller's (``server.jobs.plan_state.fail_late``)."""
    _expect(job, (JobStatus.DELIVERED,), "fail_late")
    job.status, job.updated_at, job.finished_at = JobStatus.FAILED, now, now
    job.last_error, job.error_class = error, error_class


def finish_delivered(session: Session, job_ids: list[str], now: datetime) -> None:
    """finish (bulk, the path nearly every delivery takes): delivering → delivered, in one UPDATE."""
    session.execute(
        update(Job)
        .where(one_of(session, Job.id, job_ids), col(Job.status) == JobStatus.DELIVERING)
        .values(
            status=JobStatus.DELIVERED,
            finished_at=now,
            updated_at=now,
            lease_expires_at=None,
            next_attempt_at=None,
            queued_for=None,
            last_error=None,
            error_class=None,
        )
        .execution_options(synchronize_session=False)
    )


def cancel(session: Session, job_ids: list[str], now: datetime) -> int:
    """cancel (bulk): pending | scheduled → cancelled. A delivering job is left to finish its attempt.

    Returns how many jobs were cancelled."""
    result = session.exec(
        update(Job)
        .where(col(Job.id).in_(job_ids), col(Job.status).in_(WAITING))
        .values(status=JobStatus.CANCELLED, finished_at=now, updated_at=now, next_attempt_at=None, queued_for=None)
    )
    return int(result.rowcount or 0)


def requeue(session: Session, job_ids: list[str], now: datetime) -> int:
    """requeue (bulk): failed | dead → pending, due now, its retries given back. Returns how many."""
    result = session.exec(
        update(Job)
        .where(col(Job.id).in_(job_ids), col(Job.status).in_(RETRYABLE))
        .values(
            status=JobStatus.PENDING,
            retries_used=0,
            next_attempt_at=now,
            queued_for=now,
            finished_at=None,
            updated_at=now,
            held_reason=None,
        )
    )
    return int(result.rowcount or 0)


def release(session: Session, job_ids: list[str], now: datetime, *, keep_reason: bool = False) -> None:
    """release (bulk): waiting jobs become due now, their message sent now (a resume ends their hold).

    ``keep_reason``: the hold's reason stays shown until the job is leased."""
    values: dict[str, Any] = {"next_attempt_at": now, "queued_for": now, "updated_at": now}
    if not keep_reason:
        values["held_reason"] = None
    session.execute(update(Job).where(col(Job.id).in_(job_ids), col(Job.status).in_(WAITING)).values(values))


def release_one(job: Job, now: datetime) -> None:
    """release: a waiting job (the next of an ordered target) becomes due now if it was due later."""
    _expect(job, WAITING, "release")
    if job.next_attempt_at is not None and job.next_attempt_at > now:
        job.next_attempt_at = now
    job.queued_for = job.next_attempt_at

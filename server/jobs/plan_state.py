"""A plan's status and counters: the only code that assigns them (the plan half of ``server.jobs.status``).

The counters (``<status>_count``) move in one UPDATE per plan and final job status, never per job:
10,000 jobs of one plan must not queue on its row. A plan ends when its counters reach ``total_jobs``.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import update
from sqlmodel import Session, col

from server.jobs.status import PLAN_FINAL, PLAN_NOT_STARTED, PLAN_PAUSABLE, JobStatus, PlanStatus
from server.models import Plan
from server.models.base import utcnow

# A plan that reached one of these by its jobs' results is done; a cancelled one still completes.
_ENDED_BY_JOBS = (PlanStatus.SUCCEEDED, PlanStatus.PARTIAL, PlanStatus.FAILED)


class TransitionRefused(ValueError):
    """A plan asked to take an arrow that does not start where it is (nothing changed)."""


def created(scheduled: bool) -> PlanStatus:
    """create: a plan waits for its schedule, or is queued at once."""
    return PlanStatus.SCHEDULED if scheduled else PlanStatus.QUEUED


def mark_running(session: Session, plan_id: str) -> None:
    """mark running: scheduled | queued → running, when its first job is leased."""
    session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id, col(Plan.status).in_(PLAN_NOT_STARTED))
        .values(status=PlanStatus.RUNNING)
    )


def final_status(delivered: int, failed: int, dead: int, cancelled: int, was: str, handed_over: int = 0) -> PlanStatus:
    """``handed_over``: failed or dead jobs whose outcome is their fallback job's (each is one of the jobs)."""
    if was == PlanStatus.CANCELLED:
        return PlanStatus.CANCELLED
    if failed + dead - handed_over <= 0:
        return PlanStatus.SUCCEEDED if delivered or not cancelled else PlanStatus.CANCELLED
    return PlanStatus.FAILED if delivered == 0 else PlanStatus.PARTIAL


def record_terminal(session: Session, plan_id: str, job_status: JobStatus, count: int = 1) -> PlanStatus | None:
    """Count ``count`` jobs that reached ``job_status``; returns the plan's final status if it just finished."""
    column = getattr(Plan, f"{job_status}_count")
    row = session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id)
        .values({column: column + count, Plan.updated_at: utcnow()})
        .returning(
            col(Plan.total_jobs),
            col(Plan.delivered_count),
            col(Plan.failed_count),
            col(Plan.dead_count),
            col(Plan.cancelled_count),
            col(Plan.skipped_count),
            col(Plan.status),
            col(Plan.fallback_count),
        )
    ).one()
    total, delivered, failed, dead, cancelled, skipped, status, handed_over = row
    return finish_if_done(session, plan_id, total, delivered, failed, dead, cancelled, skipped, status, handed_over)


def record_fallbacks(session: Session, plan_id: str, spawned: int, handed_over: int) -> None:
    """Count ``spawned`` new fallback jobs into ``total_jobs`` and ``handed_over`` failures handed to a fallback
    (a failure again of a retried job hands over to the fallback it already has: handed over, none spawned)."""
    session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id)
        .values(
            total_jobs=Plan.total_jobs + spawned,
            fallback_count=Plan.fallback_count + handed_over,
            updated_at=utcnow(),
        )
    )


def finish_if_done(
    session: Session,
    plan_id: str,
    total: int,
    delivered: int,
    failed: int,
    dead: int,
    cancelled: int,
    skipped: int,
    status: str,
    handed_over: int = 0,
) -> PlanStatus | None:
    """finish: a plan whose jobs all ended → succeeded | partial | failed | cancelled (returned), else None."""
    if delivered + failed + dead + cancelled + skipped < total or status in _ENDED_BY_JOBS:
        return None
    final = final_status(delivered, failed, dead, cancelled, status, handed_over)
    session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id, col(Plan.completed_at).is_(None))
        .values(status=final, completed_at=utcnow())
    )
    return final


def fail_late(session: Session, plan_id: str, count: int = 1) -> PlanStatus | None:
    """fail late: ``count`` delivered jobs turned failed. A plan still running only moves its counters; one that
    had ended by its jobs' results takes the status those results now give (succeeded → partial | failed).

    Returns the plan's new final status when it changed."""
    row = session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id)
        .values(
            delivered_count=Plan.delivered_count - count, failed_count=Plan.failed_count + count, updated_at=utcnow()
        )
        .returning(
            col(Plan.delivered_count),
            col(Plan.failed_count),
            col(Plan.dead_count),
            col(Plan.cancelled_count),
            col(Plan.status),
        )
    ).one()
    delivered, failed, dead, cancelled, status = row
    if status not in _ENDED_BY_JOBS:
        return None
    final = final_status(delivered, failed, dead, cancelled, status)
    if final == status:
        return None
    session.execute(update(Plan).where(col(Plan.id) == plan_id).values(status=final))
    return final


def reopen(session: Session, plan_id: str, failed: int, dead: int, now: datetime, handed_over: int = 0) -> None:
    """reopen: a plan whose ``failed`` failed and ``dead`` dead jobs are sent again → running; ``handed_over``
    of them had a fallback job, whose outcome no longer stands for theirs."""
    session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id)
        .values(
            failed_count=Plan.failed_count - failed,
            dead_count=Plan.dead_count - dead,
            fallback_count=Plan.fallback_count - handed_over,
            status=PlanStatus.RUNNING,
            completed_at=None,
            updated_at=now,
        )
    )


def cancel(plan: Plan) -> None:
    """cancel: a plan not yet ended → cancelled (its waiting jobs are cancelled with it, by the caller)."""
    if plan.status in PLAN_FINAL:
        raise TransitionRefused(f"plan {plan.id} already ended ({plan.status})")
    plan.status = PlanStatus.CANCELLED


def pause(plan: Plan, reason: str, now: datetime) -> None:
    """pause: scheduled | queued | running → paused (its waiting jobs are held at claim, no attempt spent)."""
    if plan.status not in PLAN_PAUSABLE:
        raise TransitionRefused(f"plan {plan.id} is {plan.status}: only a plan not yet ended and not paused pauses")
    plan.status, plan.paused_reason, plan.paused_at, plan.updated_at = PlanStatus.PAUSED, reason[:500], now, now


def pause_guarded(session: Session, plan_id: str, reason: str, now: datetime) -> bool:
    """pause (by the plan's haltWhen guard, one UPDATE): scheduled | queued | running → paused; False if it was not."""
    result = session.execute(
        update(Plan)
        .where(col(Plan.id) == plan_id, col(Plan.status).in_(PLAN_PAUSABLE))
        .values(status=PlanStatus.PAUSED, paused_reason=reason[:500], paused_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def resume(plan: Plan, started: bool, now: datetime) -> None:
    """resume: paused → running (``started``: a job was leased), else queued | scheduled as at creation."""
    if plan.status != PlanStatus.PAUSED:
        raise TransitionRefused(f"plan {plan.id} is {plan.status}, not paused")
    waiting_for_schedule = plan.scheduled_at is not None and plan.scheduled_at > now
    plan.status = PlanStatus.RUNNING if started else created(waiting_for_schedule)
    plan.paused_reason, plan.paused_at, plan.updated_at = None, None, now


class JobKey(Protocol):
    """What identifies a job and its owners: an ORM ``Job`` or a plain row of those columns."""

    id: str
    plan_id: str
    workspace_id: str
    target_id: str


@dataclass(frozen=True)
class Settled:
    """One plan's share of a transaction's finished jobs, once its counters moved."""

    plan_id: str
    workspace_id: str
    job_ids: list[str]
    final: PlanStatus | None  # the plan's final status, if these jobs ended it


class Tally:
    """The jobs a transaction finished, counted on their plans when it settles."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[JobStatus]] = defaultdict(Counter)
        self._ids: dict[str, list[str]] = defaultdict(list)
        self._workspaces: dict[str, str] = {}
        self._fallbacks: dict[str, list[int]] = defaultdict(lambda: [0, 0])  # plan -> [spawned, handed over]

    def add(self, job: JobKey, status: JobStatus) -> None:
        self._counts[job.plan_id][status] += 1
        self._ids[job.plan_id].append(job.id)
        self._workspaces[job.plan_id] = job.workspace_id

    def hand_over(self, job: JobKey, spawned: bool) -> None:
        """``job`` (tallied as failed or dead) handed its outcome to a fallback job, ``spawned`` by this transaction."""
        self._fallbacks[job.plan_id][0] += int(spawned)
        self._fallbacks[job.plan_id][1] += 1

    def settle(self, session: Session) -> list[Settled]:
        """Inside the transaction, last: the counters, plans in id order (so two workers never deadlock)."""
        settled = []
        for plan_id in sorted(self._counts):
            final = None
            if plan_id in self._fallbacks:  # first: a plan must not end while its fallbacks are still to run
                record_fallbacks(session, plan_id, *self._fallbacks[plan_id])
            for status, count in sorted(self._counts[plan_id].items()):
                final = record_terminal(session, plan_id, status, count) or final
            settled.append(Settled(plan_id, self._workspaces[plan_id], self._ids[plan_id], final))
        return settled

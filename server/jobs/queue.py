"""Sending jobs' queue messages, and making waiting jobs due now.

A job due within ``HERALD_ENQUEUE_HORIZON_SECONDS`` gets its message when its due time is written
(a delayed message for the due time); the row remembers it in ``queued_for``, set in the same
INSERT or UPDATE (``transitions.message_due``). A job due later gets none (``queued_for`` NULL)
until the scheduler tick (``server.jobs.scheduler``) sends it as its due time comes within the horizon.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import col, select

from server.db import session_scope
from server.jobs import transitions
from server.jobs.status import WAITING
from server.models import Job
from server.models.base import utcnow
from server.runtime import Runtime


def enqueue_at(rt: Runtime, job_ids: list[str], eta: datetime | None) -> None:
    """After commit: send the messages of jobs whose ``queued_for`` was just set to ``eta`` (None: now).

    Beyond the horizon nothing is sent: such a job's ``queued_for`` is NULL, the tick sends it."""
    if not job_ids:
        return
    now = utcnow()
    if eta is None or eta <= now:
        rt.queue.enqueue(job_ids)
    elif transitions.message_due(eta, now, rt.settings.enqueue_horizon_seconds) is not None:
        rt.queue.enqueue(job_ids, eta)


def requeue_target_jobs(rt: Runtime, target_id: str) -> int:
    """After a manual resume, jobs that were waiting for the pause to end become due now."""
    now = utcnow()
    with session_scope(rt.engine) as session:
        ids = list(
            session.exec(
                select(Job.id).where(
                    Job.target_id == target_id, col(Job.status).in_(WAITING), col(Job.next_attempt_at) > now
                )
            ).all()
        )
        if ids:
            transitions.release(session, ids, now, keep_reason=True)
    enqueue_at(rt, ids, None)
    return len(ids)

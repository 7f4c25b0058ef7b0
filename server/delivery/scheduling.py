"""Handing due jobs to the queue, and the sweeper that finds jobs whose message was lost."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlmodel import col, select

from server.db import session_scope
from server.models import Job
from server.models.base import utcnow
from server.runtime import Runtime

log = logging.getLogger(__name__)
WAITING = ("pending", "scheduled")


def enqueue_at(rt: Runtime, job_ids: list[str], eta: datetime | None) -> None:
    """Send messages for jobs due at ``eta``; beyond the horizon the sweeper sends them when due."""
    if not job_ids:
        return
    now = utcnow()
    if eta is None or eta <= now:
        rt.queue.enqueue(job_ids)
    elif eta - now <= timedelta(seconds=rt.settings.enqueue_horizon_seconds):
        rt.queue.enqueue(job_ids, eta)


def requeue_target_jobs(rt: Runtime, target_id: str) -> int:
    """After a manual resume, jobs that were waiting for the pause to end become due now."""
    now = utcnow()
    with session_scope(rt.engine) as session:
        ids = list(
            session.exec(
                select(Job.id).where(
                    Job.target_id == target_id, col(Job.status).in_(WAITING), Job.next_attempt_at > now
                )
            ).all()
        )
        if ids:
            session.execute(update(Job).where(col(Job.id).in_(ids)).values(next_attempt_at=now))
    enqueue_at(rt, ids, None)
    return len(ids)


def sweep(rt: Runtime, grace_seconds: float | None = None, batch: int = 1000) -> int:
    """Re-enqueue jobs whose delivery lease expired (worker died), and overdue jobs (message lost).

    Overdue jobs count as lost only while the queue is drained: behind a backlog, an overdue job
    is most likely still queued, and re-sending it would only add duplicate messages.
    """
    now = utcnow()
    grace = timedelta(seconds=rt.settings.sweep_interval_seconds * 2 if grace_seconds is None else grace_seconds)
    stale = (col(Job.status) == "delivering") & (col(Job.lease_expires_at) < now)
    if rt.queue.backlog() == 0:
        stale = or_(stale, col(Job.status).in_(WAITING) & (col(Job.next_attempt_at) <= now - grace))
    with session_scope(rt.engine) as session:
        ids = list(session.exec(select(Job.id).where(stale).order_by(col(Job.next_attempt_at)).limit(batch)).all())
    if ids:
        log.info("sweeper re-enqueued %d job(s)", len(ids))
        rt.queue.enqueue(ids)
    return len(ids)

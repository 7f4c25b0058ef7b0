"""The sweeper: re-enqueues jobs whose lease expired (their worker died) and jobs whose message was lost.

Jobs due beyond the enqueue horizon are not its business: the scheduler tick (``server.jobs.scheduler``)
sends their first message, whatever the backlog.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import ColumnElement, or_
from sqlmodel import col, select

from server.db import session_scope
from server.jobs.status import WAITING, JobStatus
from server.models import Job
from server.models.base import utcnow
from server.runtime import Runtime

log = logging.getLogger(__name__)


def sweep(rt: Runtime, grace_seconds: float | None = None, batch: int = 1000) -> int:
    """Re-enqueue jobs whose delivery lease expired (worker died), and overdue jobs (message lost).

    Overdue jobs count as lost only while the queue is drained: behind a backlog, an overdue job
    is most likely still queued, and re-sending it would only add duplicate messages.
    """
    now = utcnow()
    grace = timedelta(seconds=rt.settings.sweep_interval_seconds * 2 if grace_seconds is None else grace_seconds)
    stale: ColumnElement[bool] = (col(Job.status) == JobStatus.DELIVERING) & (col(Job.lease_expires_at) < now)
    if rt.queue.backlog() == 0:
        stale = or_(stale, col(Job.status).in_(WAITING) & (col(Job.next_attempt_at) <= now - grace))
    with session_scope(rt.engine) as session:
        ids = list(session.exec(select(Job.id).where(stale).order_by(col(Job.next_attempt_at)).limit(batch)).all())
    if ids:
        log.info("sweeper re-enqueued %d job(s)", len(ids))
        rt.queue.enqueue(ids)
    return len(ids)

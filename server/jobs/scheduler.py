"""The scheduler tick: sends the message of every waiting job as its due time comes within the enqueue horizon.

A job due within ``HERALD_ENQUEUE_HORIZON_SECONDS`` gets a delayed message when its due time is
written, and ``queued_for`` records the due time that message was sent for (same INSERT or UPDATE,
so the hot path writes nothing more). A job due later (a plan scheduled next week, a pause of two
hours) gets none: ``queued_for`` stays NULL, or differs from ``next_attempt_at``. Each tick, every
worker process picks ``status IN WAITING AND next_attempt_at <= now + horizon AND queued_for IS
DISTINCT FROM next_attempt_at`` by due time, a batch at a time, marks them (``queued_for =
next_attempt_at``) and, after commit, sends their messages with the due time as eta. It does not
look at the backlog: a busy queue delays nothing but the messages' own turn.

Exactly once across workers: the rows are selected ``FOR UPDATE SKIP LOCKED`` (PostgreSQL) and the
marking UPDATE repeats the condition (SQLite serializes writers, so a second tick finds them marked),
so each job is promoted by one tick only. A worker that dies between the commit and the send loses
that batch's messages, like any after-commit send; the sweeper's lost-message branch recovers them.

Why per job rather than a watermark (a "sent up to" time per workspace or globally): a watermark
misses a job whose due time is rewritten behind it by a clock a little behind another worker's, and
sends duplicates for jobs whose message already went at once; ``queued_for`` says exactly which jobs
lack a message, and the partial index ``ix_jobs_unqueued`` holds only those, so a tick reads nothing
else however deep the backlog is.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from server.db import one_of, retry_on_conflict, session_scope
from server.jobs.status import WAITING
from server.models import Job
from server.models.base import utcnow
from server.runtime import Runtime

log = logging.getLogger(__name__)


def _unqueued(due_by: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        col(Job.queued_for).is_distinct_from(col(Job.next_attempt_at)),
        col(Job.status).in_(WAITING),
        col(Job.next_attempt_at) <= due_by,
    )


def tick(rt: Runtime, now: datetime | None = None, batch: int = 500) -> int:
    """Promote every waiting job due by ``now`` + the horizon that has no message yet; returns how many."""
    now = now or utcnow()
    due_by = now + timedelta(seconds=rt.settings.enqueue_horizon_seconds)
    total = 0
    while True:
        promoted = retry_on_conflict(lambda: _promote(rt, due_by, batch))
        _send(rt, promoted)
        total += len(promoted)
        if len(promoted) < batch:
            break
    if total:
        log.info("scheduler tick sent %d job(s) now within the enqueue horizon", total)
    return total


def _promote(rt: Runtime, due_by: datetime, batch: int) -> list[tuple[str, datetime]]:
    """Mark (in one transaction) up to ``batch`` of the earliest unqueued jobs: their ids and due times."""
    with session_scope(rt.engine) as session:
        query = select(Job.id).where(*_unqueued(due_by)).order_by(col(Job.next_attempt_at)).limit(batch)
        ids = list(session.exec(query.with_for_update(skip_locked=True)).all())
        return _mark(session, ids, due_by) if ids else []


def _mark(session: Session, ids: list[str], due_by: datetime) -> list[tuple[str, datetime]]:
    rows = session.execute(
        update(Job)
        .where(one_of(session, Job.id, ids), *_unqueued(due_by))
        .values(queued_for=Job.next_attempt_at)
        .returning(col(Job.id), col(Job.next_attempt_at))
        .execution_options(synchronize_session=False)
    ).all()
    return [(job_id, due) for job_id, due in rows]


def _send(rt: Runtime, promoted: list[tuple[str, datetime]]) -> None:
    by_due: dict[datetime, list[str]] = defaultdict(list)
    for job_id, due in promoted:
        by_due[due].append(job_id)
    for due in sorted(by_due):
        rt.queue.enqueue(sorted(by_due[due]), due)

"""Dead letters: list with filters, inspect, and the selection replay uses; retention."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlmodel import Session, col, func, select

from server.context import OpContext
from server.db import session_scope
from server.deadletters.schemas import (
    DeadLetterDetail,
    DeadLetterDetailResult,
    DeadLetterFilter,
    DeadLetterList,
    DeadLetterRead,
    GetDeadLetterInput,
    ListDeadLettersInput,
)
from server.errors import NotFound
from server.hints import hint
from server.ids import check_id
from server.jobs.status import JobStatus
from server.models import DeadLetter, Job
from server.models.base import utcnow
from server.pagination import page
from server.plans.repository import load_plan
from server.plans.schemas import JobsRequeuedPayload, ReplayDeadLettersInput
from server.plans.service import requeue_jobs
from server.runtime import Runtime
from server.targets.repository import load_target


def filtered(workspace_id: str, data: DeadLetterFilter):
    """Dead letters of jobs still dead, matching the filter."""
    query = (
        select(DeadLetter)
        .join(Job, col(Job.id) == DeadLetter.job_id)
        .where(DeadLetter.workspace_id == workspace_id, Job.status == JobStatus.DEAD)
    )
    if data.plan_id:
        query = query.where(DeadLetter.plan_id == check_id("plan", data.plan_id, "planId"))
    if data.target_id:
        query = query.where(DeadLetter.target_id == check_id("target", data.target_id, "targetId"))
    if data.error_class:
        query = query.where(DeadLetter.error_class == data.error_class)
    if data.since:
        query = query.where(DeadLetter.created_at >= data.since)
    if data.until:
        query = query.where(DeadLetter.created_at < data.until)
    return query


def _check_refs(session: Session, workspace_id: str, data: DeadLetterFilter) -> None:
    """A filter naming a plan or target the caller cannot see is an error, not an empty result."""
    if data.plan_id:
        load_plan(session, workspace_id, data.plan_id, "planId")
    if data.target_id:
        load_target(session, workspace_id, data.target_id, "targetId")


def list_dead_letters(ctx: OpContext, session: Session, data: ListDeadLettersInput) -> DeadLetterList:
    _check_refs(session, ctx.workspace_id, data)
    rows, next_cursor = page(
        session, filtered(ctx.workspace_id, data), DeadLetter.id, data.limit, data.cursor, newest_first=True
    )
    arguments = data.model_dump(mode="json", by_alias=True, exclude={"limit", "cursor"}, exclude_none=True)
    if next_cursor:
        action = hint(
            "list_dead_letters", "More dead letters follow.", cursor=next_cursor, limit=data.limit, **arguments
        )
    elif rows:
        action = hint(
            "replay_dead_letters",
            "Replay these once the receivers are healthy (dry run first).",
            dryRun=True,
            **arguments,
        )
    else:
        action = hint(None, "No dead letters match.")
    items = [DeadLetterRead.model_validate(row, from_attributes=True) for row in rows]
    return DeadLetterList(items=items, next_cursor=next_cursor, recommended_next_action=action)


def get_dead_letter(ctx: OpContext, session: Session, data: GetDeadLetterInput) -> DeadLetterDetailResult:
    check_id("dead_letter", data.id)
    row = session.exec(
        select(DeadLetter).where(DeadLetter.id == data.id, DeadLetter.workspace_id == ctx.workspace_id)
    ).first()
    if row is None:
        raise NotFound(
            f"No dead letter {data.id} in this workspace.",
            field="id",
            next_action=hint("list_dead_letters", "List dead letters to find the right id."),
        )
    return DeadLetterDetailResult(
        dead_letter=DeadLetterDetail.model_validate(row, from_attributes=True),
        recommended_next_action=hint(
            "replay_dead_letters", "Replay this job once its receiver is healthy.", jobIds=[row.job_id]
        ),
    )


def enforce_retention(rt: Runtime) -> int:
    """Drop dead letters past the age limit, and the oldest beyond the per-workspace count."""
    cutoff = utcnow() - timedelta(days=rt.settings.dead_letter_retention_days)
    with session_scope(rt.engine) as session:
        removed = session.exec(delete(DeadLetter).where(col(DeadLetter.created_at) < cutoff)).rowcount or 0
        counts = session.exec(select(DeadLetter.workspace_id, func.count()).group_by(DeadLetter.workspace_id)).all()
        for workspace_id, count in counts:
            excess = count - rt.settings.dead_letter_max_count
            if excess > 0:
                oldest = (
                    select(DeadLetter.id)
                    .where(DeadLetter.workspace_id == workspace_id)
                    .order_by(col(DeadLetter.id))
                    .limit(excess)
                )
                removed += session.exec(delete(DeadLetter).where(col(DeadLetter.id).in_(oldest))).rowcount or 0
    return removed


def replay_dead_letters(ctx: OpContext, session: Session, data: ReplayDeadLettersInput) -> JobsRequeuedPayload:
    _check_refs(session, ctx.workspace_id, data)
    query = filtered(ctx.workspace_id, data)
    if data.job_ids:
        query = query.where(col(DeadLetter.job_id).in_([check_id("job", j, "jobIds") for j in data.job_ids]))
    letters = list(session.exec(query.order_by(col(DeadLetter.id)).limit(data.limit)).all())
    jobs = list(
        session.exec(
            select(Job).where(col(Job.id).in_([letter.job_id for letter in letters])).order_by(col(Job.id))
        ).all()
    )
    result = requeue_jobs(ctx, session, jobs, data.dry_run)
    if not data.dry_run:
        now = utcnow()
        for letter in letters:
            letter.replayed_at, letter.replay_count = now, letter.replay_count + 1
            session.add(letter)
    return result

"""One page of a plan's jobs with their attempts and receipts: what the console's plan page reads.

Bounded for plans of any size: the page's jobs by keyset, then their receipts and attempts by id,
and the plan's counts from its counters (no scan of the plan's jobs).
"""

from __future__ import annotations

from collections import defaultdict

import sqlalchemy as sa
from sqlmodel import Session, col, select

from server.context import OpContext
from server.hints import hint
from server.models import Attempt, Job, Receipt, Target
from server.pagination import page
from server.plans import repository as repo
from server.plans.schemas import AttemptRead, ListPlanJobsInput, PlanJobList, PlanJobRead

ATTEMPT_COLUMNS = (
    Attempt.job_id,
    Attempt.number,
    Attempt.started_at,
    Attempt.duration_ms,
    Attempt.outcome,
    Attempt.status_code,
    Attempt.error_class,
    Attempt.error,
)


def list_plan_jobs(ctx: OpContext, session: Session, data: ListPlanJobsInput) -> PlanJobList:
    plan = repo.load_plan(session, ctx.workspace_id, data.plan_id, "planId")
    query = select(Job).where(Job.plan_id == plan.id)
    if data.status:
        query = query.where(Job.status == data.status)
    jobs, next_cursor = page(session, query, Job.id, data.limit, data.cursor, newest_first=False)
    ids = [job.id for job in jobs]
    receipts = {r.job_id: r for r in session.exec(select(Receipt).where(col(Receipt.job_id).in_(ids))).all()}
    names = dict(
        session.exec(select(Target.id, Target.name).where(col(Target.id).in_({job.target_id for job in jobs}))).all()
    )
    attempts = _attempts(session, ids)
    items = [
        PlanJobRead(
            **repo.job_read(job, receipts.get(job.id), names.get(job.target_id)).model_dump(),
            attempt_history=attempts[job.id],
        )
        for job in jobs
    ]
    action = (
        hint("list_plan_jobs", "More jobs follow.", planId=plan.id, cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint("get_plan_report", "Every job listed; the report sums them up.", id=plan.id)
    )
    return PlanJobList(
        plan=repo.plan_summary(plan), items=items, next_cursor=next_cursor, recommended_next_action=action
    )


def _attempts(session: Session, job_ids: list[str]) -> dict[str, list[AttemptRead]]:
    """The attempts of ``job_ids`` by job, oldest first (columns, not rows: a page holds hundreds)."""
    rows = session.execute(
        sa.select(*(col(column) for column in ATTEMPT_COLUMNS))
        .where(col(Attempt.job_id).in_(job_ids))
        .order_by(col(Attempt.job_id), col(Attempt.number))
    ).all()
    found: dict[str, list[AttemptRead]] = defaultdict(list)
    for job_id, number, started_at, duration_ms, outcome, status_code, error_class, error in rows:
        found[job_id].append(
            AttemptRead(
                number=number,
                started_at=started_at,
                duration_ms=duration_ms,
                outcome=outcome,
                status_code=status_code,
                error_class=error_class,
                error=error,
            )
        )
    return found

"""Operational events (read) and the workspace-wide emergency halt."""

from __future__ import annotations

from sqlmodel import Session, col, select

from server.activity.recorder import record_event
from server.activity.schemas import EventList, EventRead, HaltInput, HaltPayload, ListEventsInput, ResumeDeliveriesInput
from server.context import OpContext
from server.hints import for_real, hint
from server.jobs import transitions
from server.jobs.queue import enqueue_at
from server.jobs.status import JobStatus
from server.models import Job, OperationalEvent, Workspace
from server.models.base import utcnow
from server.pagination import page


def list_events(ctx: OpContext, session: Session, data: ListEventsInput) -> EventList:
    query = select(OperationalEvent).where(OperationalEvent.workspace_id == ctx.workspace_id)
    for column, value in (
        (OperationalEvent.type, data.type),
        (OperationalEvent.target_id, data.target_id),
        (OperationalEvent.plan_id, data.plan_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if data.since:
        query = query.where(OperationalEvent.created_at >= data.since)
    if data.until:
        query = query.where(OperationalEvent.created_at < data.until)
    rows, next_cursor = page(session, query, OperationalEvent.id, data.limit, data.cursor, newest_first=True)
    items = [EventRead.model_validate(row, from_attributes=True) for row in rows]
    action = (
        hint("list_operational_events", "Older events follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint(None, "All matching events listed.")
    )
    return EventList(items=items, next_cursor=next_cursor, recommended_next_action=action)


def halt_deliveries(ctx: OpContext, session: Session, data: HaltInput) -> HaltPayload:
    workspace = session.exec(select(Workspace).where(Workspace.id == ctx.workspace_id).with_for_update()).one()
    if data.dry_run:
        return HaltPayload(halted=workspace.halted, dry_run=True, recommended_next_action=for_real())
    workspace.halted = True
    session.add(workspace)
    record_event(
        session,
        ctx.workspace_id,
        "deliveries.halted",
        f"Deliveries halted by {ctx.principal.name}: {data.reason or 'no reason given'}.",
    )
    return HaltPayload(
        halted=True,
        recommended_next_action=hint(
            "resume_deliveries", "No new request leaves this workspace until you resume; attempts in flight finish."
        ),
    )


def resume_deliveries(ctx: OpContext, session: Session, data: ResumeDeliveriesInput) -> HaltPayload:
    workspace = session.exec(select(Workspace).where(Workspace.id == ctx.workspace_id).with_for_update()).one()
    held = select(Job.id).where(
        Job.workspace_id == ctx.workspace_id,
        Job.status == JobStatus.SCHEDULED,
        col(Job.next_attempt_at).is_(None),
        col(Job.held_reason).is_not(None),
    )
    ids = list(session.exec(held).all())
    if data.dry_run:
        return HaltPayload(
            halted=workspace.halted,
            jobs_released=len(ids),
            dry_run=True,
            recommended_next_action=for_real(f"Resume for real: {len(ids)} job(s) wait."),
        )
    workspace.halted = False
    session.add(workspace)
    now = utcnow()
    if ids:
        transitions.release(session, ids, now)
    record_event(session, ctx.workspace_id, "deliveries.resumed", f"Deliveries resumed by {ctx.principal.name}.")
    ctx.after_commit(lambda: enqueue_at(ctx.runtime, ids, None))
    return HaltPayload(
        halted=False,
        jobs_released=len(ids),
        recommended_next_action=hint("list_distribution_plans", "Deliveries go on; watch the plans."),
    )

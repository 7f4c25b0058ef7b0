"""Pausing a plan (``pause_distribution_plan``, or its ``haltWhen`` guard) and resuming it.

A paused plan's waiting jobs are held when a worker claims them (``held_reason`` "plan paused: …",
no attempt spent, no due time); attempts already in flight finish. Resuming releases the held jobs
(due now) and puts the plan back where it was; jobs due later keep their due times. The workspace
halt (``halt_deliveries``) stays the emergency stop for everything at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_
from sqlmodel import Session, col, select

from server.activity.recorder import record_event
from server.context import OpContext
from server.errors import Conflict
from server.hints import NextAction, for_real, hint
from server.jobs import plan_state, transitions
from server.jobs.queue import enqueue_at
from server.jobs.status import HELD_BY_PLAN_PAUSE, PLAN_PAUSABLE, RATE_LIMIT_PAUSE, WAITING, PlanStatus
from server.models import Job, OperationalEvent, Plan
from server.models.base import utcnow
from server.plans import repository as repo
from server.plans.hints import paused_hint, plan_hint
from server.plans.schemas import PausePlanInput, PlanMutationInput, PlanPayload


def pause_plan(ctx: OpContext, session: Session, data: PausePlanInput) -> PlanPayload:
    plan = repo.load_plan(session, ctx.workspace_id, data.id, lock=True)
    if plan.status not in PLAN_PAUSABLE:
        raise Conflict(
            f"Plan {plan.id} is {plan.status}; only a plan that has not ended and is not paused can pause.",
            field="id",
            next_action=_state_hint(plan),
        )
    waiting = _count(session, plan.id)
    if data.dry_run:
        return PlanPayload(
            plan=repo.plan_read(session, plan),
            recommended_next_action=for_real(f"Pause for real: {waiting} waiting job(s) would hold."),
        )
    now = utcnow()
    reason = data.note or f"paused by {ctx.principal.name}"
    plan_state.pause(plan, reason, now)
    session.add(plan)
    record_event(session, ctx.workspace_id, "plan.paused", f"Plan {plan.id} paused: {reason}.", plan_id=plan.id)
    session.flush()
    read = repo.plan_read(session, plan)
    return PlanPayload(plan=read, recommended_next_action=paused_hint(read))


def resume_plan(ctx: OpContext, session: Session, data: PlanMutationInput) -> PlanPayload:
    plan = repo.load_plan(session, ctx.workspace_id, data.id, lock=True)
    if plan.status != PlanStatus.PAUSED:
        raise Conflict(f"Plan {plan.id} is {plan.status}, not paused.", field="id", next_action=_state_hint(plan))
    held = list(
        session.exec(
            select(Job.id).where(
                Job.plan_id == plan.id,
                col(Job.status).in_(WAITING),
                col(Job.held_reason).startswith(HELD_BY_PLAN_PAUSE),
            )
        ).all()
    )
    if data.dry_run:
        return PlanPayload(
            plan=repo.plan_read(session, plan),
            recommended_next_action=for_real(f"Resume for real: {len(held)} held job(s) would be sent now."),
        )
    now = utcnow()
    started = session.exec(
        select(Job.id)
        .where(Job.plan_id == plan.id, or_(col(Job.attempts) > 0, col(Job.status).not_in(WAITING)))
        .limit(1)
    ).first()
    plan_state.resume(plan, started is not None, now)
    session.add(plan)
    if held:
        transitions.release(session, held, now)
    record_event(
        session,
        ctx.workspace_id,
        "plan.resumed",
        f"Plan {plan.id} resumed by {ctx.principal.name}; {len(held)} held job(s) released.",
        plan_id=plan.id,
    )
    session.flush()
    ctx.after_commit(lambda: enqueue_at(ctx.runtime, held, None))
    read = repo.plan_read(session, plan)
    return PlanPayload(plan=read, recommended_next_action=plan_hint(read))


def _count(session: Session, plan_id: str) -> int:
    return len(list(session.exec(select(Job.id).where(Job.plan_id == plan_id, col(Job.status).in_(WAITING))).all()))


def _state_hint(plan: Plan) -> NextAction:
    return hint("get_distribution_plan", "Read the plan's current state.", id=plan.id)


def check_halt_when(session: Session, plan_ids: set[str], now: datetime) -> list[str]:
    """After 429s were recorded (inside that transaction): pause each plan whose haltWhen guard tripped,
    with an operational event saying why; returns the plans paused."""
    paused = []
    for plan_id in sorted(plan_ids):
        plan = session.get(Plan, plan_id)
        if plan is None or not plan.halt_when or plan.status not in PLAN_PAUSABLE:
            continue
        needed, within = int(plan.halt_when["pausedTargets"]), int(plan.halt_when["withinSeconds"])
        session.flush()
        of_plan = select(Job.target_id).where(Job.plan_id == plan_id)
        rows = session.exec(
            select(OperationalEvent.target_id, OperationalEvent.message).where(
                OperationalEvent.workspace_id == plan.workspace_id,
                OperationalEvent.type == "target.paused",
                col(OperationalEvent.created_at) >= now - timedelta(seconds=within),
                col(OperationalEvent.target_id).in_(of_plan),
            )
        ).all()
        limited = sorted({target for target, message in rows if target and RATE_LIMIT_PAUSE in message})
        if len(limited) < needed:
            continue
        reason = (
            f"haltWhen: {len(limited)} of its targets were rate-limited within {within}s "
            f"({', '.join(limited[:5])}{', …' if len(limited) > 5 else ''})"
        )
        if plan_state.pause_guarded(session, plan_id, reason, now):
            record_event(
                session,
                plan.workspace_id,
                "plan.paused",
                f"Plan {plan_id} paused itself: {reason}. Resume it with resume_distribution_plan.",
                plan_id=plan_id,
                targetIds=limited,
            )
            paused.append(plan_id)
    return paused

"""Reading plans with their jobs, counts and receipts."""

from __future__ import annotations

from sqlalchemy import func
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select

from server.config import Settings
from server.errors import NotFound
from server.hints import hint
from server.ids import check_id
from server.jobs import workers
from server.jobs.status import RETRYABLE, WAITING, JobStatus
from server.models import Job, Plan, Receipt, Target
from server.models.base import utcnow
from server.plans.kpi import PlanKpiInput
from server.plans.schemas import (
    ContentInput,
    HaltWhenInput,
    JobRead,
    PlanCounts,
    PlanRead,
    PlanRecipients,
    PlanSummary,
    PolicyInput,
    ReceiptRead,
    SkipCount,
    StaggerInput,
)
from server.selection.schemas import SelectionRead

PLAN_JOBS_SHOWN = 100


def load_plan(session: Session, workspace_id: str, plan_id: str, field: str = "id", *, lock: bool = False) -> Plan:
    check_id("plan", plan_id, field)
    query = select(Plan).where(Plan.id == plan_id, Plan.workspace_id == workspace_id)
    plan = session.exec(query.with_for_update() if lock else query).first()
    if plan is None:
        raise NotFound(
            f"No plan {plan_id} in this workspace.",
            field=field,
            next_action=hint("list_distribution_plans", "List plans to find the right id."),
        )
    return plan


def plan_counts(session: Session, plan: Plan) -> PlanCounts:
    rows = session.exec(select(Job.status, func.count()).where(Job.plan_id == plan.id).group_by(Job.status)).all()
    by_status = dict(rows)
    origin = aliased(Job)
    handed_over = session.exec(
        select(func.count())
        .select_from(Job)
        .join(origin, col(origin.id) == Job.fallback_of)
        .where(Job.plan_id == plan.id, col(origin.status).in_(RETRYABLE))
    ).one()
    return PlanCounts(
        total=plan.total_jobs,
        pending=sum(by_status.get(status, 0) for status in WAITING),
        delivering=by_status.get(JobStatus.DELIVERING, 0),
        delivered=by_status.get(JobStatus.DELIVERED, 0),
        failed=by_status.get(JobStatus.FAILED, 0),
        dead=by_status.get(JobStatus.DEAD, 0),
        cancelled=by_status.get(JobStatus.CANCELLED, 0),
        skipped=by_status.get(JobStatus.SKIPPED, 0),
        fallbacks=handed_over,
    )


def counter_counts(plan: Plan) -> PlanCounts:
    """Counts from the plan's own counters: cheap, exact for terminal states."""
    done = plan.delivered_count + plan.failed_count + plan.dead_count + plan.cancelled_count + plan.skipped_count
    return PlanCounts(
        total=plan.total_jobs,
        pending=plan.total_jobs - done,
        delivering=0,
        delivered=plan.delivered_count,
        failed=plan.failed_count,
        dead=plan.dead_count,
        cancelled=plan.cancelled_count,
        skipped=plan.skipped_count,
        fallbacks=plan.fallback_count,
    )


def job_reads(session: Session, plan: Plan, limit: int = PLAN_JOBS_SHOWN) -> list[JobRead]:
    rows = session.exec(
        select(Job, Receipt, Target.name)
        .join(Receipt, col(Receipt.job_id) == Job.id, isouter=True)
        .join(Target, col(Target.id) == Job.target_id)
        .where(Job.plan_id == plan.id)
        .order_by(col(Job.id))
        .limit(limit)
    ).all()
    return [job_read(job, receipt, name) for job, receipt, name in rows]


def job_read(job: Job, receipt: Receipt | None, target_name: str | None) -> JobRead:
    return JobRead(
        id=job.id,
        target_id=job.target_id,
        target_name=target_name,
        recipient_id=job.recipient_id,
        variation=job.variation,
        status=job.status,
        attempts=job.attempts,
        next_attempt_at=job.next_attempt_at if job.status in WAITING else None,
        last_error=job.last_error,
        error_class=job.error_class,
        skip_reason=job.skip_reason,
        held_reason=job.held_reason if job.status == JobStatus.SCHEDULED else None,
        fallback_of=job.fallback_of,
        receipt=ReceiptRead(
            id=receipt.id,
            external_id=receipt.external_id,
            delivered_at=receipt.delivered_at,
            response_meta=receipt.response_meta,
            provider_status=receipt.provider_status,
            provider_status_at=receipt.provider_status_at,
        )
        if receipt
        else None,
    )


def plan_read(
    session: Session, plan: Plan, settings: Settings | None = None, counts: PlanCounts | None = None
) -> PlanRead:
    """The plan with its jobs; given the settings, due jobs that no live worker can take say so (Redis mode).
    ``counts``: when the caller knows them (a plan just created), instead of counting its jobs by status."""
    jobs = job_reads(session, plan)
    if settings is not None:
        jobs = _held_by_no_worker(session, settings, jobs)
    return PlanRead(
        id=plan.id,
        status=plan.status,
        content=ContentInput.model_validate(plan.content),
        policy=PolicyInput.model_validate(plan.policy),
        recipients=plan_recipients(plan),
        scheduled_at=plan.scheduled_at,
        created_at=plan.created_at,
        completed_at=plan.completed_at,
        counts=counts or plan_counts(session, plan),
        jobs=jobs,
        schedule_id=plan.schedule_id,
        scheduled_for=plan.scheduled_for,
        halt_when=HaltWhenInput.model_validate(plan.halt_when) if plan.halt_when else None,
        paused_reason=plan.paused_reason,
        stagger=StaggerInput.model_validate(plan.stagger) if plan.stagger else None,
        selection=SelectionRead.model_validate(plan.selection) if plan.selection else None,
        kpi=PlanKpiInput.model_validate(plan.kpi) if plan.kpi else None,
    )


def plan_recipients(plan: Plan) -> PlanRecipients | None:
    """What the plan asked of recipients and the reasons its recipient jobs were skipped at create."""
    if not plan.recipients:
        return None
    stored = plan.recipients
    return PlanRecipients(
        ids=stored.get("ids", 0),
        labels=stored.get("labels", []),
        reached=stored.get("reached", 0),
        jobs=stored.get("jobs", 0),
        skipped=[SkipCount(reason=r, count=n) for r, n in sorted(stored.get("skipped", {}).items())],
    )


def _held_by_no_worker(session: Session, settings: Settings, jobs: list[JobRead]) -> list[JobRead]:
    now = utcnow()

    def due(job: JobRead) -> bool:
        return job.status in WAITING and job.held_reason is None and (job.next_attempt_at or now) <= now

    if not any(due(job) for job in jobs):
        return jobs
    reason = workers.no_worker_reason(session, settings)
    if reason is None:
        return jobs
    return [job.model_copy(update={"held_reason": reason}) if due(job) else job for job in jobs]


def plan_summary(plan: Plan) -> PlanSummary:
    return PlanSummary(
        id=plan.id,
        status=plan.status,
        content_id=plan.content["id"],
        content_version=plan.content["version"],
        title=plan.content["title"],
        scheduled_at=plan.scheduled_at,
        created_at=plan.created_at,
        completed_at=plan.completed_at,
        counts=counter_counts(plan),
    )

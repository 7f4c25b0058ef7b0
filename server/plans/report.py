"""A plan's delivery report: outcomes, rates, delivery times and the slowest targets."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func
from sqlmodel import Session, col, select

from server.context import OpContext
from server.hints import hint
from server.jobs.status import UNFINISHED, JobStatus
from server.models import Attempt, Job, Plan, Target
from server.plans import repository as repo
from server.plans.hints import plan_hint
from server.plans.kpi import KpiResult, evaluate
from server.plans.schemas import FallbackRead, PlanReport, PlanReportInput, PlanReportResult, SkipCount, SlowTarget


def _percentile(sorted_values: list[float], share: float) -> float | None:
    if not sorted_values:
        return None
    index = min(len(sorted_values) - 1, max(0, round(share * len(sorted_values) + 0.5) - 1))
    return round(sorted_values[index], 3)


def build_report(session: Session, plan: Plan, sla_seconds: float = 300.0) -> PlanReport:
    rows = session.exec(
        select(Job, Target.name).join(Target, col(Target.id) == Job.target_id).where(Job.plan_id == plan.id)
    ).all()
    jobs = sorted((job for job, _ in rows), key=lambda job: job.id)
    names = {job.target_id: name for job, name in rows}
    by_id = {job.id: job for job in jobs}
    due = plan.scheduled_at or plan.created_at
    delivered = [job for job in jobs if job.status == JobStatus.DELIVERED]
    times = [(job, (job.finished_at - due).total_seconds() * 1000) for job in delivered if job.finished_at]
    durations = sorted(ms for _, ms in times)
    ended = (JobStatus.FAILED, JobStatus.DEAD, JobStatus.SKIPPED, JobStatus.CANCELLED)
    count = {status: sum(job.status == status for job in jobs) for status in ended}
    # Rates are per delivery: a primary job and the fallback jobs of its chain are one delivery.
    primaries = [job for job in jobs if job.fallback_of is None]
    landed = {_primary(job, by_id).id for job in delivered}
    via_fallback = sum(1 for job in primaries if job.id in landed and job.status != JobStatus.DELIVERED)
    expected = sum(job.status not in (JobStatus.SKIPPED, JobStatus.CANCELLED) for job in primaries)
    attempted = [job for job in primaries if job.attempts > 0]
    first_try = sum(job.attempts == 1 for job in delivered if job.fallback_of is None)
    delivered_first_try = sum(job.attempts == 1 for job in delivered)
    slowest = sorted(times, key=lambda pair: pair[1], reverse=True)[:5]
    pending = sum(job.status in UNFINISHED for job in jobs)
    ends = [job.finished_at for job in jobs if job.finished_at is not None]
    completion = round(max(0.0, (max(ends) - due).total_seconds()), 3) if ends and pending == 0 else None
    skipped = Counter(job.skip_reason or "skipped" for job in jobs if job.status == JobStatus.SKIPPED)
    bounced = _bounced_jobs(session, plan.id)
    report = PlanReport(
        plan_id=plan.id,
        status=plan.status,
        total_targets=len(jobs),
        delivered_first_try=delivered_first_try,
        delivered_after_retries=len(delivered) - delivered_first_try,
        failed=count[JobStatus.FAILED],
        dead=count[JobStatus.DEAD],
        skipped=count[JobStatus.SKIPPED],
        cancelled=count[JobStatus.CANCELLED],
        pending=pending,
        delivery_rate=round(len(landed) / expected, 4) if expected else None,
        first_attempt_success_rate=round(first_try / len(attempted), 4) if attempted else None,
        avg_delivery_ms=round(sum(durations) / len(durations), 3) if durations else None,
        p95_delivery_ms=_percentile(durations, 0.95),
        slowest_targets=[
            SlowTarget(
                target_id=job.target_id,
                target_name=names.get(job.target_id),
                delivery_ms=round(ms, 3),
                attempts=job.attempts,
            )
            for job, ms in slowest
        ],
        recipients=len({job.recipient_id for job in jobs if job.recipient_id}),
        bounced=bounced,
        skipped_reasons=[SkipCount(reason=r, count=n) for r, n in sorted(skipped.items())],
        sla_seconds=sla_seconds,
        completion_seconds=completion,
        delivered_within_sla=sum(ms <= sla_seconds * 1000 for ms in durations),
        within_sla=None if completion is None else completion <= sla_seconds and len(landed) == expected,
        delivered_via_fallback=via_fallback,
        fallbacks=[
            FallbackRead(
                job_id=job.id,
                fallback_of=job.fallback_of,
                from_target_id=by_id[job.fallback_of].target_id if job.fallback_of in by_id else job.target_id,
                target_id=job.target_id,
                target_name=names.get(job.target_id),
                status=job.status,
            )
            for job in jobs
            if job.fallback_of is not None
        ],
    )
    if plan.kpi:
        report.kpi = kpi_result(report, plan.kpi)
    return report


def kpi_result(report: PlanReport, kpi: dict) -> KpiResult:
    avg = report.avg_delivery_ms
    measured = {
        "first_attempt_success_rate": report.first_attempt_success_rate,
        "delivery_rate": report.delivery_rate,
        "avg_delivery_seconds": None if avg is None else round(avg / 1000, 3),
        "completion_seconds": report.completion_seconds,
    }
    return evaluate(kpi, measured, ended=report.pending == 0)


def _primary(job: Job, by_id: dict[str, Job]) -> Job:
    """The primary job of ``job``'s fallback chain (itself when it is one)."""
    while job.fallback_of is not None and job.fallback_of in by_id:
        job = by_id[job.fallback_of]
    return job


def _bounced_jobs(session: Session, plan_id: str) -> int:
    """Jobs of the plan whose failing attempt was a hard bounce (RecipientUnreachableError)."""
    query = (
        select(func.count(func.distinct(Attempt.job_id)))
        .join(Job, col(Job.id) == Attempt.job_id)
        .where(Job.plan_id == plan_id, col(Job.recipient_id).is_not(None), Attempt.outcome == "bounced")
    )
    return int(session.exec(query).one())


def get_plan_report(ctx: OpContext, session: Session, data: PlanReportInput) -> PlanReportResult:
    plan = repo.load_plan(session, ctx.workspace_id, data.id)
    report = build_report(session, plan, data.sla_seconds)
    action = (
        plan_hint(repo.plan_read(session, plan))
        if report.pending == 0
        else hint(
            "get_plan_report", "Deliveries are still in progress; the report will change.", after_seconds=2, id=plan.id
        )
    )
    return PlanReportResult(report=report, recommended_next_action=action)

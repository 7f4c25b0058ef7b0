"""What to do next about a plan, derived from its state and its jobs' failures."""

from __future__ import annotations

from datetime import UTC, datetime

from server.hints import NextAction, done, hint
from server.jobs.status import JobStatus, PlanStatus
from server.plans.schemas import PlanRead

FIX_TARGET_CLASSES = ("permanent", "systemic")
IN_PROGRESS = (PlanStatus.DRAFT, PlanStatus.SCHEDULED, PlanStatus.QUEUED, PlanStatus.RUNNING)


def plan_hint(plan: PlanRead) -> NextAction:
    if plan.status in IN_PROGRESS:
        return hint(
            "get_distribution_plan", "Deliveries are in progress; check again.", after_seconds=_wait(plan), id=plan.id
        )
    if plan.status == PlanStatus.SUCCEEDED:
        return done("Every target confirmed delivery; receipts are on the jobs.")
    if plan.status == PlanStatus.CANCELLED:
        return done("The plan was cancelled; create a new plan to deliver this content.")
    return failure_hint(plan)


def _wait(plan: PlanRead) -> float:
    if plan.status == PlanStatus.SCHEDULED and plan.scheduled_at:
        return max(round((plan.scheduled_at - datetime.now(UTC)).total_seconds(), 1), 1.0)
    return 2.0


def failure_hint(plan: PlanRead) -> NextAction:
    broken = next(
        (job for job in plan.jobs if job.status == JobStatus.FAILED and job.error_class in FIX_TARGET_CLASSES), None
    )
    if broken is not None:
        return hint(
            "update_distribution_target",
            f"Target {broken.target_name or broken.target_id} refused delivery ({broken.error_class}): "
            f"{broken.last_error}. Fix its config or credentials, then retry the failed jobs with retry_failed_jobs.",
            id=broken.target_id,
        )
    if plan.counts.dead:
        return hint(
            "replay_dead_letters",
            f"{plan.counts.dead} job(s) exhausted their retries on transient errors; "
            "replay them once the receiver is healthy.",
            planId=plan.id,
        )
    return hint("retry_failed_jobs", "Retry the failed jobs of this plan.", planId=plan.id)

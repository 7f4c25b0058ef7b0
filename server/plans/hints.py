"""What to do next about a plan, derived from its state and its jobs' failures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from server.hints import MAX_WAIT_SECONDS, NextAction, done, hint, wait_until
from server.jobs import workers
from server.jobs.status import (
    HELD_BY_CIRCUIT,
    HELD_BY_HALT,
    HELD_BY_PAUSE,
    RATE_LIMIT_PAUSE,
    WAITING,
    JobStatus,
    PlanStatus,
)
from server.plans.schemas import JobRead, PlanRead

FIX_TARGET_CLASSES = ("permanent", "systemic")
IN_PROGRESS = (PlanStatus.DRAFT, PlanStatus.SCHEDULED, PlanStatus.QUEUED, PlanStatus.RUNNING)
IN_PROGRESS_REASON = "Deliveries are in progress; check again."
IN_FLIGHT_WAIT = 2.0
NO_WORKER_RECHECK = 5.0
# A released job is still to be claimed and sent: look again once that has likely happened, not at the release.
RELEASE_MARGIN = timedelta(seconds=1)


def plan_hint(plan: PlanRead, now: datetime | None = None) -> NextAction:
    if plan.status == PlanStatus.PAUSED:
        return paused_hint(plan)
    if plan.status in IN_PROGRESS:
        if plan.status == PlanStatus.SCHEDULED and plan.scheduled_at:
            return hint("get_distribution_plan", IN_PROGRESS_REASON, after_seconds=_wait(plan), id=plan.id)
        return waiting_hint(plan, now or datetime.now(UTC))
    if plan.status == PlanStatus.SUCCEEDED and plan.counts.fallbacks:
        return done(
            f"Every delivery landed, {plan.counts.fallbacks} of them via a fallback target after the primary "
            "failed; the failed jobs say what to fix so later plans need no fallback."
        )
    if plan.status == PlanStatus.SUCCEEDED:
        return done("Every target confirmed delivery; receipts are on the jobs.")
    if plan.status == PlanStatus.CANCELLED:
        return done("The plan was cancelled; create a new plan to deliver this content.")
    return failure_hint(plan)


def paused_hint(plan: PlanRead) -> NextAction:
    """A paused plan holds its waiting jobs until resumed: say why, and that resuming sends them."""
    why = (plan.paused_reason or "paused by an operator").rstrip(".")
    return hint(
        "resume_distribution_plan",
        f"The plan is paused ({why}), holding {plan.counts.pending} waiting job(s); resume it once the cause "
        "is dealt with (for a rate limit: the targets' pauses have ended) to send them.",
        id=plan.id,
    )


def _wait(plan: PlanRead) -> float:
    assert plan.scheduled_at is not None
    return max(round((plan.scheduled_at - datetime.now(UTC)).total_seconds(), 1), 1.0)


def waiting_hint(plan: PlanRead, now: datetime) -> NextAction:
    """A plan still delivering: what holds its waiting jobs and what lifts it, or when the first is released."""
    waiting = [job for job in plan.jobs if job.status in WAITING]
    unworked = [job for job in waiting if (job.held_reason or "").startswith(workers.HELD_BY_NO_WORKER)]
    if unworked:
        return hint(
            "list_workers",
            f"No delivery worker is alive, so {len(unworked)} due job(s) of this plan wait; "
            f"{workers.NO_WORKER_REMEDY}, then check the workers again.",
            after_seconds=NO_WORKER_RECHECK,
        )
    halted = [job for job in waiting if (job.held_reason or "").startswith(HELD_BY_HALT)]
    if halted:
        return hint(
            "resume_deliveries",
            f"Deliveries are halted in this workspace, holding {len(halted)} job(s) of this plan; "
            "resume them once the reason for the halt is resolved.",
        )
    held = [job for job in waiting if job.next_attempt_at is not None and job.next_attempt_at > now]
    if len(held) < len(waiting) or not held or any(job.status == JobStatus.DELIVERING for job in plan.jobs):
        return hint("get_distribution_plan", IN_PROGRESS_REASON, after_seconds=IN_FLIGHT_WAIT, id=plan.id)
    first = min(held, key=lambda job: job.next_attempt_at or now)
    assert first.next_attempt_at is not None
    return _release_hint(plan, first, first.next_attempt_at, now)


def _release_hint(plan: PlanRead, job: JobRead, until: datetime, now: datetime) -> NextAction:
    name, held = job.target_name or job.target_id, job.held_reason or ""
    why = f"held ({held})" if held else f"waiting to retry after a {job.error_class or 'failed'} attempt"
    wait = wait_until(until + RELEASE_MARGIN, now)
    if wait is None and held.startswith(HELD_BY_CIRCUIT):
        return hint(
            "resume_distribution_target",
            f"Target {name} is {why} until {until:%Y-%m-%dT%H:%M:%SZ}; resuming it closes the circuit and "
            "releases the job, so do it only if the receiver is fixed.",
            id=job.target_id,
        )
    if wait is None and held.startswith(HELD_BY_PAUSE) and RATE_LIMIT_PAUSE not in held:
        return hint(
            "resume_distribution_target",
            f"Target {name} is {why} until {until:%Y-%m-%dT%H:%M:%SZ}; resume it to release the job "
            "only if the cause of the pause is fixed.",
            id=job.target_id,
        )
    return hint(
        "get_distribution_plan",
        f"Target {name} is {why}; its next delivery is due at {until:%Y-%m-%dT%H:%M:%SZ}, so check again then.",
        after_seconds=wait if wait is not None else MAX_WAIT_SECONDS,
        id=plan.id,
    )


def failure_hint(plan: PlanRead) -> NextAction:
    broken = next(
        (job for job in plan.jobs if job.status == JobStatus.FAILED and job.error_class in FIX_TARGET_CLASSES), None
    )
    if broken is not None:
        return hint(
            "update_distribution_target",
            f"Target {broken.target_name or broken.target_id} refused delivery ({broken.error_class}: "
            f"{(broken.last_error or 'no detail').rstrip('.')}); fix its config or credentials, "
            "then retry the failed jobs with retry_failed_jobs.",
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

"""Every state a job and a plan can be in, and the groups the rest of the code asks about.

A job (one delivery of a plan to a target); each arrow is a function of ``server.jobs.transitions``::

    (created) ─────┬─▶ pending | scheduled        create (due now | at nextAttemptAt)
                   └─▶ skipped                    create (already delivered, refused by policy)
    pending ──┬──────────────▶ delivering ──▶ delivered      finish / finish_delivered
    scheduled ┘     lease         │  ├──────▶ failed         finish (permanent, systemic)
       ▲    ▲                     │  ├──────▶ dead           finish (retries exhausted; a dead letter)
       │    │                     │  └──────▶ cancelled      finish (its plan was cancelled meanwhile)
       │    └─ hold / retry_at ◀──┘                          (wait, no attempt spent / after a transient error)
       └───── hold                                           (at claim: a halt, a pause, order, a limit)
    pending | scheduled ──▶ failed             finish (found at claim: the target is inactive)
    pending | scheduled ──▶ cancelled          cancel (the plan was cancelled; delivering jobs finish first)
    failed | dead ──▶ pending                  requeue (retry_failed_jobs, replay_dead_letters)
    delivered ──▶ failed                       fail_late (the provider reported later that it failed, e.g. a
                                               WhatsApp ``failed`` status webhook; the plan's counters follow)
    failed | dead ──▶ (a new pending job)      fallback (on the target's fallbackTargetId, once per job)
    pending | scheduled ──▶ (due now)          release (a resume, the next of an ordered target)

A ``delivering`` job whose lease expired (its worker died) may be leased again. ``pending`` is due
now; ``scheduled`` waits for ``nextAttemptAt`` (a schedule, a backoff, a hold; none: until an
operator resumes). ``queued_for`` remembers the due time a queue message was sent for; a job due
beyond the enqueue horizon has none until the scheduler tick (``server.jobs.scheduler``) sends it.

A plan, by ``server.jobs.plan_state``: ``scheduled`` | ``queued`` (create) → ``running`` (mark_running,
when its first job is leased) → ``succeeded`` | ``partial`` | ``failed`` (tally, when its last job
ends) | ``cancelled`` (cancel); a retry of its failed jobs reopens it (reopen → ``running``).
Fallback: a job that ends failed or dead on a target with a ``fallbackTargetId`` spawns one job of the
same plan there (``fallback_of``: the origin), in the transaction that records the failure; the plan's
``total_jobs`` grows by one and its ``fallback_count`` counts the failure as handed over, so the plan's
outcome is its fallback's: a plan whose every failure was delivered via a fallback ends ``succeeded``.

A plan not yet ended may be paused (``pause``, by ``pause_distribution_plan`` or its ``haltWhen`` guard):
its waiting jobs are held at claim without spending attempts; ``resume`` → ``running`` (``queued`` or
``scheduled`` if none started) and its held jobs are released. ``draft`` is in the wire contract only.
"""

from __future__ import annotations

from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"
    SCHEDULED = "scheduled"
    DELIVERING = "delivering"
    DELIVERED = "delivered"
    FAILED = "failed"
    DEAD = "dead"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"


class PlanStatus(StrEnum):
    DRAFT = "draft"
    SCHEDULED = "scheduled"
    QUEUED = "queued"
    RUNNING = "running"
    PAUSED = "paused"
    SUCCEEDED = "succeeded"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Jobs that wait for a worker (due now, or at nextAttemptAt): what a claim leases, a cancel stops.
WAITING: tuple[JobStatus, ...] = (JobStatus.PENDING, JobStatus.SCHEDULED)
# Jobs not yet final, waiting or in flight: what an ordered target's next job waits behind.
UNFINISHED: tuple[JobStatus, ...] = (*WAITING, JobStatus.DELIVERING)
# Jobs that ended; each has a counter on its plan (``<status>_count``).
FINAL: tuple[JobStatus, ...] = (
    JobStatus.DELIVERED,
    JobStatus.FAILED,
    JobStatus.DEAD,
    JobStatus.CANCELLED,
    JobStatus.SKIPPED,
)
# Jobs that ended without a delivery and may be sent again.
RETRYABLE: tuple[JobStatus, ...] = (JobStatus.FAILED, JobStatus.DEAD)
# Jobs that hold (or will hold) a delivery of their content: a second plan of it skips them.
HOLDS_CONTENT: tuple[JobStatus, ...] = (*UNFINISHED, JobStatus.DELIVERED)

# Plans that will not change again (but for a retry of their failed jobs).
PLAN_FINAL: tuple[PlanStatus, ...] = (
    PlanStatus.SUCCEEDED,
    PlanStatus.PARTIAL,
    PlanStatus.FAILED,
    PlanStatus.CANCELLED,
)
# Plans that may be paused (by an operator or their haltWhen guard).
PLAN_PAUSABLE: tuple[PlanStatus, ...] = (PlanStatus.SCHEDULED, PlanStatus.QUEUED, PlanStatus.RUNNING)
# Plans whose jobs have not started: the first lease marks them running.
PLAN_NOT_STARTED: tuple[PlanStatus, ...] = (PlanStatus.QUEUED, PlanStatus.SCHEDULED)

# How a held job's ``held_reason`` starts: what holds it, so a hint can name what lifts it.
HELD_BY_HALT = "deliveries are halted in this workspace"
HELD_BY_PAUSE = "target paused: "
HELD_BY_CIRCUIT = "circuit open: "
HELD_BY_PLAN_PAUSE = "plan paused: "
# How a pause after a 429 explains itself (it ends by itself at the provider's reset).
RATE_LIMIT_PAUSE = "rate limited by the provider"

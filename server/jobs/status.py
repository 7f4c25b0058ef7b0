"""Every state a job and a plan can be in, and the groups the rest of the code asks about.

A job (one delivery of a plan to a target)::

    pending ──┬──────────────▶ delivering ──▶ delivered
    scheduled ┘  (lease)          │  ├──────▶ failed      (permanent, systemic, inactive target)
       ▲                          │  └──────▶ dead        (retries exhausted; a dead letter)
       └── hold / retry at ◀──────┘
    pending | scheduled ──▶ cancelled          (the plan was cancelled)
    (at creation) ──▶ skipped                  (already delivered, refused by policy)
    failed | dead ──▶ pending                  (retry_failed_jobs, replay_dead_letters)

``pending`` is due now; ``scheduled`` waits for ``nextAttemptAt`` (a schedule, a backoff, a hold).
A plan: ``draft`` → ``scheduled`` | ``queued`` → ``running`` → ``succeeded`` | ``partial`` |
``failed`` | ``cancelled``; ``paused`` while held.
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


# Jobs that wait for a worker: due now, or at nextAttemptAt.
WAITING: tuple[JobStatus, ...] = (JobStatus.PENDING, JobStatus.SCHEDULED)
# Jobs not yet final: waiting or in flight.
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
# Plans whose jobs have not started.
PLAN_NOT_STARTED: tuple[PlanStatus, ...] = (PlanStatus.QUEUED, PlanStatus.SCHEDULED)

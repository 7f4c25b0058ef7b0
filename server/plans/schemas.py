"""Data models of the plan and job operations."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from adapters.base import ChannelName, ErrorClass
from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.deadletters.schemas import DeadLetterFilter
from server.hints import NextAction
from server.jobs.status import JobStatus, PlanStatus
from server.policy import PolicyInput
from server.wire import Id, WireModel


class ContentInput(WireModel):
    id: str = Field(min_length=1, max_length=200, description="Your id of the content item.")
    version: str = Field(min_length=1, max_length=100, description="Version of the item; (id, version) is one edition.")
    title: str = Field(min_length=1, max_length=500)
    body: str = Field(max_length=200_000)
    excerpt: str | None = Field(None, max_length=5_000)
    url: str | None = Field(None, max_length=2_000)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form JSON passed to channels.")


class CreatePlanInput(MutationInput):
    content: ContentInput
    target_ids: list[Id] = Field(default_factory=list, max_length=100, description="Targets to deliver to (tgt_…).")
    target_labels: list[str] = Field(
        default_factory=list,
        max_length=20,
        description="Also deliver to every active target carrying any of these labels.",
    )
    scheduled_at: datetime | None = Field(None, description="Deliver at this time (ISO 8601 with zone); default now.")
    policy: PolicyInput | None = None
    redistribute: bool = Field(
        False, description="Deliver even to targets that already received this content id and version."
    )
    await_delivery: bool = Field(False, description="Wait until every job is final (or the timeout) before answering.")
    await_timeout_seconds: float | None = Field(
        None, gt=0, le=30, description="Wait at most this long (default 10, max 30)."
    )
    confirmation_token: str | None = Field(
        None,
        max_length=200,
        description="Required above the fan-out threshold: issued by a dry run of this same request.",
    )


class ReceiptRead(WireModel):
    id: Id
    external_id: str | None
    delivered_at: datetime
    response_meta: dict[str, Any]


class JobRead(WireModel):
    id: Id
    target_id: Id
    target_name: str | None
    status: JobStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    error_class: ErrorClass | None
    skip_reason: str | None
    held_reason: str | None = Field(description="Why a due job waits: a pause, a halt, a limit, an open circuit.")
    receipt: ReceiptRead | None


class PlanCounts(WireModel):
    total: int
    pending: int
    delivering: int
    delivered: int
    failed: int
    dead: int
    cancelled: int
    skipped: int


class PlanRead(WireModel):
    id: Id
    status: PlanStatus
    content: ContentInput
    policy: PolicyInput
    scheduled_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    counts: PlanCounts
    jobs: list[JobRead]


class TargetPreview(WireModel):
    target_id: Id
    target_name: str
    channel: ChannelName
    verdict: str = Field(description="deliver, skip (already delivered, or refused by policy) or wait (target paused).")
    reason: str | None
    paused_until: datetime | None
    content_type: str
    payload: Any = Field(description="Exactly what this target would receive.")


class PlanPreview(WireModel):
    targets: list[TargetPreview]
    scheduled_at: datetime | None
    jobs_to_create: int


class PlanPayload(MutationResult):
    plan: PlanRead | None = Field(description="The plan; null in a dry run.")
    preview: PlanPreview | None = Field(None, description="Per-target preview (dry run only).")
    timed_out: bool | None = Field(None, description="With awaitDelivery: true when the wait ended before every job.")
    confirmation_token: str | None = Field(
        None, description="Dry run of a large plan: pass this to the real call within 10 minutes."
    )


class PlanIdInput(WireModel):
    id: Id = Field(description="Plan id (pln_…).")


class PlanMutationInput(MutationInput):
    id: Id = Field(description="Plan id (pln_…).")


class PlanResult(WireModel):
    plan: PlanRead
    recommended_next_action: NextAction


class ListPlansInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR
    status: PlanStatus | None = Field(None, description="Only plans in this status.")


class PlanSummary(WireModel):
    id: Id
    status: PlanStatus
    content_id: str
    content_version: str
    title: str
    scheduled_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    counts: PlanCounts


class PlanList(WireModel):
    items: list[PlanSummary]
    next_cursor: str | None
    recommended_next_action: NextAction


class RetryFailedJobsInput(MutationInput):
    plan_id: Id = Field(description="Plan id (pln_…) whose failed and dead jobs to retry.")


class ReplayDeadLettersInput(MutationInput, DeadLetterFilter):
    job_ids: list[Id] | None = Field(None, max_length=100, description="Only these jobs.")
    limit: int = Field(100, ge=1, le=100, description="Replay at most this many (oldest first).")


class JobsRequeuedPayload(MutationResult):
    job_ids: list[Id] = Field(description="Jobs put back in the queue (or that would be, in a dry run).")
    plan_ids: list[Id]


class SlowTarget(WireModel):
    target_id: Id
    target_name: str | None
    delivery_ms: float
    attempts: int


class PlanReport(WireModel):
    plan_id: Id
    status: PlanStatus
    total_targets: int
    delivered_first_try: int
    delivered_after_retries: int
    failed: int
    dead: int
    skipped: int
    cancelled: int
    pending: int
    delivery_rate: float | None = Field(
        description="Delivered / (targets that were to be delivered: not skipped or cancelled)."
    )
    first_attempt_success_rate: float | None = Field(
        description="Jobs delivered on their first attempt / jobs attempted."
    )
    avg_delivery_ms: float | None = Field(description="Mean time from due to delivered, over delivered jobs.")
    p95_delivery_ms: float | None
    slowest_targets: list[SlowTarget] = Field(description="Up to 5 delivered jobs that took longest.")


class PlanReportResult(WireModel):
    report: PlanReport
    recommended_next_action: NextAction

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
from server.plans.kpi import KpiResult, PlanKpiInput
from server.policy import PolicyInput
from server.selection.schemas import SelectInput, SelectionRead
from server.wire import BASE64_MAX, Id, Instant, Label, Url, WireModel

TEMPLATES = " A sandboxed Jinja2 template over content, recipient and target (e.g. 'Hello {{ recipient.name }}')."


class AttachmentInput(WireModel):
    url: str | None = Field(
        None, max_length=2_000, description="Fetched once at create through the SSRF guard (size-capped)."
    )
    data_base64: str | None = Field(
        None, max_length=BASE64_MAX, description="Or the file inline, base64 (standard alphabet)."
    )
    filename: str = Field(min_length=1, max_length=255)
    content_type: str = Field(min_length=3, max_length=200, description="MIME type, e.g. application/pdf.")


class VariationInput(WireModel):
    title: str | None = Field(None, min_length=1, max_length=500)
    body: str | None = Field(None, max_length=200_000)
    excerpt: str | None = Field(None, max_length=5_000)
    media_urls: list[Url] | None = Field(None, max_length=10)


class ContentInput(WireModel):
    id: str = Field(min_length=1, max_length=200, description="Your id of the content item.")
    version: str = Field(min_length=1, max_length=100, description="Version of the item; (id, version) is one edition.")
    title: str = Field(min_length=1, max_length=500, description="The title." + TEMPLATES)
    body: str = Field(max_length=200_000, description="The body." + TEMPLATES)
    excerpt: str | None = Field(None, max_length=5_000)
    url: str | None = Field(None, max_length=2_000)
    metadata: dict[str, Any] = Field(default_factory=dict, description="Free-form JSON passed to channels.")
    media_urls: list[Url] = Field(default_factory=list, max_length=10, description="Images or media, by URL.")
    variables: dict[str, Any] = Field(
        default_factory=dict, description="Values for the templates: {{ content.variables.name }}."
    )
    attachments: list[AttachmentInput] = Field(
        default_factory=list, max_length=10, description="Files sent with the content (url or dataBase64)."
    )
    variations: list[VariationInput] = Field(
        default_factory=list,
        max_length=20,
        description="Alternative title/body/media: one per job, in turn, so neighbouring deliveries differ.",
    )


class RecipientContentInput(WireModel):
    """What one recipient gets instead of the plan's content (fields not given are the plan's), verbatim:
    never interpreted as a template."""

    title: str | None = Field(None, min_length=1, max_length=500)
    body: str | None = Field(None, max_length=200_000)
    excerpt: str | None = Field(None, max_length=5_000)
    url: str | None = Field(None, max_length=2_000)
    media_urls: list[Url] | None = Field(None, max_length=10)
    variables: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class HaltWhenInput(WireModel):
    paused_targets: int = Field(ge=1, le=10_000, description="This many of the plan's targets rate-limited ...")
    within_seconds: int = Field(ge=1, le=86_400, description="... within this many seconds pause the plan.")


class PeakHourInput(WireModel):
    start: str = Field(min_length=1, max_length=5, description="Local start, HH:MM (e.g. 06:00).")
    end: str = Field(
        min_length=1, max_length=5, description="Local end, HH:MM, exclusive (24:00 for midnight; before start wraps)."
    )
    weight: float = Field(gt=0, le=100, description="How much busier than off-peak (1): 3 places three times as many.")


class StaggerInput(WireModel):
    """Spread the plan's jobs over a window: each job gets its own due time."""

    window_seconds: int = Field(ge=1, le=7 * 86_400, description="Every job is due within this long of the start.")
    min_gap_seconds: int = Field(0, ge=0, le=86_400, description="At least this long between consecutive jobs.")
    max_gap_seconds: int | None = Field(
        None, ge=0, le=86_400, description="At most this long between consecutive jobs (before jitter)."
    )
    peak_hours: list[PeakHourInput] = Field(
        default_factory=list, max_length=24, description="Local hours that get more jobs, by weight (off-peak is 1)."
    )
    weekend_peak_hours: list[PeakHourInput] | None = Field(
        None, max_length=24, description="Peak hours on Saturday and Sunday (local); default: peakHours."
    )
    timezone: str | None = Field(None, max_length=64, description="IANA zone the peak hours are read in (default UTC).")
    recipient_timezone: bool = Field(
        False, description="Read peak hours in each recipient's own time zone (else timezone, else UTC)."
    )
    jitter_seconds: int = Field(
        0, ge=0, le=3_600, description="Move each time by up to this much, never breaking a gap or the window."
    )
    same_content_spacing_seconds: int = Field(
        0,
        ge=0,
        le=86_400,
        description="Never the same content (id and variation) to two deliveries within this long, "
        "counting other plans' waiting and delivered jobs of the same content id.",
    )


class CreatePlanInput(MutationInput):
    content: ContentInput
    target_ids: list[Id] = Field(default_factory=list, max_length=100, description="Targets to deliver to (tgt_…).")
    target_labels: list[Label] = Field(
        default_factory=list,
        max_length=20,
        description="Also deliver to every active target carrying any of these labels.",
    )
    recipient_ids: list[Id] = Field(
        default_factory=list,
        max_length=10_000,
        description="Recipients (rcp_…) to reach through the plan's addressed targets: "
        "one job per target and recipient.",
    )
    recipient_labels: list[Label] = Field(
        default_factory=list, max_length=20, description="Also every recipient on any of these lists."
    )
    recipient_content: dict[str, RecipientContentInput] = Field(
        default_factory=dict,
        max_length=10_000,
        description="Per-recipient content, keyed by recipient id or externalId (overrides the plan's fields; "
        "sent verbatim, not as a template).",
    )
    preview_limit: int | None = Field(
        None, ge=1, le=100, description="Dry run: render this many payloads per target exactly (default 20)."
    )
    scheduled_at: Instant | None = Field(None, description="Deliver at this time (ISO 8601 with a zone); default now.")
    policy: PolicyInput | None = None
    redistribute: bool = Field(
        False, description="Deliver even to targets that already received this content id and version."
    )
    halt_when: HaltWhenInput | None = Field(
        None, description="Risk guard: the plan pauses itself when that many of its targets get rate-limited."
    )
    stagger: StaggerInput | None = Field(
        None, description="Spread the jobs over a window (gaps, peak hours, jitter); dry run lists the times."
    )
    select: SelectInput | None = Field(
        None,
        description="Pick count targets (or recipients) fairly from a pool of labels or tiers, instead of naming "
        "them: the pool remembers who was picked when (round_robin, least_recent, weighted, health; capPerPeriod).",
    )
    kpi: PlanKpiInput | None = Field(
        None, description="KPI thresholds checked when the plan ends; a miss records the event plan.kpi_missed."
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
    provider_status: str | None = Field(
        None, description="What the provider reported since, by status webhook (sent, delivered, read, failed)."
    )
    provider_status_at: datetime | None = None


class JobRead(WireModel):
    id: Id
    target_id: Id
    target_name: str | None
    recipient_id: Id | None = Field(None, description="The recipient this job reaches (addressed targets).")
    variation: int | None = Field(None, description="Which content variation it sends.")
    status: JobStatus
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    error_class: ErrorClass | None
    skip_reason: str | None
    held_reason: str | None = Field(description="Why a due job waits: a pause, a halt, a limit, an open circuit.")
    fallback_of: Id | None = Field(
        None,
        description="The failed or dead job of this plan this one was spawned for, on its target's fallback target.",
    )
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
    fallbacks: int = Field(
        0,
        description="Failed or dead jobs handed over to a fallback job (counted in total): their outcome is "
        "the fallback's, so a plan whose failures all delivered via fallback succeeds.",
    )


class SkipCount(WireModel):
    reason: str
    count: int


class PlanRecipients(WireModel):
    ids: int = Field(description="How many recipients the plan named by id.")
    labels: list[str]
    reached: int = Field(description="Recipients the plan addresses (ids and labels, each once).")
    jobs: int = Field(description="Jobs made for recipients (one per addressed target and recipient).")
    skipped: list[SkipCount] = Field(description="Recipient jobs skipped, by reason (unsubscribed, bounced, …).")


class PlanRead(WireModel):
    id: Id
    status: PlanStatus
    content: ContentInput
    policy: PolicyInput
    recipients: PlanRecipients | None = Field(None, description="Set when the plan addresses recipients.")
    scheduled_at: datetime | None
    created_at: datetime
    completed_at: datetime | None
    counts: PlanCounts
    jobs: list[JobRead]
    schedule_id: Id | None = Field(None, description="The schedule this plan is a run of (sch_…).")
    scheduled_for: datetime | None = Field(None, description="The schedule's nominal time this plan runs for.")
    halt_when: HaltWhenInput | None = None
    paused_reason: str | None = Field(None, description="Why the plan is paused (an operator's note or haltWhen).")
    stagger: StaggerInput | None = Field(None, description="How the jobs are spread (each job's nextAttemptAt).")
    selection: SelectionRead | None = Field(None, description="What select picked and whom it skipped, and why.")
    kpi: PlanKpiInput | None = Field(None, description="The KPI thresholds the plan is held to when it ends.")


class TargetPreview(WireModel):
    target_id: Id
    target_name: str
    channel: ChannelName
    verdict: str = Field(description="deliver, skip (already delivered, or refused by policy) or wait (target paused).")
    reason: str | None
    paused_until: datetime | None
    content_type: str
    payload: Any = Field(description="Exactly what this target would receive.")


class RecipientPreview(WireModel):
    target_id: Id
    recipient_id: Id
    external_id: str | None
    address: str | None
    verdict: str = Field(description="deliver, skip, or fail (the channel refuses this payload: see reason).")
    reason: str | None
    variation: int | None
    content_type: str | None
    payload: Any = Field(None, description="Exactly what this recipient would receive (null when skipped).")


class PlannedTime(WireModel):
    target_id: Id
    recipient_id: Id | None
    at: datetime = Field(description="When the job is due (UTC).")
    local_time: str = Field(description="The same time in the zone its peak hours are read in (ISO 8601).")
    timezone: str
    variation: int | None = Field(None, description="Which content variation it sends.")


class PlanPreview(WireModel):
    targets: list[TargetPreview]
    scheduled_at: datetime | None
    jobs_to_create: int
    recipients: list[RecipientPreview] = Field(
        default_factory=list,
        description="The first payloads per addressed target, rendered exactly (previewLimit); the rest are counted.",
    )
    recipient_jobs: int = Field(0, description="Jobs the plan would make for recipients (skipped ones included).")
    skipped: list[SkipCount] = Field(default_factory=list, description="Jobs that would be skipped, by reason.")
    planned_times: list[PlannedTime] = Field(
        default_factory=list, description="With stagger: each job's due time, earliest first (the first 1,000)."
    )
    planned_first: datetime | None = Field(None, description="With stagger: the earliest due time.")
    planned_last: datetime | None = Field(None, description="With stagger: the latest due time.")
    selection: SelectionRead | None = Field(
        None, description="What select would pick (the pool's state is not moved by a dry run)."
    )


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


class PausePlanInput(MutationInput):
    id: Id = Field(description="Plan id (pln_…).")
    note: str | None = Field(None, max_length=400, description="Why: shown on the plan and in its hint.")


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


class FallbackRead(WireModel):
    job_id: Id = Field(description="The fallback job.")
    fallback_of: Id = Field(description="The failed or dead job it was spawned for.")
    from_target_id: Id
    target_id: Id
    target_name: str | None
    status: JobStatus


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
        description="Deliveries that landed (directly or via fallback) / primary jobs that were to be delivered "
        "(not skipped or cancelled)."
    )
    first_attempt_success_rate: float | None = Field(
        description="Primary jobs delivered on their first attempt / primary jobs attempted."
    )
    avg_delivery_ms: float | None = Field(description="Mean time from due to delivered, over delivered jobs.")
    p95_delivery_ms: float | None
    slowest_targets: list[SlowTarget] = Field(description="Up to 5 delivered jobs that took longest.")
    recipients: int = Field(0, description="Distinct recipients the plan's jobs reach.")
    bounced: int = Field(0, description="Recipient jobs that failed on a hard bounce (the address is now marked).")
    skipped_reasons: list[SkipCount] = Field(
        default_factory=list, description="Skipped jobs by reason (unsubscribed, bounced, no address, …)."
    )
    sla_seconds: float = Field(description="The completion target the KPIs below are measured against.")
    completion_seconds: float | None = Field(
        description="From due to the last job's end, once every job is final (else null)."
    )
    delivered_within_sla: int = Field(description="Jobs delivered within slaSeconds of the plan's due time.")
    within_sla: bool | None = Field(
        description="Every job final within slaSeconds and every expected delivery made (null while running)."
    )
    delivered_via_fallback: int = Field(
        description="Deliveries whose primary job failed and a fallback job (of its chain) delivered."
    )
    fallbacks: list[FallbackRead] = Field(description="Every fallback job of the plan, oldest first.")
    kpi: KpiResult | None = Field(
        None, description="The plan's KPI thresholds against what it measured (if it has any)."
    )


class PlanReportInput(WireModel):
    id: Id = Field(description="Plan id (pln_…).")
    sla_seconds: float = Field(300, gt=0, le=86_400, description="Completion target for the SLA KPIs (default 5 min).")


class PlanReportResult(WireModel):
    report: PlanReport
    recommended_next_action: NextAction


class AttemptRead(WireModel):
    number: int
    started_at: datetime
    duration_ms: float
    outcome: str = Field(description="delivered, or what failed (the error class: transient, rate_limited, …).")
    status_code: int | None
    error_class: ErrorClass | None
    error: str | None


class PlanJobRead(JobRead):
    attempt_history: list[AttemptRead] = Field(description="Every attempt of this job, oldest first.")


class ListPlanJobsInput(WireModel):
    plan_id: Id = Field(description="Plan id (pln_…).")
    status: JobStatus | None = Field(None, description="Only jobs in this status.")
    limit: int = LIMIT
    cursor: str | None = CURSOR


class PlanJobList(WireModel):
    plan: PlanSummary = Field(description="The plan, with counts from its counters.")
    items: list[PlanJobRead]
    next_cursor: str | None
    recommended_next_action: NextAction

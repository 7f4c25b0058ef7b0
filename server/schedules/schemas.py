"""Data models of the schedule operations.

A schedule's ``plan`` is the ``create_distribution_plan`` input minus what is about one call
(dryRun, idempotencyKey, scheduledAt, awaitDelivery, awaitTimeoutSeconds, confirmationToken): the
template is built from ``CreatePlanInput`` itself, so a field plans gain is a field templates gain.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import Field, create_model

from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.jobs.status import PlanStatus
from server.plans.schemas import ContentInput, CreatePlanInput
from server.schedules.timing import MAX_JITTER_SECONDS, MIN_INTERVAL_SECONDS, DstPolicy
from server.wire import Id, Instant, Key, WireModel

# Fields of a plan's input that belong to one call, not to a template.
NOT_IN_TEMPLATE = (
    "dry_run",
    "idempotency_key",
    "scheduled_at",
    "await_delivery",
    "await_timeout_seconds",
    "confirmation_token",
)

if TYPE_CHECKING:
    PlanTemplate = CreatePlanInput
else:
    PlanTemplate = create_model(
        "PlanTemplate",
        __base__=WireModel,
        __doc__="What each run distributes: create_distribution_plan's input without its per-call fields.",
        **{
            name: (field.rebuild_annotation(), field)
            for name, field in CreatePlanInput.model_fields.items()
            if name not in NOT_IN_TEMPLATE and name != "content"
        },
        content=(
            ContentInput | None,
            Field(None, description="Fixed content of every run; omit when contentSource fetches it."),
        ),
    )


class OverlapPolicy(StrEnum):
    SKIP = "skip"
    BUFFER_ONE = "buffer_one"
    ALLOW_ALL = "allow_all"


class RunStatus(StrEnum):
    PENDING = "pending"  # leased by a tick, being fired (or waiting to retry its content fetch)
    BUFFERED = "buffered"  # overlap buffer_one: fires when the previous run's plan is final
    FIRED = "fired"  # its plan exists
    SKIPPED = "skipped"  # with its reason: overlap, a condition, unchanged content, beyond the catch-up window
    FAILED = "failed"  # its content could not be fetched (after its retries) or its plan was refused


class RunTrigger(StrEnum):
    SCHEDULE = "schedule"
    MANUAL = "manual"
    BACKFILL = "backfill"


class ContentFormat(StrEnum):
    JSON = "json"
    TEXT = "text"
    HTML = "html"


class ConditionOp(StrEnum):
    EQ = "eq"
    NE = "ne"
    GT = "gt"
    GTE = "gte"
    LT = "lt"
    LTE = "lte"
    CONTAINS = "contains"
    EXISTS = "exists"


MAPPABLE = ("id", "version", "title", "body", "excerpt", "url", "metadata")


class ContentSourceInput(WireModel):
    url: str = Field(min_length=1, max_length=2_000, description="Fetched (GET) at each run, through the SSRF guard.")
    format: ContentFormat = Field(
        ContentFormat.JSON, description="json: map fields with JMESPath; text or html: the body is the page."
    )
    map: dict[str, str] = Field(
        default_factory=dict,
        max_length=len(MAPPABLE),
        description="Content field (title, body, excerpt, url, version, metadata) -> JMESPath over the JSON.",
    )
    headers: dict[str, str] = Field(default_factory=dict, max_length=20, description="Request headers (e.g. Accept).")


class WhenCondition(WireModel):
    jmespath: str = Field(min_length=1, max_length=500, description="Expression over the fetched JSON.")
    op: ConditionOp
    value: Any = Field(None, description="Compared with the expression's result (not used by exists).")


class _ScheduleFields(WireModel):
    cron: str | None = Field(None, max_length=200, description="Five-field cron, e.g. '0 8 * * 1' (Mondays 08:00).")
    interval_seconds: int | None = Field(
        None, ge=MIN_INTERVAL_SECONDS, le=366 * 86_400, description="Or: every N seconds (anchored at startAt)."
    )
    phase_seconds: int | None = Field(None, ge=0, le=366 * 86_400, description="Offset of an interval's times.")
    timezone: str | None = Field(None, max_length=64, description="IANA zone the cron reads (default UTC).")
    dst_policy: DstPolicy | None = Field(
        None,
        description="vixie (default): a time skipped by spring-forward runs right after it, a repeated one once; "
        "literal: skipped times do not run, repeated ones run twice.",
    )
    start_at: Instant | None = Field(None, description="No run before this time.")
    end_at: Instant | None = Field(None, description="No run after this time.")
    jitter_seconds: int | None = Field(
        None, ge=0, le=MAX_JITTER_SECONDS, description="Delay each run by a fixed pseudo-random 0..N s."
    )
    overlap: OverlapPolicy | None = Field(
        None, description="When the previous run's plan is not final: skip (default), buffer_one, allow_all."
    )
    catchup_window_seconds: int | None = Field(
        None, ge=10, le=366 * 86_400, description="A run later than this (downtime) is skipped (default 3600)."
    )
    remaining_runs: int | None = Field(None, ge=0, le=1_000_000, description="Stop after this many scheduled runs.")
    content_source: ContentSourceInput | None = Field(None, description="Fetch the content at each run.")
    skip_if_unchanged: bool | None = Field(
        None, description="Skip a run whose content hash equals the last delivered run's."
    )
    when: WhenCondition | None = Field(None, description="Run only when this holds over the fetched JSON.")


class CreateScheduleInput(MutationInput, _ScheduleFields):
    name: str = Field(min_length=1, max_length=200)
    plan: PlanTemplate = Field(description="What each run distributes (targets, content, policy, ...).")
    paused: bool = Field(False, description="Create it paused (resume_distribution_schedule starts it).")
    note: str | None = Field(None, max_length=500, description="Why it is paused.")


class UpdateScheduleInput(MutationInput, _ScheduleFields):
    id: Id = Field(description="Schedule id (sch_…).")
    name: str | None = Field(None, min_length=1, max_length=200)
    plan: PlanTemplate | None = Field(None, description="Replaces the whole template (fixed content included).")
    clear: list[Key] = Field(
        default_factory=list,
        max_length=20,
        description="Fields to reset to their default (e.g. ['when', 'endAt', 'remainingRuns']).",
    )


class ScheduleIdInput(WireModel):
    id: Id = Field(description="Schedule id (sch_…).")
    runs: int = Field(10, ge=1, le=100, description="How many next and recent runs to show.")


class ScheduleMutationInput(MutationInput):
    id: Id = Field(description="Schedule id (sch_…).")


class PauseScheduleInput(MutationInput):
    id: Id = Field(description="Schedule id (sch_…).")
    note: str | None = Field(None, max_length=500, description="Why: shown with the schedule.")


class TriggerScheduleInput(MutationInput):
    id: Id = Field(description="Schedule id (sch_…).")
    overlap: OverlapPolicy | None = Field(None, description="Override the schedule's overlap policy for this run.")


class BackfillScheduleInput(MutationInput):
    id: Id = Field(description="Schedule id (sch_…).")
    start_at: Instant = Field(description="Run every nominal time from here ...")
    end_at: Instant = Field(description="... to here (inclusive), as if it had passed now.")
    overlap: OverlapPolicy = Field(
        OverlapPolicy.ALLOW_ALL, description="Overlap policy of the backfilled runs (default allow_all)."
    )


class ListSchedulesInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR
    paused: bool | None = Field(None, description="Only paused (true) or active (false) schedules.")


class NextRun(WireModel):
    nominal_at: datetime = Field(description="The nominal time, UTC.")
    local_time: str = Field(description="The nominal time in the schedule's zone (ISO 8601 with offset).")
    fires_at: datetime = Field(description="Nominal time plus jitter, UTC.")


class RunRead(WireModel):
    id: Id
    nominal_at: datetime
    local_time: str
    due_at: datetime
    trigger: RunTrigger
    status: RunStatus
    reason: str | None = Field(description="Why it was skipped or failed, or what it waits for.")
    plan_id: Id | None
    plan_status: PlanStatus | None
    attempts: int
    finished_at: datetime | None


class ScheduleRead(WireModel):
    id: Id
    name: str
    cron: str | None
    interval_seconds: int | None
    phase_seconds: int | None
    timezone: str
    dst_policy: DstPolicy
    start_at: datetime | None
    end_at: datetime | None
    jitter_seconds: int
    overlap: OverlapPolicy
    catchup_window_seconds: int
    remaining_runs: int | None
    plan: PlanTemplate
    content_source: ContentSourceInput | None
    skip_if_unchanged: bool
    when: WhenCondition | None
    paused: bool
    note: str | None
    runs_started: int
    next_runs: list[NextRun] = Field(description="The next nominal times (none while paused or after the end).")
    recent_runs: list[RunRead] = Field(description="The latest runs, newest first, with their plans or reasons.")
    created_at: datetime
    updated_at: datetime


class SchedulePayload(MutationResult):
    schedule: ScheduleRead | None = Field(description="The schedule (null once deleted).")
    runs: list[RunRead] = Field(default_factory=list, description="Runs this call made (trigger, backfill).")


class ScheduleResult(WireModel):
    schedule: ScheduleRead
    recommended_next_action: NextAction


class ScheduleSummary(WireModel):
    id: Id
    name: str
    cron: str | None
    interval_seconds: int | None
    timezone: str
    paused: bool
    next_run_at: datetime | None
    runs_started: int
    created_at: datetime


class ScheduleList(WireModel):
    items: list[ScheduleSummary]
    next_cursor: str | None
    recommended_next_action: NextAction

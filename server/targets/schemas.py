"""Data models of the target operations (never the table model)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, model_validator

from adapters.base import ChannelName, ErrorClass
from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.policy import PolicyInput
from server.wire import FILTER_MAX, Id, Label, WireModel

NAME = Field(min_length=1, max_length=200, description="Unique name in the workspace.")


class RetryPolicy(WireModel):
    max_attempts: int = Field(ge=1, le=50, description="Attempts before the job becomes a dead letter.")
    base_delay_seconds: float = Field(gt=0, le=3600, description="Backoff base: attempt n waits up to base*2^(n-1).")
    max_delay_seconds: float = Field(gt=0, le=86400, description="Cap of one backoff delay.")
    schedule_seconds: list[Annotated[float, Field(gt=0, le=86400)]] | None = Field(
        None,
        max_length=49,
        description="Explicit delays after failure 1, 2, … (each jittered ±20%); replaces the exponential backoff.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> RetryPolicy:
        if self.base_delay_seconds > self.max_delay_seconds:
            raise ValueError("baseDelaySeconds must not exceed maxDelaySeconds")
        if self.schedule_seconds is not None:
            if any(not 0 < delay <= self.max_delay_seconds for delay in self.schedule_seconds):
                raise ValueError("every scheduleSeconds entry must be > 0 and <= maxDelaySeconds")
            if len(self.schedule_seconds) < self.max_attempts - 1:
                raise ValueError("scheduleSeconds needs maxAttempts - 1 entries (one delay per retry)")
        return self


class RateLimit(WireModel):
    requests: int = Field(ge=1, le=100_000, description="At most this many requests…")
    per_seconds: float = Field(
        gt=0, le=86_400, description="…per this many seconds (sliding window), across all workers."
    )


class CircuitRead(WireModel):
    state: str = Field(description="closed, open or half_open.")
    until: datetime | None = Field(description="When an open circuit lets a probe through.")
    reason: str | None
    changed_at: datetime | None


class TargetRead(WireModel):
    id: Id | None = Field(description="Target id (tgt_…); null in a dry run.")
    name: str
    channel: ChannelName = Field(description="The channel that delivers to this target.")
    config: dict[str, Any]
    labels: list[str]
    active: bool
    paused_until: datetime | None
    pause_reason: str | None
    has_credentials: bool
    retry_policy: RetryPolicy
    rate_limit: RateLimit | None
    max_concurrency: int | None
    circuit: CircuitRead
    policy: PolicyInput | None = Field(description="Content policy for everything sent to this target.")
    fallback_target_id: Id | None = Field(
        description="Where a delivery that ends failed or dead here is sent instead (one job, same plan)."
    )
    created_at: datetime | None
    updated_at: datetime | None


class CreateTargetInput(MutationInput):
    name: str = NAME
    channel: ChannelName = Field(description="The channel that delivers to this target.")
    config: dict[str, Any] = Field(default_factory=dict, description="Channel settings (non-secret), e.g. {url}.")
    credentials: dict[str, Any] | None = Field(
        None, description="Secrets (write-only, stored encrypted), e.g. {signingSecret} or {bearerToken}."
    )
    labels: list[Label] = Field(
        default_factory=list, max_length=20, description="Labels for selecting targets in plans."
    )
    retry_policy: RetryPolicy | None = Field(None, description="Overrides the server's default retry policy.")
    rate_limit: RateLimit | None = Field(None, description="Proactive request budget for this target.")
    max_concurrency: int | None = Field(
        None, ge=1, le=1000, description="Deliveries in flight at once; 1 delivers in order."
    )
    policy: PolicyInput | None = Field(None, description="Content policy applied to every plan sent to this target.")
    fallback_target_id: Id | None = Field(
        None,
        description="A target (tgt_…) that gets one job when a delivery here ends failed or dead; chains of at "
        "most 3 targets, no cycles.",
    )
    active: bool = True


class UpdateTargetInput(MutationInput):
    id: Id = Field(description="Target id (tgt_…).")
    name: str | None = Field(None, min_length=1, max_length=200)
    config: dict[str, Any] | None = Field(None, description="Replaces the whole config when given.")
    credentials: dict[str, Any] | None = Field(None, description="Replaces the stored credentials when given.")
    labels: list[Label] | None = Field(None, max_length=20)
    retry_policy: RetryPolicy | None = None
    rate_limit: RateLimit | None = Field(None, description="Proactive request budget for this target.")
    max_concurrency: int | None = Field(
        None, ge=1, le=1000, description="Deliveries in flight at once; 1 delivers in order."
    )
    policy: PolicyInput | None = Field(None, description="Content policy applied to every plan sent to this target.")
    fallback_target_id: Id | None = Field(
        None,
        max_length=40,
        description='Set the fallback target (tgt_…; chains of at most 3 targets, no cycles); "" removes it.',
    )
    active: bool | None = None


class TargetIdInput(MutationInput):
    id: Id = Field(description="Target id (tgt_…).")


class PauseTargetInput(TargetIdInput):
    seconds: float | None = Field(None, gt=0, le=30 * 86400, description="Pause length; omit to pause until resumed.")
    reason: str | None = Field(None, max_length=300)


class RotateSecretInput(TargetIdInput):
    overlap_hours: float | None = Field(
        None, ge=0, le=720, description="How long the old secret keeps signing too (default 24 h; 0 drops it now)."
    )


class GetTargetInput(WireModel):
    id: Id = Field(description="Target id (tgt_…).")


class ListTargetsInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR
    channel: ChannelName | None = Field(None, description="Only targets of this channel.")
    label: str | None = Field(None, max_length=FILTER_MAX, description="Only targets carrying this label.")


class TargetPayload(MutationResult):
    target: TargetRead | None
    revealed_secrets: dict[str, str] | None = Field(
        None, description="Secrets Herald generated (e.g. signingSecret), shown only in this response."
    )


class TargetResult(WireModel):
    target: TargetRead
    recommended_next_action: NextAction


class TargetList(WireModel):
    items: list[TargetRead]
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last page.")
    recommended_next_action: NextAction


class TestTargetPayload(MutationResult):
    target: TargetRead
    ok: bool | None = Field(description="Whether the test delivery succeeded; null in a dry run.")
    status_code: int | None = None
    duration_ms: float | None = None
    error_class: ErrorClass | None = None
    error: str | None = None
    external_id: str | None = None
    preview: dict[str, Any] | None = Field(None, description="The test payload that is (or would be) sent.")

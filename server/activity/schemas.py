from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.wire import FILTER_MAX, Id, Instant, WireModel


class ListEventsInput(WireModel):
    type: str | None = Field(
        None, max_length=FILTER_MAX, description="e.g. target.paused, target.circuit_opened, job.dead, plan.failed."
    )
    target_id: Id | None = None
    plan_id: Id | None = None
    since: Instant | None = Field(None, description="At or after this time (ISO 8601 with a zone).")
    until: Instant | None = Field(None, description="Before this time (ISO 8601 with a zone).")
    limit: int = LIMIT
    cursor: str | None = CURSOR


class EventRead(WireModel):
    id: Id
    type: str
    message: str
    target_id: Id | None
    plan_id: Id | None
    job_id: Id | None
    data: dict[str, Any]
    created_at: datetime


class EventList(WireModel):
    items: list[EventRead]
    next_cursor: str | None
    recommended_next_action: NextAction


class HaltInput(MutationInput):
    reason: str | None = Field(None, max_length=300, description="Shown on every held job.")


class ResumeDeliveriesInput(MutationInput):
    pass


class HaltPayload(MutationResult):
    halted: bool = Field(description="Whether deliveries in this workspace are halted now.")
    jobs_released: int = Field(0, description="Jobs put back in the queue by a resume.")

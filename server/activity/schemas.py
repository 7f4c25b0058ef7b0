from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.wire import Id, WireModel


class ListEventsInput(WireModel):
    type: str | None = Field(None, description="e.g. target.paused, target.circuit_opened, job.dead, plan.failed.")
    target_id: Id | None = None
    plan_id: Id | None = None
    since: datetime | None = None
    until: datetime | None = None
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

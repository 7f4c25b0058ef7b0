from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from adapters.base import ErrorClass
from server.common import CURSOR, LIMIT
from server.hints import NextAction
from server.wire import Id, Instant, WireModel


class DeadLetterFilter(WireModel):
    plan_id: Id | None = Field(None, description="Only dead letters of this plan.")
    target_id: Id | None = Field(None, description="Only dead letters of this target.")
    error_class: ErrorClass | None = Field(None, description="Only dead letters of this error class.")
    since: Instant | None = Field(None, description="Dead-lettered at or after this time (ISO 8601 with a zone).")
    until: Instant | None = Field(None, description="Dead-lettered before this time (ISO 8601 with a zone).")


class ListDeadLettersInput(DeadLetterFilter):
    limit: int = LIMIT
    cursor: str | None = CURSOR


class DeadLetterRead(WireModel):
    id: Id
    job_id: Id
    plan_id: Id
    target_id: Id
    error_class: ErrorClass
    error: str | None
    attempts: int
    created_at: datetime
    replay_count: int
    replayed_at: datetime | None


class DeadLetterDetail(DeadLetterRead):
    request: dict[str, Any] = Field(description="What was sent (sanitized: no credentials, no signatures).")
    response: dict[str, Any] = Field(description="What came back (status, error code, redacted excerpt).")


class DeadLetterList(WireModel):
    items: list[DeadLetterRead]
    next_cursor: str | None
    recommended_next_action: NextAction


class GetDeadLetterInput(WireModel):
    id: Id = Field(description="Dead letter id (dlq_…).")


class DeadLetterDetailResult(WireModel):
    dead_letter: DeadLetterDetail
    recommended_next_action: NextAction

"""Reading the audit trail (written by ``server.audit`` for every mutation and refusal)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field
from sqlmodel import Session, select

from server.common import CURSOR, LIMIT
from server.context import OpContext
from server.hints import NextAction, hint
from server.models import AuditEvent
from server.pagination import page
from server.wire import FILTER_MAX, Id, Instant, WireModel


class ListAuditInput(WireModel):
    operation: str | None = Field(
        None, max_length=FILTER_MAX, description="e.g. create_distribution_plan, revoke_api_key."
    )
    principal: Id | None = Field(None, description="Key id (key_…) of the caller.")
    outcome: str | None = Field(None, max_length=FILTER_MAX, description="ok or error.")
    since: Instant | None = Field(None, description="At or after this time (ISO 8601 with a zone).")
    until: Instant | None = Field(None, description="Before this time (ISO 8601 with a zone).")
    limit: int = LIMIT
    cursor: str | None = CURSOR


class AuditRead(WireModel):
    id: Id
    principal: str
    operation: str
    input: dict[str, Any] = Field(description="The request, with credentials and secrets masked.")
    outcome: str
    error_code: str | None
    request_id: Id | None
    created_at: datetime


class AuditList(WireModel):
    items: list[AuditRead]
    next_cursor: str | None
    recommended_next_action: NextAction


def list_audit_events(ctx: OpContext, session: Session, data: ListAuditInput) -> AuditList:
    query = select(AuditEvent).where(AuditEvent.workspace_id == ctx.workspace_id)
    for column, value in ((AuditEvent.operation, data.operation), (AuditEvent.outcome, data.outcome)):
        if value is not None:
            query = query.where(column == value)
    if data.principal:
        query = query.where(AuditEvent.principal.contains(f"({data.principal})"))  # type: ignore[attr-defined]
    if data.since:
        query = query.where(AuditEvent.created_at >= data.since)
    if data.until:
        query = query.where(AuditEvent.created_at < data.until)
    rows, next_cursor = page(session, query, AuditEvent.id, data.limit, data.cursor, newest_first=True)
    action = (
        hint("list_audit_events", "Older entries follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint(None, "All matching entries listed.")
    )
    return AuditList(
        items=[AuditRead.model_validate(r, from_attributes=True) for r in rows],
        next_cursor=next_cursor,
        recommended_next_action=action,
    )

"""The audit trail: who did what, when, with which (redacted) input and outcome."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from server.context import OpContext
from server.db import session_scope
from server.ids import new_id
from server.models import AuditEvent
from server.redaction import redact_input


def audit_row(
    ctx: OpContext, operation: str, arguments: dict[str, Any], outcome: str, code: str | None = None
) -> AuditEvent:
    return AuditEvent(
        id=new_id("audit"),
        workspace_id=ctx.workspace_id,
        principal=ctx.principal.label,
        operation=operation,
        input=redact_input(arguments),
        outcome=outcome,
        error_code=code,
        request_id=ctx.request_id,
    )


def record_in(session: Session, ctx: OpContext, operation: str, arguments: dict[str, Any]) -> None:
    session.add(audit_row(ctx, operation, arguments, "ok"))


def record_failure(ctx: OpContext, operation: str, arguments: dict[str, Any], code: str) -> None:
    with session_scope(ctx.runtime.engine) as session:
        session.add(audit_row(ctx, operation, arguments, "error", code))

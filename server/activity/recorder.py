"""Recording operational events (target.paused, target.circuit_opened, job.dead, plan.failed, ...)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from server.ids import new_id
from server.jobs.status import PlanStatus
from server.models import OperationalEvent

EVENT_TYPES = (
    "target.paused",
    "target.resumed",
    "target.circuit_opened",
    "target.circuit_closed",
    "target.circuit_half_open",
    "job.dead",
    "job.failed_late",
    "plan.completed",
    "plan.partial",
    "plan.failed",
    "plan.kpi_missed",
    "plan.paused",
    "plan.resumed",
    "schedule.run_skipped",
    "schedule.run_failed",
    "deliveries.halted",
    "deliveries.resumed",
    "recipient.unsubscribed",
    "recipient.bounced",
)
PLAN_EVENTS = {
    PlanStatus.SUCCEEDED: "plan.completed",
    PlanStatus.PARTIAL: "plan.partial",
    PlanStatus.FAILED: "plan.failed",
}


def record_event(
    session: Session,
    workspace_id: str,
    type_: str,
    message: str,
    *,
    target_id: str | None = None,
    plan_id: str | None = None,
    job_id: str | None = None,
    **data: Any,
) -> None:
    assert type_ in EVENT_TYPES, type_
    session.add(
        OperationalEvent(
            id=new_id("event"),
            workspace_id=workspace_id,
            type=type_,
            target_id=target_id,
            plan_id=plan_id,
            job_id=job_id,
            message=message[:500],
            data=data,
        )
    )

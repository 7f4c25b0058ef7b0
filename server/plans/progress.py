"""Plan counters and final status, updated atomically as jobs reach a terminal state."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session

from server.models import Plan
from server.models.base import utcnow

TERMINAL_JOB_STATUSES = ("delivered", "failed", "dead", "cancelled", "skipped")
FINAL_PLAN_STATUSES = ("succeeded", "partial", "failed", "cancelled")


def final_status(delivered: int, failed: int, dead: int, cancelled: int, was: str) -> str:
    if was == "cancelled":
        return "cancelled"
    bad = failed + dead
    if bad == 0:
        return "succeeded" if delivered or not cancelled else "cancelled"
    return "failed" if delivered == 0 else "partial"


def record_terminal(session: Session, plan_id: str, job_status: str, count: int = 1) -> str | None:
    """Count ``count`` jobs that reached ``job_status``; returns the plan's final status if it just finished."""
    column = getattr(Plan, f"{job_status}_count")
    row = session.execute(
        update(Plan)
        .where(Plan.id == plan_id)
        .values({column: column + count, Plan.updated_at: utcnow()})
        .returning(
            Plan.total_jobs,
            Plan.delivered_count,
            Plan.failed_count,
            Plan.dead_count,
            Plan.cancelled_count,
            Plan.skipped_count,
            Plan.status,
        )
    ).one()
    total, delivered, failed, dead, cancelled, skipped, status = row
    return finish_if_done(session, plan_id, total, delivered, failed, dead, cancelled, skipped, status)


def finish_if_done(
    session: Session,
    plan_id: str,
    total: int,
    delivered: int,
    failed: int,
    dead: int,
    cancelled: int,
    skipped: int,
    status: str,
) -> str | None:
    if delivered + failed + dead + cancelled + skipped < total or status in ("succeeded", "partial", "failed"):
        return None
    final = final_status(delivered, failed, dead, cancelled, status)
    session.execute(
        update(Plan)
        .where(Plan.id == plan_id, Plan.completed_at.is_(None))  # type: ignore[union-attr]
        .values(status=final, completed_at=utcnow())
    )
    return final


def mark_running(session: Session, plan_id: str) -> None:
    session.execute(
        update(Plan).where(Plan.id == plan_id, Plan.status.in_(("queued", "scheduled"))).values(status="running")  # type: ignore[attr-defined]
    )

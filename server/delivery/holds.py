"""Why a due job may not be sent yet: a halt, a pause, order, or an open circuit.

A held job waits without spending an attempt. ``Hold.until`` None means "until an operator
resumes" (a halt); otherwise the job is re-enqueued for that time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from server.config import Settings
from server.delivery.limits import Limits
from server.jobs import transitions
from server.jobs.plan_state import JobKey
from server.jobs.status import HELD_BY_CIRCUIT, HELD_BY_HALT, HELD_BY_PAUSE, UNFINISHED, JobStatus
from server.models import Job, TargetState, WorkspaceState
from server.targets import circuit
from server.targets.repository import is_paused


@dataclass(frozen=True)
class Hold:
    until: datetime | None
    reason: str


def target_limits(target: TargetState) -> Limits:
    rate = target.rate_limit or {}
    return Limits(
        requests=rate.get("requests"), per_seconds=rate.get("perSeconds"), max_concurrency=target.max_concurrency
    )


def find_hold(
    session: Session, workspace: WorkspaceState, target: TargetState, job: JobKey, now: datetime, settings: Settings
) -> Hold | None:
    if workspace.halted:
        return Hold(None, HELD_BY_HALT)
    if is_paused(target, now):
        return Hold(target.paused_until, f"{HELD_BY_PAUSE}{target.pause_reason}")
    if target.max_concurrency == 1 and _older_waiting(session, job):
        return Hold(
            now + timedelta(seconds=settings.lease_seconds), "waiting for earlier deliveries to this target (ordered)"
        )
    until = circuit.gate(session, target, job.id, now, settings)
    if until is not None:
        return Hold(until, f"{HELD_BY_CIRCUIT}{target.circuit_reason}")
    return None


def _older_waiting(session: Session, job: JobKey) -> bool:
    query = (
        select(Job.id).where(Job.target_id == job.target_id, col(Job.status).in_(UNFINISHED), Job.id < job.id).limit(1)
    )
    return session.exec(query).first() is not None


def next_in_line(session: Session, target_id: str, now: datetime) -> str | None:
    """For an ordered target (maxConcurrency 1), the job that may go now that one of its jobs is done (made due now)."""
    query = (
        select(Job).where(Job.target_id == target_id, col(Job.status).in_(UNFINISHED)).order_by(col(Job.id)).limit(1)
    )
    following = session.exec(query).first()
    if following is None or following.status != JobStatus.SCHEDULED or following.held_reason is None:
        return None
    transitions.release_one(following, now)
    session.add(following)
    return following.id

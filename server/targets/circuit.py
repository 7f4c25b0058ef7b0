"""The per-target circuit breaker: closed → open (on a failure rate or a systemic error) →
half-open after the cooldown, where exactly one probe delivery decides: success closes it,
failure opens it again. Jobs wait while it is open and spend no attempts."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from server.activity.recorder import record_event
from server.config import Settings
from server.models import Attempt, Target, TargetState

FAILURE_CLASSES = ("transient", "systemic")
COUNTED_OUTCOMES = ("delivered", "transient", "systemic", "permanent")
# Ends the reason of a circuit that a systemic failure opened: one a change of config or credentials can fix.
SYSTEMIC_MARK = "(systemic)"


def gate(session: Session, target: TargetState, job_id: str, now: datetime, settings: Settings) -> datetime | None:
    """None when the job may be sent now; else when to look again."""
    if target.circuit_state == "closed":
        return None
    if is_open(target, now):
        return target.circuit_until
    if target.circuit_state == "half_open" and target.circuit_probe_job_id not in (None, job_id):
        return now + timedelta(seconds=settings.lease_seconds)
    won = session.exec(
        update(Target)
        .where(col(Target.id) == target.id, col(Target.circuit_state) == target.circuit_state)
        .values(circuit_state="half_open", circuit_probe_job_id=job_id, circuit_changed_at=now)
    ).rowcount
    return None if won else now + timedelta(seconds=settings.lease_seconds)


def is_open(target: TargetState, now: datetime) -> bool:
    """Open and still cooling down: nothing may be sent to the target yet (not even a probe)."""
    return target.circuit_state == "open" and target.circuit_until is not None and target.circuit_until > now


def failure_rate(session: Session, target_id: str, since: datetime) -> tuple[int, int]:
    """(failures, counted attempts) for the target since ``since``; 429s do not count."""
    rows = session.exec(
        select(Attempt.outcome, func.count())
        .where(Attempt.target_id == target_id, Attempt.started_at >= since, col(Attempt.outcome).in_(COUNTED_OUTCOMES))
        .group_by(Attempt.outcome)
    ).all()
    counts = dict(rows)
    return sum(counts.get(c, 0) for c in FAILURE_CLASSES), sum(counts.values())


def after_attempt(
    session: Session, target: Target, job_id: str, error_class: str | None, now: datetime, settings: Settings
) -> str | None:
    """Update the circuit after an attempt; returns "closed" or "opened" when it changed."""
    failed = error_class in FAILURE_CLASSES
    if target.circuit_state == "half_open" and target.circuit_probe_job_id == job_id:
        if failed:
            _open(session, target, now, settings, f"probe delivery failed ({error_class})")
            return "opened"
        if error_class is None:
            _close(session, target, now, "the probe delivery succeeded")
            return "closed"
        return None
    if target.circuit_state != "closed" or not failed:
        return None
    if error_class == "systemic":
        refused = f"the receiver refused our credentials or could not be reached {SYSTEMIC_MARK}"
        _open(session, target, now, settings, refused)
        return "opened"
    failures, total = failure_rate(session, target.id, now - timedelta(seconds=settings.circuit_window_seconds))
    if total >= settings.circuit_min_attempts and failures / total >= settings.circuit_failure_rate:
        _open(session, target, now, settings, f"{failures} of the last {total} attempts failed")
        return "opened"
    return None


def _open(session: Session, target: Target, now: datetime, settings: Settings, reason: str) -> None:
    target.circuit_state, target.circuit_reason, target.circuit_changed_at = "open", reason, now
    target.circuit_until = now + timedelta(seconds=settings.circuit_cooldown_seconds)
    target.circuit_probe_job_id = None
    session.add(target)
    record_event(
        session,
        target.workspace_id,
        "target.circuit_opened",
        f"Circuit of {target.name} opened: {reason}.",
        target_id=target.id,
        until=target.circuit_until.isoformat(),
    )


def _close(session: Session, target: Target, now: datetime, why: str) -> None:
    target.circuit_state, target.circuit_reason, target.circuit_changed_at = "closed", None, now
    target.circuit_until, target.circuit_probe_job_id = None, None
    session.add(target)
    record_event(
        session,
        target.workspace_id,
        "target.circuit_closed",
        f"Circuit of {target.name} closed: {why}.",
        target_id=target.id,
    )


def reset(session: Session, target: Target, now: datetime) -> bool:
    """A manual resume also closes an open circuit (the operator says it is fixed)."""
    if target.circuit_state == "closed":
        return False
    _close(session, target, now, "resumed by an operator")
    return True


def after_fix(session: Session, target: Target, now: datetime) -> bool:
    """New config or credentials for a target whose circuit a systemic failure opened: half-open it,
    so the next delivery is the probe instead of waiting out the cooldown."""
    if target.circuit_state != "open" or not (target.circuit_reason or "").endswith(SYSTEMIC_MARK):
        return False
    target.circuit_state, target.circuit_changed_at = "half_open", now
    target.circuit_until, target.circuit_probe_job_id = None, None
    session.add(target)
    record_event(
        session,
        target.workspace_id,
        "target.circuit_half_open",
        f"Circuit of {target.name} half-open: its config or credentials changed, the next delivery is the probe.",
        target_id=target.id,
    )
    return True

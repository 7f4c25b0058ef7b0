"""Fallback: a job that ends failed or dead on a target with a ``fallbackTargetId`` hands over to one job
on that target, written in the transaction that records the failure (``Effects.finish``).

Once per job: a job that fails again after a retry hands over to the fallback job it already has.
Never into a cancelled plan, never past ``MAX_CHAIN_TARGETS`` targets nor back to a target already in
the job's chain (create and update refuse such chains; this guards against one changed mid-flight).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from adapters import get_channel
from server.ids import new_id
from server.jobs import transitions
from server.jobs.status import JobStatus, PlanStatus
from server.models import Job, Plan, Target
from server.targets.fallback import MAX_CHAIN_TARGETS


@dataclass(frozen=True)
class HandOver:
    job_id: str  # the fallback job
    spawned: bool  # False: it existed already (the origin failed again after a retry)


def _chain_targets(session: Session, job: Job) -> list[str]:
    """The targets of ``job``'s chain, origin first: its own, then those of the jobs it falls back from."""
    targets, current = [job.target_id], job
    while current.fallback_of is not None and len(targets) <= MAX_CHAIN_TARGETS:
        parent = session.get(Job, current.fallback_of)
        if parent is None:
            break
        targets.insert(0, parent.target_id)
        current = parent
    return targets


def hand_over(session: Session, job: Job, now: datetime) -> HandOver | None:
    """The fallback job ``job`` (just failed or dead) hands over to, or None when it has no fallback."""
    if job.status not in (JobStatus.FAILED, JobStatus.DEAD):
        return None
    existing = session.exec(select(Job.id).where(Job.fallback_of == job.id)).first()
    if existing is not None:
        return HandOver(existing, spawned=False)
    target = session.get(Target, job.target_id)
    fallback_id = target.fallback_target_id if target is not None else None
    if fallback_id is None:
        return None
    plan = session.get(Plan, job.plan_id)
    if plan is None or plan.status == PlanStatus.CANCELLED:
        return None
    chain = _chain_targets(session, job)
    if fallback_id in chain or len(chain) >= MAX_CHAIN_TARGETS:
        return None
    fallback_target = session.get(Target, fallback_id)
    addressing = get_channel(fallback_target.channel).addressing if fallback_target is not None else "broadcast"
    addressed = job.recipient_id is not None and addressing in ("recipient", "either")
    row = transitions.fallback(job, new_id("job"), fallback_id, now, addressed=addressed)
    session.add(Job(**row))
    return HandOver(row["id"], spawned=True)

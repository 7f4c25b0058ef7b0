"""What a delivery transaction does besides writing its own rows.

Jobs that reach a final state are tallied and the plan counters updated once per plan and status
when the transaction settles (not once per job: 10,000 jobs of one plan must not queue on one row).
Messages and events wait until the transaction commits, so nothing is announced that could still
roll back.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from sqlmodel import Session

from server.activity.recorder import PLAN_EVENTS, record_event
from server.after_commit import AfterCommit
from server.delivery.holds import next_in_line
from server.delivery.scheduling import enqueue_at
from server.models import Job, Target
from server.models.base import utcnow
from server.plans.progress import record_terminal
from server.runtime import Runtime


class JobKey(Protocol):
    """What identifies a job and its owners: an ORM ``Job`` or a plain row of those columns."""

    id: str
    plan_id: str
    workspace_id: str
    target_id: str


class Effects:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._after = AfterCommit()
        self._due: dict[datetime | None, list[str]] = defaultdict(list)
        self._finished: dict[str, Counter[str]] = defaultdict(Counter)
        self._finished_ids: dict[str, list[str]] = defaultdict(list)
        self._workspaces: dict[str, str] = {}

    def enqueue(self, job_id: str, due: datetime | None) -> None:
        """Send the job's message after commit, for ``due`` (None: now)."""
        self._due[due].append(job_id)

    def later(self, action: Callable[[], None]) -> None:
        """Run ``action`` after commit, after the messages (see ``server.after_commit``)."""
        self._after.add(action)

    def finish(
        self, session: Session, job: Job, status: str, *, error: str | None = None, error_class: str | None = None
    ) -> None:
        """Give ``job`` its final ``status``; the plan counters follow in ``settle``."""
        now = utcnow()
        job.status, job.finished_at, job.updated_at, job.lease_expires_at = status, now, now, None
        job.next_attempt_at = None
        if error is not None:
            job.last_error, job.error_class = error, error_class or "permanent"
        session.add(job)
        if status == "dead":
            record_event(
                session,
                job.workspace_id,
                "job.dead",
                f"Job {job.id} exhausted its attempts: {job.last_error}",
                job_id=job.id,
                plan_id=job.plan_id,
                target_id=job.target_id,
            )
        target = session.get(Target, job.target_id)
        self.finished(session, job, status, now, ordered=target is not None and target.max_concurrency == 1)

    def finished(self, session: Session, job: JobKey, status: str, now: datetime, *, ordered: bool) -> None:
        """Tally a job whose row already says ``status`` (the bulk path updates many rows in one statement).

        ``ordered``: its target delivers one job at a time, in order, so the next one may go now.
        """
        self._finished[job.plan_id][status] += 1
        self._finished_ids[job.plan_id].append(job.id)
        self._workspaces[job.plan_id] = job.workspace_id
        following = next_in_line(session, job.target_id, now) if ordered else None
        if following:
            self.enqueue(following, None)

    def settle(self, session: Session) -> None:
        """Inside the transaction, last: plan counters (plans in id order, so two workers never deadlock)."""
        session.flush()
        for plan_id in sorted(self._finished):
            final = None
            for status, count in sorted(self._finished[plan_id].items()):
                final = record_terminal(session, plan_id, status, count) or final
            if final in PLAN_EVENTS:
                record_event(
                    session,
                    self._workspaces[plan_id],
                    PLAN_EVENTS[final],
                    f"Plan {plan_id} ended {final}.",
                    plan_id=plan_id,
                )
            event = {
                "type": "jobs.finished",
                "planId": plan_id,
                "jobIds": self._finished_ids[plan_id],
                "planStatus": final,
            }
            self.later(lambda plan_id=plan_id, event=event: self.rt.events.publish(plan_id, event))

    def run(self) -> None:
        """After commit: send the messages, then announce."""
        for due, job_ids in self._due.items():
            enqueue_at(self.rt, job_ids, due)
        self._after.run()

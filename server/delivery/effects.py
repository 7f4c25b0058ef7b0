"""What a delivery transaction does besides writing its own rows.

A job that ends failed or dead hands over to its target's fallback (``server.delivery.fallback``), in
this transaction. Jobs that reach a final state are tallied (``server.jobs.plan_state.Tally``) and the plan counters
updated once per plan and status when the transaction settles. Messages and events wait until the
transaction commits, so nothing is announced that could still roll back.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from functools import partial

from sqlmodel import Session

from server.activity.recorder import PLAN_EVENTS, record_event
from server.after_commit import AfterCommit
from server.delivery.fallback import hand_over
from server.delivery.holds import next_in_line
from server.jobs import transitions
from server.jobs.plan_state import JobKey, Tally
from server.jobs.queue import enqueue_at
from server.jobs.status import JobStatus
from server.models import Job, Target
from server.models.base import utcnow
from server.plans.kpi_check import check_kpi
from server.runtime import Runtime


class Effects:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._after = AfterCommit()
        self._due: dict[datetime | None, list[str]] = defaultdict(list)
        self._tally = Tally()

    def enqueue(self, job_id: str, due: datetime | None) -> None:
        """Send the job's message after commit, for ``due`` (None: now)."""
        self._due[due].append(job_id)

    def later(self, action: Callable[[], object]) -> None:
        """Run ``action`` after commit, after the messages (see ``server.after_commit``)."""
        self._after.add(action)

    def finish(
        self,
        session: Session,
        job: Job,
        status: JobStatus,
        *,
        error: str | None = None,
        error_class: str | None = None,
    ) -> None:
        """Give ``job`` its final ``status``; the plan counters follow in ``settle``."""
        now = utcnow()
        transitions.finish(job, status, now, error=error, error_class=error_class)
        session.add(job)
        if status == JobStatus.DEAD:
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
        handed = hand_over(session, job, now)
        if handed is not None:
            self._tally.hand_over(job, handed.spawned)
            if handed.spawned:
                self.enqueue(handed.job_id, None)

    def finished(self, session: Session, job: JobKey, status: JobStatus, now: datetime, *, ordered: bool) -> None:
        """Tally a job whose row already says ``status`` (the bulk path updates many rows in one statement).

        ``ordered``: its target delivers one job at a time, in order, so the next one may go now.
        """
        self._tally.add(job, status)
        following = next_in_line(session, job.target_id, now) if ordered else None
        if following:
            self.enqueue(following, None)

    def settle(self, session: Session) -> None:
        """Inside the transaction, last: plan counters, and each plan's event once it ended."""
        session.flush()
        for settled in self._tally.settle(session):
            plan_id, final = settled.plan_id, settled.final
            if final in PLAN_EVENTS:
                record_event(
                    session,
                    settled.workspace_id,
                    PLAN_EVENTS[final],
                    f"Plan {plan_id} ended {final}.",
                    plan_id=plan_id,
                )
                check_kpi(session, settled.workspace_id, plan_id)
            event = {
                "type": "jobs.finished",
                "planId": plan_id,
                "jobIds": settled.job_ids,
                "planStatus": final,
            }
            self.later(partial(self.rt.events.publish, plan_id, event))

    def run(self) -> None:
        """After commit: send the messages, then announce."""
        for due, job_ids in self._due.items():
            enqueue_at(self.rt, job_ids, due)
        self._after.run()

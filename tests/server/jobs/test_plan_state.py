"""A plan's status and counters: counted once per plan and status, ended when the last job ends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlmodel import Session

from server.db import session_scope
from server.jobs import plan_state
from server.jobs.plan_state import Tally, TransitionRefused
from server.jobs.status import JobStatus, PlanStatus
from server.models import Job, Plan
from server.models.base import utcnow
from server.runtime import Runtime
from tests.server.jobs.test_scheduler import plan_at, stub_targets


def plan_of(rt: Runtime, targets: int, later: bool = False) -> tuple[str, list[Job]]:
    ids = plan_at(rt, stub_targets(rt, targets), utcnow() + timedelta(days=1) if later else None)
    with session_scope(rt.engine) as session:
        jobs = [session.get(Job, job_id) for job_id in ids]
        session.expunge_all()
    return jobs[0].plan_id, jobs  # type: ignore[union-attr,return-value]


def row(rt: Runtime, plan_id: str) -> tuple:
    with session_scope(rt.engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        counts = (plan.delivered_count, plan.failed_count, plan.dead_count, plan.cancelled_count)
        return (plan.status, *counts, plan.completed_at is not None)


@pytest.mark.parametrize(
    ("counts", "was", "final"),
    [
        ((3, 0, 0, 0), "running", "succeeded"),
        ((2, 1, 0, 0), "running", "partial"),
        ((0, 1, 1, 0), "running", "failed"),
        ((0, 0, 0, 2), "running", "cancelled"),
        ((1, 0, 0, 2), "running", "succeeded"),
        ((3, 0, 0, 0), "cancelled", "cancelled"),
    ],
)
def test_final_status(counts: tuple[int, int, int, int], was: str, final: str) -> None:
    assert plan_state.final_status(*counts, was) == final


def test_the_tally_counts_once_per_plan_and_status_and_ends_the_plan_with_its_last_job(rt: Runtime) -> None:
    first, first_jobs = plan_of(rt, 3)
    second, second_jobs = plan_of(rt, 2)
    tally = Tally()
    for job in first_jobs[:2]:
        tally.add(job, JobStatus.DELIVERED)
    tally.add(second_jobs[0], JobStatus.DELIVERED)
    tally.add(second_jobs[1], JobStatus.DEAD)
    with session_scope(rt.engine) as session:
        settled = tally.settle(session)
    assert [(s.plan_id, sorted(s.job_ids), s.final) for s in settled] == sorted(
        [
            (first, sorted(j.id for j in first_jobs[:2]), None),
            (second, sorted(j.id for j in second_jobs), PlanStatus.PARTIAL),
        ]
    )
    assert row(rt, first) == ("queued", 2, 0, 0, 0, False)
    assert row(rt, second) == ("partial", 1, 0, 1, 0, True)


def test_mark_running_starts_only_a_plan_not_started(rt: Runtime) -> None:
    queued, _ = plan_of(rt, 1)
    scheduled, _ = plan_of(rt, 1, later=True)
    with session_scope(rt.engine) as session:
        session.get(Plan, queued).status = PlanStatus.CANCELLED  # type: ignore[union-attr]
        plan_state.mark_running(session, queued)
        plan_state.mark_running(session, scheduled)
    assert (row(rt, queued)[0], row(rt, scheduled)[0]) == ("cancelled", "running")


def test_cancel_refuses_an_ended_plan_and_reopen_runs_it_again(rt: Runtime) -> None:
    plan_id, [job] = plan_of(rt, 1)
    tally = Tally()
    tally.add(job, JobStatus.FAILED)
    with session_scope(rt.engine) as session:
        tally.settle(session)
    assert row(rt, plan_id) == ("failed", 0, 1, 0, 0, True)
    with Session(rt.engine) as session:
        plan = session.get(Plan, plan_id)
        assert plan is not None
        with pytest.raises(TransitionRefused):
            plan_state.cancel(plan)
        assert plan.status == "failed"
    with session_scope(rt.engine) as session:
        plan_state.reopen(session, plan_id, failed=1, dead=0, now=utcnow())
    assert row(rt, plan_id) == ("running", 0, 0, 0, 0, False)


def test_a_late_failure_moves_the_counters_and_reopens_an_ended_verdict(rt: Runtime) -> None:
    plan_id, jobs = plan_of(rt, 2)
    tally = Tally()
    tally.add(jobs[0], JobStatus.DELIVERED)
    with session_scope(rt.engine) as session:
        tally.settle(session)
        assert plan_state.fail_late(session, plan_id) is None  # still running: only the counters move
    assert row(rt, plan_id)[1:3] == (0, 1)
    tally = Tally()
    tally.add(jobs[1], JobStatus.DELIVERED)
    with session_scope(rt.engine) as session:
        assert tally.settle(session)[0].final == PlanStatus.PARTIAL
    with session_scope(rt.engine) as session:
        assert plan_state.fail_late(session, plan_id) == PlanStatus.FAILED  # partial → failed: nothing delivered
    assert row(rt, plan_id) == (PlanStatus.FAILED, 0, 2, 0, 0, True)

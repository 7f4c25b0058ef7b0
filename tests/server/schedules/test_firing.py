"""The schedule tick stepped by a test clock: one plan per nominal time, catch-up, overlap, pause, limits,
and ticks racing from several runtimes (workers and a server) on one database."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import col, select

from server.clock import TestClock
from server.db import session_scope
from server.jobs.status import PlanStatus
from server.models import Plan, ScheduleRun
from server.runtime import Runtime
from server.schedules.firing import tick_schedules
from tests.support import factories
from tests.support.factories import call
from tests.support.queues import RecordingQueue

START = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # Monday 07:00 in Berlin


@pytest.fixture(params=factories.DATABASES)
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    runtime = factories.runtime_on(request.param, request, tmp_path)
    runtime.queue = RecordingQueue()
    runtime.clock = TestClock(START)
    return runtime


def clock(rt: Runtime) -> TestClock:
    assert isinstance(rt.clock, TestClock)
    return rt.clock


def stub(rt: Runtime) -> str:
    return str(call(rt, "create_distribution_target", name=f"t-{uuid.uuid4().hex[:8]}", channel="stub").target.id)


def schedule(rt: Runtime, target: str, **fields: Any) -> str:
    body = call(
        rt,
        "create_distribution_schedule",
        name=fields.pop("name", f"s-{uuid.uuid4().hex[:8]}"),
        plan={"targetIds": [target], "content": factories.content()},
        **fields,
    )
    return str(body.schedule.id)


def runs(rt: Runtime, schedule_id: str) -> list[tuple[datetime, str, str | None]]:
    with session_scope(rt.engine) as session:
        rows = session.exec(
            select(ScheduleRun).where(ScheduleRun.schedule_id == schedule_id).order_by(col(ScheduleRun.nominal_at))
        ).all()
        return [(row.nominal_at.astimezone(UTC), row.status, row.reason) for row in rows]


def plans(rt: Runtime, schedule_id: str) -> list[Plan]:
    with session_scope(rt.engine) as session:
        query = select(Plan).where(Plan.schedule_id == schedule_id).order_by(col(Plan.scheduled_for))
        return list(session.exec(query).all())


def tick_at(rt: Runtime, when: datetime) -> int:
    clock(rt).set(when)
    return tick_schedules(rt)


def test_a_weekly_schedule_fires_once_at_its_local_time(rt: Runtime) -> None:
    sid = schedule(rt, stub(rt), cron="0 8 * * 1", timezone="Europe/Berlin")
    monday_8 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
    assert tick_at(rt, monday_8 - timedelta(seconds=1)) == 0
    assert runs(rt, sid) == []
    assert tick_at(rt, monday_8) == 1
    assert (tick_at(rt, monday_8), tick_at(rt, monday_8 + timedelta(minutes=5))) == (0, 0)
    [plan] = plans(rt, sid)
    assert (plan.scheduled_for, plan.status, plan.total_jobs) == (monday_8, PlanStatus.QUEUED, 1)
    assert plan.content["version"] == "1+20261130T070000Z"
    assert runs(rt, sid) == [(monday_8, "fired", None)]
    read = call(rt, "get_distribution_schedule", id=sid).schedule
    assert [run.local_time for run in read.next_runs[:2]] == ["2026-12-07T08:00:00+01:00", "2026-12-14T08:00:00+01:00"]
    assert read.next_runs[0].nominal_at == datetime(2026, 12, 7, 7, tzinfo=UTC)
    assert len(read.next_runs) >= 5
    assert [(r.status, r.plan_id, r.plan_status) for r in read.recent_runs] == [("fired", plan.id, "queued")]


def test_runs_later_than_the_catch_up_window_are_recorded_skipped(rt: Runtime) -> None:
    sid = schedule(rt, stub(rt), intervalSeconds=3600, startAt=START.isoformat(), catchupWindowSeconds=600)
    assert tick_at(rt, START + timedelta(hours=2, minutes=5)) == 1  # down from 00:00 to 02:05
    assert runs(rt, sid) == [
        (START, "skipped", "missed: 7500s late, beyond the catch-up window of 600s"),
        (START + timedelta(hours=1), "skipped", "missed: 3900s late, beyond the catch-up window of 600s"),
        (START + timedelta(hours=2), "fired", None),
    ]
    assert [p.scheduled_for for p in plans(rt, sid)] == [START + timedelta(hours=2)]


def test_overlap_skip_buffer_one_and_allow_all(rt: Runtime) -> None:
    target = stub(rt)
    every = {"intervalSeconds": 60, "startAt": START.isoformat()}
    skip, buffer, allow = (schedule(rt, target, overlap=o, **every) for o in ("skip", "buffer_one", "allow_all"))
    for minute in range(3):  # no plan ends meanwhile: the queue records, nobody delivers
        tick_at(rt, START + timedelta(minutes=minute))
    first = plans(rt, skip)[0].id
    assert [status for _, status, _ in runs(rt, skip)] == ["fired", "skipped", "skipped"]
    assert runs(rt, skip)[1][2] == f"overlap: the previous run's plan {first} has not ended"
    assert [status for _, status, _ in runs(rt, allow)] == ["fired", "fired", "fired"]
    buffered = runs(rt, buffer)
    assert [status for _, status, _ in buffered] == ["fired", "buffered", "skipped"]
    assert buffered[2][2] is not None and buffered[2][2].startswith("overlap: run run_")
    call(rt, "cancel_distribution_plan", id=plans(rt, buffer)[0].id)
    assert tick_at(rt, START + timedelta(minutes=2, seconds=30)) == 1  # the buffered run starts now
    assert [status for _, status, _ in runs(rt, buffer)] == ["fired", "fired", "skipped"]
    assert [p.scheduled_for for p in plans(rt, buffer)] == [START, START + timedelta(minutes=1)]


def test_a_paused_schedule_does_not_fire_and_resumes_from_now(rt: Runtime) -> None:
    sid = schedule(rt, stub(rt), intervalSeconds=3600, startAt=START.isoformat())
    paused = call(rt, "pause_distribution_schedule", id=sid, note="quarter close")
    assert paused.schedule.next_runs == []
    assert paused.recommended_next_action.tool == "resume_distribution_schedule"
    assert "quarter close" in paused.recommended_next_action.reason
    assert tick_at(rt, START + timedelta(hours=3, minutes=30)) == 0
    resumed = call(rt, "resume_distribution_schedule", id=sid).schedule
    assert resumed.next_runs[0].nominal_at == START + timedelta(hours=4)  # 00:00 to 03:00 are not caught up
    assert tick_at(rt, START + timedelta(hours=4)) == 1
    assert runs(rt, sid) == [(START + timedelta(hours=4), "fired", None)]


def test_remaining_runs_end_the_schedule(rt: Runtime) -> None:
    sid = schedule(rt, stub(rt), intervalSeconds=60, startAt=START.isoformat(), remainingRuns=2, overlap="allow_all")
    assert [n.nominal_at for n in call(rt, "get_distribution_schedule", id=sid).schedule.next_runs] == [
        START,
        START + timedelta(minutes=1),
    ]
    assert sum(tick_at(rt, START + timedelta(minutes=m)) for m in range(4)) == 2
    read = call(rt, "get_distribution_schedule", id=sid)
    assert (read.schedule.remaining_runs, read.schedule.next_runs) == (0, [])
    # Its last plan still delivers (nobody consumes the queue here): the hint follows it first.
    last = plans(rt, sid)[-1].id
    assert (read.recommended_next_action.tool, read.recommended_next_action.arguments) == (
        "get_distribution_plan",
        {"id": last},
    )


@pytest.mark.slow
@pytest.mark.parametrize("database", factories.DATABASES)
def test_two_workers_and_a_server_fire_each_nominal_time_exactly_once(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    first = factories.runtime_on(database, request, tmp_path)
    # Three runtimes (own engines and pools, as processes have) on one database and one key file.
    others = [factories.runtime(tmp_path, database_url=first.settings.database_url) for _ in "bc"]
    runtimes = [first, *others]
    for runtime in others:
        request.addfinalizer(runtime.close)
    at = TestClock(START)
    for runtime in runtimes:
        runtime.queue, runtime.clock = RecordingQueue(), at
    target = stub(first)
    ids = [schedule(first, target, intervalSeconds=60, startAt=START.isoformat(), overlap="allow_all") for _ in "xy"]
    barrier = threading.Barrier(len(runtimes))
    fired: list[int] = []

    def worker(runtime: Runtime, steps: list[datetime]) -> None:
        for step in steps:
            barrier.wait(timeout=30)
            fired.append(tick_schedules(runtime, now=step))

    # Twenty steps a minute apart, then a jump over ten more minutes at once (a catch-up), all racing.
    steps = [START + timedelta(minutes=m) for m in range(20)] + [START + timedelta(minutes=30)]
    threads = [threading.Thread(target=worker, args=(runtime, steps)) for runtime in runtimes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    expected = [START + timedelta(minutes=m) for m in range(31)]
    assert sum(fired) == 2 * 31
    for sid in ids:
        assert [p.scheduled_for for p in plans(first, sid)] == expected
        assert [(when, status) for when, status, _ in runs(first, sid)] == [(when, "fired") for when in expected]


def test_a_run_left_by_a_dead_firer_is_fired_once_its_lease_expires(rt: Runtime) -> None:
    sid = schedule(rt, stub(rt), intervalSeconds=3600, startAt=START.isoformat(), overlap="allow_all")
    clock(rt).set(START + timedelta(minutes=30))
    # Without its door's after-step (as if the process died after commit), the backfilled run stays leased.
    filled = call(rt, "backfill_distribution_schedule", id=sid, startAt=START.isoformat(), endAt=START.isoformat())
    assert [(run.nominal_at, run.status) for run in filled.runs] == [(START, "pending")]
    assert tick_at(rt, START + timedelta(minutes=31)) == 0  # the tick finds the time taken and the run leased
    assert tick_at(rt, START + timedelta(minutes=33)) == 1  # the lease (120 s) ran out: this tick fires it
    assert [(when, status) for when, status, _ in runs(rt, sid)] == [(START, "fired")]
    assert tick_at(rt, START + timedelta(hours=1)) == 1
    # A trigger at the very instant of a nominal time that already ran gets the next millisecond.
    triggered = call(rt, "trigger_distribution_schedule", id=sid)
    assert [run.nominal_at for run in triggered.runs] == [START + timedelta(hours=1, milliseconds=1)]
    assert len({p.scheduled_for for p in plans(rt, sid)}) == len(plans(rt, sid)) == 2

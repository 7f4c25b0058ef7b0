"""Firing schedules: each nominal time becomes one run, and each run at most one plan, however many
workers and servers tick at once.

A tick (``tick_schedules``, called beside the job scheduler tick by every worker) has two steps:

1. **Materialize** (one short transaction): lock the active schedules whose next fire time has come
   (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers with ``BEGIN IMMEDIATE``),
   insert a run row per due nominal time — unique on (schedule, nominal time), so a second writer
   could never insert it twice — leased to this tick (``lease_expires_at``), or recorded ``skipped``
   when it is later than the catch-up window; advance the schedule's next time. The same
   transaction leases the runs waiting for a retry or for a buffered start, and runs whose lease
   expired (a worker died between the steps).
2. **Fire** each leased run: fetch its content (outside any transaction), then in one transaction
   lock the run, check it still waits, apply the overlap policy and the conditions, create its plan
   through ``create_distribution_plan``'s service (the plan carries ``scheduleId`` and
   ``scheduledFor``, unique too), and mark the run ``fired``. A run found already fired is left alone.

Overlap: the previous run's plan is not final. ``skip`` records the run skipped; ``buffer_one``
keeps one run ``buffered`` (later ones skipped) and fires it once that plan ended; ``allow_all``
fires anyway. Manual triggers and backfills bypass pause and ``remainingRuns`` and never count
against it; skipped runs do not count either.

A failed content fetch is recorded on the run and tried again (``FETCH_ATTEMPTS`` in all, after
``FETCH_BACKOFF_SECONDS``) while the run is within its catch-up window; then the run is ``failed``
with the reason (an operational event ``schedule.run_failed``). Skipped runs are not failures.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from server.activity.recorder import record_event
from server.context import OpContext, Principal
from server.db import retry_on_conflict, session_scope
from server.errors import HeraldError
from server.ids import new_id
from server.jobs.status import PLAN_FINAL
from server.models import Plan, Schedule, ScheduleRun
from server.plans import guardrails
from server.plans.schemas import CreatePlanInput
from server.plans.service import create_plan
from server.runtime import Runtime
from server.schedules import content as contents
from server.schedules.schemas import OverlapPolicy, RunStatus, RunTrigger
from server.schedules.timing import fire_time, nominal_times

log = logging.getLogger(__name__)

LEASE_SECONDS = 120.0
RUNS_PER_SCHEDULE_PER_TICK = 100
WAITING_RUNS = (RunStatus.PENDING, RunStatus.BUFFERED)


def tick_schedules(rt: Runtime, now: datetime | None = None, batch: int = 100) -> int:
    """Turn due nominal times into runs and fire them; returns how many runs this tick fired (plans made)."""
    now = now or rt.clock.now()
    try:
        leased, missed = retry_on_conflict(lambda: _materialize(rt, now, batch))
    except IntegrityError:
        log.info("another tick materialized these schedule runs first")
        return 0
    if missed:
        rt.metrics.schedule_run(RunStatus.SKIPPED, missed)
    fired = 0
    for run_id in leased:
        try:
            fired += fire_run(rt, run_id, now)
        except Exception:
            log.exception("schedule run %s failed to fire; its lease expires and a later tick retries it", run_id)
    return fired


def advance(schedule: Schedule, after: datetime) -> None:
    """Point ``schedule`` at its first nominal time strictly after ``after`` (None: it has no more)."""
    following = next(nominal_times(schedule.spec, after), None)
    schedule.next_nominal_at = following
    schedule.next_fire_at = fire_time(schedule.id, schedule.spec, following) if following else None


def new_run(
    schedule: Schedule,
    nominal: datetime,
    now: datetime,
    *,
    trigger: RunTrigger = RunTrigger.SCHEDULE,
    status: RunStatus = RunStatus.PENDING,
    reason: str | None = None,
    overlap: OverlapPolicy | None = None,
) -> ScheduleRun:
    finished = status not in WAITING_RUNS
    return ScheduleRun(
        id=new_id("schedule_run"),
        workspace_id=schedule.workspace_id,
        schedule_id=schedule.id,
        nominal_at=nominal,
        due_at=fire_time(schedule.id, schedule.spec, nominal) if trigger == RunTrigger.SCHEDULE else nominal,
        trigger=trigger,
        overlap=overlap,
        status=status,
        reason=reason,
        lease_expires_at=None if finished else now + timedelta(seconds=LEASE_SECONDS),
        created_at=now,
        updated_at=now,
        finished_at=now if finished else None,
    )


def _materialize(rt: Runtime, now: datetime, batch: int) -> tuple[list[str], int]:
    """The runs leased to this tick, and how many came due beyond their catch-up window (recorded skipped)."""
    with session_scope(rt.engine) as session:
        due = session.exec(
            select(Schedule)
            .where(col(Schedule.paused).is_(False), col(Schedule.next_fire_at) <= now)
            .order_by(col(Schedule.next_fire_at))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        leased: list[str] = []
        missed = 0
        for schedule in due:
            runs, skipped = _due_runs(session, schedule, now)
            leased += runs
            missed += skipped
        session.flush()
        leased += _lease_waiting(session, now, batch, exclude=set(leased))
        return leased, missed


def _due_runs(session: Session, schedule: Schedule, now: datetime) -> tuple[list[str], int]:
    """Insert the runs of ``schedule``'s nominal times that came due (skipped beyond the catch-up window);
    the ids of those to fire, and how many were skipped."""
    leased, missed = [], 0
    for _ in range(RUNS_PER_SCHEDULE_PER_TICK):
        nominal, fires = schedule.next_nominal_at, schedule.next_fire_at
        if nominal is None or fires is None or fires > now:
            break
        nominal = nominal.astimezone(UTC)
        late = (now - nominal).total_seconds()
        if has_run(session, schedule.id, nominal):
            pass  # a backfill (or a schedule changed back and forth) already ran this nominal time
        elif late > schedule.catchup_window_seconds:
            reason = f"missed: {late:.0f}s late, beyond the catch-up window of {schedule.catchup_window_seconds:.0f}s"
            session.add(new_run(schedule, nominal, now, status=RunStatus.SKIPPED, reason=reason))
            missed += 1
        else:
            run = new_run(schedule, nominal, now)
            session.add(run)
            leased.append(run.id)
        advance(schedule, nominal)
        schedule.updated_at = now
        session.add(schedule)
    return leased, missed


def has_run(session: Session, schedule_id: str, nominal: datetime) -> bool:
    query = select(ScheduleRun.id).where(ScheduleRun.schedule_id == schedule_id, ScheduleRun.nominal_at == nominal)
    return session.exec(query).first() is not None


def _lease_waiting(session: Session, now: datetime, batch: int, exclude: set[str]) -> list[str]:
    """Lease runs that wait (a fetch retry, a buffered start) whose due time came and that no tick holds."""
    free = or_(col(ScheduleRun.lease_expires_at).is_(None), col(ScheduleRun.lease_expires_at) <= now)
    ids = [
        run_id
        for run_id in session.exec(
            select(ScheduleRun.id)
            .where(col(ScheduleRun.status).in_(WAITING_RUNS), col(ScheduleRun.due_at) <= now, free)
            .order_by(col(ScheduleRun.due_at))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if run_id not in exclude
    ]
    if ids:
        session.execute(
            update(ScheduleRun)
            .where(col(ScheduleRun.id).in_(ids), free)
            .values(lease_expires_at=now + timedelta(seconds=LEASE_SECONDS))
            .execution_options(synchronize_session=False)
        )
    return ids


def fire_run(rt: Runtime, run_id: str, now: datetime) -> int:
    """Fire one leased run (see the module's docstring); returns 1 when it made a plan, else 0."""
    with session_scope(rt.engine) as session:
        run = session.get(ScheduleRun, run_id)
        schedule = session.get(Schedule, run.schedule_id) if run is not None else None
        if run is None or run.status not in WAITING_RUNS or schedule is None:
            return 0
        source = dict(schedule.content_source) if schedule.content_source else None
    text, document, failure = None, None, None
    if source is not None:
        try:
            text, document = contents.fetch(rt, source)
        except contents.FetchFailed as exc:
            failure = str(exc)
    ctx_holder: list[OpContext] = []

    def transaction() -> RunStatus | None:
        ctx_holder.clear()
        with session_scope(rt.engine) as session:
            left = _decide(rt, session, run_id, now, text, document, failure, ctx_holder)
        return left

    left = retry_on_conflict(transaction)
    for ctx in ctx_holder:
        ctx.on_commit.run()
    if left is not None and left not in WAITING_RUNS:
        rt.metrics.schedule_run(left)
    return 1 if left == RunStatus.FIRED else 0


def _decide(
    rt: Runtime,
    session: Session,
    run_id: str,
    now: datetime,
    text: str | None,
    document: Any,
    failure: str | None,
    ctx_holder: list[OpContext],
) -> RunStatus | None:
    """Decide a leased run under its lock; the status it leaves the run in (None: not this tick's to decide)."""
    run = session.exec(
        select(ScheduleRun).where(ScheduleRun.id == run_id).with_for_update().execution_options(populate_existing=True)
    ).first()
    if run is None or run.status not in WAITING_RUNS:
        return None  # another tick fired or ended it meanwhile
    schedule = session.get(Schedule, run.schedule_id)
    if schedule is None:
        return _end(session, run, RunStatus.SKIPPED, "the schedule was deleted", now)
    manual = run.trigger != RunTrigger.SCHEDULE
    if not manual and schedule.paused:
        return _end(session, run, RunStatus.SKIPPED, "the schedule is paused", now)
    if not manual and schedule.remaining_runs is not None and schedule.remaining_runs <= 0:
        return _end(session, run, RunStatus.SKIPPED, "no remaining runs", now)
    if failure is not None:
        return _fetch_failed(session, schedule, run, failure, now)
    blocking = _unfinished_plan(session, schedule.id, run.id)
    if blocking is not None:
        policy = OverlapPolicy(run.overlap or schedule.overlap)
        if policy == OverlapPolicy.SKIP:
            return _end(
                session, run, RunStatus.SKIPPED, f"overlap: the previous run's plan {blocking} has not ended", now
            )
        if policy == OverlapPolicy.BUFFER_ONE:
            return _buffer(session, schedule, run, blocking, now)
    conditions = schedule.conditions or {}
    when = conditions.get("when")
    if when is not None:
        holds, found = contents.when_holds(when, document)
        if not holds:
            reason = f"condition not met: {when['jmespath']} {when['op']} {when.get('value')!r} (found {found!r})"
            return _end(session, run, RunStatus.SKIPPED, reason[:500], now)
    content = contents.build(
        schedule.template.get("content"),
        schedule.content_source,
        text,
        document,
        schedule_name=schedule.name,
        nominal=run.nominal_at.astimezone(UTC),
    )
    digest = contents.content_digest(content)
    run.content_hash = digest
    if conditions.get("skipIfUnchanged"):
        previous = _last_delivered(session, schedule.id)
        if previous is not None and previous[1] == digest:
            return _end(session, run, RunStatus.SKIPPED, f"content unchanged since run {previous[0]}", now)
    return _make_plan(rt, session, schedule, run, content, now, ctx_holder)


def _make_plan(
    rt: Runtime,
    session: Session,
    schedule: Schedule,
    run: ScheduleRun,
    content: dict[str, Any],
    now: datetime,
    ctx_holder: list[OpContext],
) -> RunStatus:
    principal = Principal(
        workspace_id=schedule.workspace_id,
        key_id=schedule.created_by or schedule.id,
        name=f"schedule {schedule.name}",
    )
    ctx = OpContext(runtime=rt, principal=principal, request_id=f"req_{run.id}")
    try:
        data = CreatePlanInput.model_validate({**schedule.template, "content": content})
    except ValidationError as exc:
        problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()[:3])
        return _failed(session, schedule, run, f"the run's plan is invalid: {problem}", now)
    # The schedule's owner set up its fan-out; its runs carry their own confirmation, whatever their size.
    data = data.model_copy(update={"confirmation_token": guardrails.confirmation_token(ctx, data)})
    try:
        with session.begin_nested():
            payload = create_plan(ctx, session, data)
    except HeraldError as exc:
        ctx.on_commit.drop()
        return _failed(session, schedule, run, f"the run's plan was refused: {exc.message}", now)
    assert payload.plan is not None
    session.execute(
        update(Plan)
        .where(col(Plan.id) == payload.plan.id)
        .values(schedule_id=schedule.id, scheduled_for=run.nominal_at)
        .execution_options(synchronize_session=False)
    )
    run.status, run.plan_id, run.reason = RunStatus.FIRED, payload.plan.id, None
    run.finished_at = run.updated_at = now
    run.lease_expires_at = None
    session.add(run)
    schedule.runs_started += 1
    if run.trigger == RunTrigger.SCHEDULE and schedule.remaining_runs is not None:
        schedule.remaining_runs = max(schedule.remaining_runs - 1, 0)
        if schedule.remaining_runs == 0:
            schedule.next_nominal_at = schedule.next_fire_at = None
    session.add(schedule)
    ctx_holder.append(ctx)
    return RunStatus.FIRED


def _unfinished_plan(session: Session, schedule_id: str, run_id: str) -> str | None:
    return session.exec(
        select(Plan.id)
        .join(ScheduleRun, col(ScheduleRun.plan_id) == Plan.id)
        .where(
            ScheduleRun.schedule_id == schedule_id,
            ScheduleRun.id != run_id,
            ScheduleRun.status == RunStatus.FIRED,
            col(Plan.status).not_in(PLAN_FINAL),
        )
        .limit(1)
    ).first()


def _last_delivered(session: Session, schedule_id: str) -> tuple[str, str | None] | None:
    """The latest run whose plan delivered something, with its content hash."""
    row = session.exec(
        select(ScheduleRun.id, ScheduleRun.content_hash)
        .join(Plan, col(Plan.id) == ScheduleRun.plan_id)
        .where(ScheduleRun.schedule_id == schedule_id, ScheduleRun.status == RunStatus.FIRED, Plan.delivered_count > 0)
        .order_by(col(ScheduleRun.nominal_at).desc())
        .limit(1)
    ).first()
    return (row[0], row[1]) if row is not None else None


def _buffer(session: Session, schedule: Schedule, run: ScheduleRun, blocking: str, now: datetime) -> RunStatus:
    if run.status != RunStatus.BUFFERED:
        other = session.exec(
            select(ScheduleRun.id).where(
                ScheduleRun.schedule_id == schedule.id,
                ScheduleRun.status == RunStatus.BUFFERED,
                ScheduleRun.id != run.id,
            )
        ).first()
        if other is not None:
            return _end(session, run, RunStatus.SKIPPED, f"overlap: run {other} is already buffered", now)
    run.status, run.reason = RunStatus.BUFFERED, f"buffered: starts when plan {blocking} has ended"
    run.due_at, run.lease_expires_at, run.updated_at = now, None, now
    session.add(run)
    return RunStatus.BUFFERED


def _fetch_failed(session: Session, schedule: Schedule, run: ScheduleRun, failure: str, now: datetime) -> RunStatus:
    run.attempts += 1
    if run.attempts < contents.FETCH_ATTEMPTS:
        retry = now + timedelta(seconds=contents.FETCH_BACKOFF_SECONDS[run.attempts - 1])
        if (retry - run.nominal_at.astimezone(UTC)).total_seconds() <= schedule.catchup_window_seconds:
            run.due_at, run.lease_expires_at, run.updated_at = retry, None, now
            run.reason = f"{failure}; attempt {run.attempts} of {contents.FETCH_ATTEMPTS}, next at {retry:%H:%M:%SZ}"
            session.add(run)
            return RunStatus.PENDING
    return _failed(session, schedule, run, f"{failure} (after {run.attempts} attempt(s))", now)


def _failed(session: Session, schedule: Schedule, run: ScheduleRun, reason: str, now: datetime) -> RunStatus:
    record_event(
        session,
        schedule.workspace_id,
        "schedule.run_failed",
        f"Schedule {schedule.name} ({schedule.id}) run for {run.nominal_at:%Y-%m-%dT%H:%M:%SZ} failed: {reason}.",
        scheduleId=schedule.id,
        runId=run.id,
    )
    return _end(session, run, RunStatus.FAILED, reason, now)


def _end(session: Session, run: ScheduleRun, status: RunStatus, reason: str, now: datetime) -> RunStatus:
    run.status, run.reason = status, reason[:500]
    run.finished_at = run.updated_at = now
    run.lease_expires_at = None
    session.add(run)
    return status

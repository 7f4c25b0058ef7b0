"""Reading schedules and their runs, mapping them to wire models, and the hints that follow their state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import Session, col, select

from server.errors import NotFound
from server.hints import MAX_WAIT_SECONDS, NextAction, hint
from server.ids import check_id
from server.models import Plan, Schedule, ScheduleRun
from server.schedules.schemas import (
    ContentSourceInput,
    NextRun,
    OverlapPolicy,
    PlanTemplate,
    RunRead,
    RunStatus,
    RunTrigger,
    ScheduleRead,
    ScheduleSummary,
    WhenCondition,
)
from server.schedules.timing import DstPolicy, fire_time, next_times, zone

DEFAULT_CATCHUP_SECONDS = 3600


def load_schedule(
    session: Session, workspace_id: str, schedule_id: str, field: str = "id", *, lock: bool = False
) -> Schedule:
    check_id("schedule", schedule_id, field)
    query = select(Schedule).where(Schedule.id == schedule_id, Schedule.workspace_id == workspace_id)
    schedule = session.exec(query.with_for_update() if lock else query).first()
    if schedule is None:
        raise NotFound(
            f"No schedule {schedule_id} in this workspace.",
            field=field,
            next_action=hint("list_distribution_schedules", "List schedules to find the right id."),
        )
    return schedule


def local_time(when: datetime, timezone: str) -> str:
    return when.astimezone(zone(timezone)).isoformat()


def upcoming(schedule: Schedule, count: int) -> list[NextRun]:
    """The next nominal times not yet turned into runs (none while paused or once it ended)."""
    if schedule.paused or schedule.next_nominal_at is None:
        return []
    spec, tz = schedule.spec, schedule.spec.get("timezone") or "UTC"
    first = schedule.next_nominal_at.astimezone(UTC)
    times = [first, *next_times(spec, first, count - 1)]
    if schedule.remaining_runs is not None:
        times = times[: schedule.remaining_runs]
    return [
        NextRun(nominal_at=when, local_time=local_time(when, tz), fires_at=fire_time(schedule.id, spec, when))
        for when in times
    ]


def recent_runs(session: Session, schedule: Schedule, count: int) -> list[RunRead]:
    rows = session.exec(
        select(ScheduleRun, Plan.status)
        .join(Plan, col(Plan.id) == ScheduleRun.plan_id, isouter=True)
        .where(ScheduleRun.schedule_id == schedule.id)
        .order_by(col(ScheduleRun.nominal_at).desc(), col(ScheduleRun.id).desc())
        .limit(count)
    ).all()
    return [run_read(run, plan_status, schedule.spec.get("timezone") or "UTC") for run, plan_status in rows]


def run_read(run: ScheduleRun, plan_status: str | None, timezone: str) -> RunRead:
    return RunRead(
        id=run.id,
        nominal_at=run.nominal_at,
        local_time=local_time(run.nominal_at, timezone),
        due_at=run.due_at,
        trigger=RunTrigger(run.trigger),
        status=RunStatus(run.status),
        reason=run.reason,
        plan_id=run.plan_id,
        plan_status=plan_status,
        attempts=run.attempts,
        finished_at=run.finished_at,
    )


def schedule_read(session: Session, schedule: Schedule, runs: int = 10) -> ScheduleRead:
    spec, conditions = schedule.spec, schedule.conditions
    return ScheduleRead(
        id=schedule.id,
        name=schedule.name,
        cron=spec.get("cron"),
        interval_seconds=spec.get("intervalSeconds"),
        phase_seconds=spec.get("phaseSeconds"),
        timezone=spec.get("timezone") or "UTC",
        dst_policy=DstPolicy(spec.get("dstPolicy") or DstPolicy.VIXIE),
        start_at=spec.get("startAt"),
        end_at=spec.get("endAt"),
        jitter_seconds=spec.get("jitterSeconds") or 0,
        overlap=OverlapPolicy(schedule.overlap),
        catchup_window_seconds=int(schedule.catchup_window_seconds),
        remaining_runs=schedule.remaining_runs,
        plan=PlanTemplate.model_validate(schedule.template),
        content_source=ContentSourceInput.model_validate(schedule.content_source) if schedule.content_source else None,
        skip_if_unchanged=bool(conditions.get("skipIfUnchanged")),
        when=WhenCondition.model_validate(conditions["when"]) if conditions.get("when") else None,
        paused=schedule.paused,
        note=schedule.note,
        runs_started=schedule.runs_started,
        next_runs=upcoming(schedule, max(runs, 5)),
        recent_runs=recent_runs(session, schedule, runs),
        created_at=schedule.created_at,
        updated_at=schedule.updated_at,
    )


def schedule_summary(schedule: Schedule) -> ScheduleSummary:
    spec = schedule.spec
    return ScheduleSummary(
        id=schedule.id,
        name=schedule.name,
        cron=spec.get("cron"),
        interval_seconds=spec.get("intervalSeconds"),
        timezone=spec.get("timezone") or "UTC",
        paused=schedule.paused,
        next_run_at=None if schedule.paused else schedule.next_fire_at,
        runs_started=schedule.runs_started,
        created_at=schedule.created_at,
    )


def schedule_hint(read: ScheduleRead, now: datetime) -> NextAction:
    """What to do next about a schedule: resume it, look at its last run's plan or failure, or wait for the next."""
    if read.paused:
        return hint(
            "resume_distribution_schedule",
            f"The schedule is paused ({(read.note or 'no note').rstrip('.')}); resume it to run again "
            "(time spent paused is not caught up), or trigger one run now.",
            id=read.id,
        )
    last = read.recent_runs[0] if read.recent_runs else None
    if last is not None and last.status == RunStatus.FAILED:
        return hint(
            "update_distribution_schedule",
            f"The last run ({last.local_time}) failed: {(last.reason or 'no detail').rstrip('.')}; fix the "
            "schedule's contentSource or plan, then trigger it to try again.",
            id=read.id,
        )
    if last is not None and last.plan_id and last.plan_status is not None:
        from server.plans.hints import IN_PROGRESS

        if last.plan_status in IN_PROGRESS:
            return hint(
                "get_distribution_plan",
                "The latest run's plan is delivering; follow it.",
                after_seconds=2,
                id=last.plan_id,
            )
    if not read.next_runs:
        return hint(
            "update_distribution_schedule",
            "The schedule has no next run (past endAt or no remaining runs); extend it to run again.",
            id=read.id,
        )
    nxt = read.next_runs[0]
    wait = (nxt.fires_at - now).total_seconds()
    return hint(
        "get_distribution_schedule",
        f"Next run at {nxt.local_time} ({nxt.nominal_at:%Y-%m-%dT%H:%M:%SZ}); check its outcome then, or "
        "trigger_distribution_schedule to run it now.",
        after_seconds=min(max(round(wait, 1), 1.0), MAX_WAIT_SECONDS),
        id=read.id,
    )


def spec_of(fields: dict[str, Any]) -> dict[str, Any]:
    """The stored spec: the wire fields that say when (camelCase, JSON values), without the unset ones."""
    keys = ("cron", "intervalSeconds", "phaseSeconds", "timezone", "dstPolicy", "startAt", "endAt", "jitterSeconds")
    return {key: fields[key] for key in keys if fields.get(key) is not None}

"""Schedule operations: create, read, list, update, delete, pause, resume, trigger now, backfill a range.

A dry run writes like the real call and is rolled back by the pipeline, so it shows exactly the
schedule (and its next runs) the real call would make. Trigger and backfill insert their runs in the
operation's transaction and fire them after commit (``fire_after``), so the answer shows their plans.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from sqlmodel import Session, col, delete, select

from adapters import ConfigError
from adapters.http_client import check_url
from server.context import OpContext
from server.db import session_scope
from server.errors import Conflict, ValidationFailed
from server.hints import for_real, hint
from server.ids import new_id
from server.models import Plan, Schedule, ScheduleRun
from server.pagination import page
from server.plans.schemas import CreatePlanInput
from server.plans.service import _resolve_targets
from server.schedules import content as contents
from server.schedules import repository as repo
from server.schedules.firing import advance, fire_run, has_run, new_run
from server.schedules.schemas import (
    BackfillScheduleInput,
    CreateScheduleInput,
    ListSchedulesInput,
    OverlapPolicy,
    PauseScheduleInput,
    RunTrigger,
    ScheduleIdInput,
    ScheduleList,
    ScheduleMutationInput,
    SchedulePayload,
    ScheduleResult,
    TriggerScheduleInput,
    UpdateScheduleInput,
)
from server.schedules.timing import check_spec, nominal_times

MAX_BACKFILL_RUNS = 100
_JUST_BEFORE = timedelta(microseconds=1)
_SPEC_FIELDS = ("cron", "intervalSeconds", "phaseSeconds", "timezone", "dstPolicy", "startAt", "endAt", "jitterSeconds")
_CLEARABLE = (*_SPEC_FIELDS, "remainingRuns", "contentSource", "skipIfUnchanged", "when", "note")


def _now(ctx: OpContext) -> datetime:
    return ctx.runtime.clock.now().astimezone(UTC)


def _fields(data: Any) -> dict[str, Any]:
    return data.model_dump(mode="json", by_alias=True, exclude_none=True)


def _check(ctx: OpContext, session: Session, fields: dict[str, Any], template: dict[str, Any]) -> None:
    """Every refusal names its field: the spec, the content source and conditions, the plan template."""
    for key in ("startAt", "endAt"):
        if key in fields and datetime.fromisoformat(fields[key]).tzinfo is None:
            raise ValidationFailed(f"{key} needs a time zone, e.g. 2026-12-07T08:00:00+01:00.", field=key)
    check_spec(repo.spec_of(fields))
    source, when = fields.get("contentSource"), fields.get("when")
    if when is not None and source is None:
        raise ValidationFailed("when reads fetched JSON: give a contentSource (format json).", field="when")
    if when is not None:
        contents.compile_expression(when["jmespath"], "when.jmespath")
    if source is not None:
        contents.check_source(source, when)
        try:
            check_url(source["url"], ctx.runtime.settings.allowed_network_list, field="contentSource.url")
        except ConfigError as exc:
            raise ValidationFailed(exc.message, field=exc.field, code=exc.code) from None
    if template.get("content") is None and source is None:
        raise ValidationFailed(
            "Give the runs' content: plan.content (fixed) or contentSource (fetched at each run).",
            field="plan.content",
        )
    sample = template.get("content") or {"id": "sample", "version": "1", "title": "sample", "body": ""}
    data = CreatePlanInput.model_validate({**template, "content": sample})
    _resolve_targets(ctx, session, data)  # the targets exist, are active, the labels select some


def _apply(schedule: Schedule, fields: dict[str, Any], now: datetime) -> None:
    schedule.spec = repo.spec_of(fields)
    schedule.overlap = fields.get("overlap") or OverlapPolicy.SKIP
    schedule.catchup_window_seconds = float(fields.get("catchupWindowSeconds") or repo.DEFAULT_CATCHUP_SECONDS)
    schedule.remaining_runs = fields.get("remainingRuns")
    schedule.template = fields["plan"]
    schedule.content_source = fields.get("contentSource")
    schedule.conditions = {key: fields[key] for key in ("skipIfUnchanged", "when") if fields.get(key) is not None}
    schedule.updated_at = now
    # Nominal times before now are not run (a new or changed schedule starts from now, as Temporal's do).
    advance(schedule, now - _JUST_BEFORE)  # a nominal time equal to now still runs
    if schedule.remaining_runs == 0:
        schedule.next_nominal_at = schedule.next_fire_at = None


def _check_name_free(session: Session, workspace_id: str, name: str, exclude: str | None = None) -> None:
    query = select(Schedule.id).where(Schedule.workspace_id == workspace_id, Schedule.name == name)
    other = session.exec(query).first()
    if other is not None and other != exclude:
        raise Conflict(
            f"A schedule named {name!r} already exists ({other}).",
            field="name",
            next_action=hint("get_distribution_schedule", "Read the existing schedule.", id=other),
        )


def _payload(ctx: OpContext, session: Session, schedule: Schedule, dry_run: bool, reason: str) -> SchedulePayload:
    session.flush()
    read = repo.schedule_read(session, schedule)
    action = for_real(reason) if dry_run else repo.schedule_hint(read, _now(ctx))
    return SchedulePayload(schedule=read, recommended_next_action=action)


def create_schedule(ctx: OpContext, session: Session, data: CreateScheduleInput) -> SchedulePayload:
    now = _now(ctx)
    fields = _fields(data)
    template = fields["plan"]
    _check(ctx, session, fields, template)
    _check_name_free(session, ctx.workspace_id, data.name)
    schedule = Schedule(
        id=new_id("schedule"),
        workspace_id=ctx.workspace_id,
        name=data.name,
        paused=data.paused,
        note=data.note,
        created_by=ctx.principal.key_id,
        created_at=now,
    )
    _apply(schedule, fields, now)
    session.add(schedule)
    return _payload(
        ctx, session, schedule, data.dry_run, "The schedule is valid and its next runs are shown; create it."
    )


def get_schedule(ctx: OpContext, session: Session, data: ScheduleIdInput) -> ScheduleResult:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id)
    read = repo.schedule_read(session, schedule, data.runs)
    return ScheduleResult(schedule=read, recommended_next_action=repo.schedule_hint(read, _now(ctx)))


def list_schedules(ctx: OpContext, session: Session, data: ListSchedulesInput) -> ScheduleList:
    query = select(Schedule).where(Schedule.workspace_id == ctx.workspace_id)
    if data.paused is not None:
        query = query.where(col(Schedule.paused).is_(data.paused))
    rows, next_cursor = page(session, query, Schedule.id, data.limit, data.cursor, newest_first=True)
    action = (
        hint("list_distribution_schedules", "More schedules follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint("create_distribution_schedule", "All schedules listed.")
    )
    return ScheduleList(
        items=[repo.schedule_summary(row) for row in rows], next_cursor=next_cursor, recommended_next_action=action
    )


def update_schedule(ctx: OpContext, session: Session, data: UpdateScheduleInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    unknown = [name for name in data.clear if name not in _CLEARABLE]
    if unknown:
        raise ValidationFailed(
            f"clear cannot reset {', '.join(unknown)}; it resets any of {', '.join(_CLEARABLE)}.", field="clear"
        )
    now = _now(ctx)
    current: dict[str, Any] = {
        **schedule.spec,
        "overlap": schedule.overlap,
        "catchupWindowSeconds": int(schedule.catchup_window_seconds),
        "remainingRuns": schedule.remaining_runs,
        "plan": schedule.template,
        "contentSource": schedule.content_source,
        **schedule.conditions,
    }
    changes = _fields(data)
    for name in ("id", "clear", "name", "dryRun", "idempotencyKey"):
        changes.pop(name, None)
    if "cron" in changes:
        current.pop("intervalSeconds", None)
        current.pop("phaseSeconds", None)
    if "intervalSeconds" in changes:
        current.pop("cron", None)
    merged = {**current, **changes}
    for name in data.clear:
        merged.pop(name, None)
    if "note" in data.clear:
        schedule.note = None
    fields = {key: value for key, value in merged.items() if value is not None}
    _check(ctx, session, fields, fields["plan"])
    if data.name is not None:
        _check_name_free(session, ctx.workspace_id, data.name, exclude=schedule.id)
        schedule.name = data.name
    _apply(schedule, fields, now)
    session.add(schedule)
    return _payload(ctx, session, schedule, data.dry_run, "The update is valid; apply it.")


def delete_schedule(ctx: OpContext, session: Session, data: ScheduleMutationInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    if data.dry_run:
        read = repo.schedule_read(session, schedule)
        return SchedulePayload(
            schedule=read,
            recommended_next_action=for_real(
                "Delete for real: no further run; plans of earlier runs stay (with their scheduleId)."
            ),
        )
    session.execute(delete(ScheduleRun).where(col(ScheduleRun.schedule_id) == schedule.id))
    session.delete(schedule)
    return SchedulePayload(
        schedule=None,
        recommended_next_action=hint(
            "list_distribution_plans", "The schedule is deleted; plans of its runs remain, with their scheduleId."
        ),
    )


def pause_schedule(ctx: OpContext, session: Session, data: PauseScheduleInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    schedule.paused, schedule.note = True, data.note or f"paused by {ctx.principal.name}"
    schedule.updated_at = _now(ctx)
    session.add(schedule)
    return _payload(ctx, session, schedule, data.dry_run, "Pause for real; no scheduled run fires until resumed.")


def resume_schedule(ctx: OpContext, session: Session, data: ScheduleMutationInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    if not schedule.paused:
        raise Conflict(
            f"Schedule {schedule.id} is not paused.",
            field="id",
            next_action=hint("get_distribution_schedule", "Read its next runs.", id=schedule.id),
        )
    now = _now(ctx)
    schedule.paused, schedule.note, schedule.updated_at = False, None, now
    advance(schedule, now - _JUST_BEFORE)  # the time spent paused is not caught up
    if schedule.remaining_runs == 0:
        schedule.next_nominal_at = schedule.next_fire_at = None
    session.add(schedule)
    return _payload(ctx, session, schedule, data.dry_run, "Resume for real; the next run is shown.")


def trigger_schedule(ctx: OpContext, session: Session, data: TriggerScheduleInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    now = nominal = _now(ctx)
    while has_run(session, schedule.id, nominal):  # a scheduled run at this very instant: one millisecond on
        nominal += timedelta(milliseconds=1)
    run = new_run(schedule, nominal, now, trigger=RunTrigger.MANUAL, overlap=data.overlap)
    session.add(run)
    payload = _payload(ctx, session, schedule, data.dry_run, "Trigger for real: one run now, its plan follows.")
    return payload.model_copy(update={"runs": [repo.run_read(run, None, schedule.spec.get("timezone") or "UTC")]})


def backfill_schedule(ctx: OpContext, session: Session, data: BackfillScheduleInput) -> SchedulePayload:
    schedule = repo.load_schedule(session, ctx.workspace_id, data.id, lock=True)
    for name, value in (("startAt", data.start_at), ("endAt", data.end_at)):
        if value.tzinfo is None:
            raise ValidationFailed(f"{name} needs a time zone, e.g. 2026-12-07T08:00:00+01:00.", field=name)
    start, end = data.start_at.astimezone(UTC), data.end_at.astimezone(UTC)
    now = _now(ctx)
    if end < start or end > now:
        raise ValidationFailed(
            "Backfill a past range: startAt <= endAt <= now (future times run by themselves).", field="endAt"
        )
    times = []
    for nominal in nominal_times(schedule.spec, start - timedelta(microseconds=1)):
        if nominal > end:
            break
        times.append(nominal)
        if len(times) > MAX_BACKFILL_RUNS:
            raise ValidationFailed(
                f"The range holds more than {MAX_BACKFILL_RUNS} runs; backfill a shorter range at a time.",
                field="endAt",
            )
    existing = set(
        session.exec(
            select(ScheduleRun.nominal_at).where(
                ScheduleRun.schedule_id == schedule.id, col(ScheduleRun.nominal_at).in_(times)
            )
        ).all()
    )
    done = {when.astimezone(UTC) for when in existing}
    runs = [
        new_run(schedule, nominal, now, trigger=RunTrigger.BACKFILL, overlap=data.overlap)
        for nominal in times
        if nominal not in done
    ]
    session.add_all(runs)
    tz = schedule.spec.get("timezone") or "UTC"
    payload = _payload(
        ctx, session, schedule, data.dry_run, f"Backfill for real: {len(runs)} run(s), {len(done)} already ran."
    )
    if not runs and not data.dry_run:
        payload = payload.model_copy(
            update={
                "recommended_next_action": hint(
                    "get_distribution_schedule", "Every nominal time in the range already has a run.", id=schedule.id
                )
            }
        )
    return payload.model_copy(update={"runs": [repo.run_read(run, None, tz) for run in runs]})


async def fire_after(ctx: OpContext, data: Any, result: SchedulePayload) -> SchedulePayload:
    """After commit (trigger, backfill): fire the runs just made, in order, and answer with their outcome."""
    if not result.runs or result.schedule is None:
        return result
    schedule_id, run_ids = result.schedule.id, [run.id for run in result.runs]

    def fire() -> SchedulePayload:
        now = _now(ctx)
        for run_id in run_ids:
            fire_run(ctx.runtime, run_id, now)
        with session_scope(ctx.runtime.engine) as session:
            schedule = session.get(Schedule, schedule_id)
            assert schedule is not None
            read = repo.schedule_read(session, schedule)
            tz = read.timezone
            rows = session.exec(
                select(ScheduleRun, Plan.status)
                .join(Plan, col(Plan.id) == ScheduleRun.plan_id, isouter=True)
                .where(col(ScheduleRun.id).in_(run_ids))
                .order_by(col(ScheduleRun.nominal_at))
            ).all()
            runs = [repo.run_read(run, status, tz) for run, status in rows]
        fired = next((run for run in runs if run.plan_id), None)
        action = (
            hint("get_distribution_plan", "The run's plan is delivering; follow it.", after_seconds=2, id=fired.plan_id)
            if fired is not None
            else repo.schedule_hint(read, _now(ctx))
        )
        return result.model_copy(update={"schedule": read, "runs": runs, "recommended_next_action": action})

    return await anyio.to_thread.run_sync(fire)

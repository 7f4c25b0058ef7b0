"""Schedules (a plan template plus when to run it) and their runs, one per (schedule, nominal time)."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Schedule(SQLModel, table=True):
    __tablename__ = "distribution_schedules"
    __table_args__ = (
        UniqueConstraint("workspace_id", "name", name="uq_schedules_workspace_name"),
        # What the tick reads: active schedules by their next fire time.
        Index("ix_schedules_next_fire", "paused", "next_fire_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    # When: {cron | intervalSeconds, phaseSeconds, timezone, dstPolicy, startAt, endAt, jitterSeconds}.
    spec: dict[str, Any] = json_field()
    overlap: str = Field(default="skip", max_length=20)
    catchup_window_seconds: float = 3600.0
    remaining_runs: int | None = None
    # What: the create_distribution_plan input minus scheduling; where content comes from; when to skip.
    template: dict[str, Any] = json_field()
    content_source: dict[str, Any] | None = json_field(lambda: None)
    conditions: dict[str, Any] = json_field()
    paused: bool = Field(default=False)
    note: str | None = Field(default=None, max_length=500)
    # The next nominal time not yet turned into a run, and when it fires (nominal + jitter); NULL: no more.
    next_nominal_at: datetime | None = None
    next_fire_at: datetime | None = None
    runs_started: int = 0
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class ScheduleRun(SQLModel, table=True):
    """One nominal time of a schedule: fired (a plan), skipped (with its reason), buffered, failed."""

    __tablename__ = "schedule_runs"
    __table_args__ = (
        UniqueConstraint("schedule_id", "nominal_at", name="uq_schedule_runs_occurrence"),
        Index("ix_schedule_runs_status_due", "status", "due_at"),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    schedule_id: str = Field(foreign_key="distribution_schedules.id", index=True, max_length=40)
    nominal_at: datetime
    due_at: datetime  # nominal + jitter; a fetch retry moves it later
    trigger: str = Field(default="schedule", max_length=20)  # schedule | manual | backfill
    overlap: str | None = Field(default=None, max_length=20)  # a trigger's or backfill's override
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=500)
    plan_id: str | None = Field(default=None, max_length=40)
    content_hash: str | None = Field(default=None, max_length=64)
    attempts: int = 0
    lease_expires_at: datetime | None = None
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    finished_at: datetime | None = None

from datetime import datetime
from typing import Any

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Plan(SQLModel, table=True):
    __tablename__ = "distribution_plans"
    # A schedule's run is one plan per nominal time (NULLs, plans of no schedule, never collide).
    __table_args__ = (UniqueConstraint("schedule_id", "scheduled_for", name="uq_plans_schedule_occurrence"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    content: dict[str, Any] = json_field()
    content_hash: str = Field(max_length=64)
    target_ids: list[str] = json_field(list)
    policy: dict[str, Any] = json_field()
    # Who the plan addresses through its addressed targets, as asked (ids and labels).
    recipients: dict[str, Any] | None = json_field(lambda: None)
    scheduled_at: datetime | None = None
    status: str = Field(max_length=20, index=True)
    total_jobs: int = 0
    delivered_count: int = 0
    failed_count: int = 0
    dead_count: int = 0
    cancelled_count: int = 0
    skipped_count: int = 0
    # Failed or dead jobs handed over to a fallback job (counted in total_jobs): their outcome is the fallback's.
    fallback_count: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    idempotency_key: str | None = Field(default=None, max_length=200)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    completed_at: datetime | None = None
    schedule_id: str | None = Field(default=None, max_length=40, index=True)
    scheduled_for: datetime | None = None  # the schedule's nominal time this plan is the run of
    # {pausedTargets, withinSeconds}: the plan pauses itself when that many of its targets get rate-limited.
    halt_when: dict[str, Any] | None = json_field(lambda: None)
    paused_reason: str | None = Field(default=None, max_length=500)
    paused_at: datetime | None = None
    # {windowSeconds, minGapSeconds, …}: how the jobs' due times were spread (each job keeps its own).
    stagger: dict[str, Any] | None = json_field(lambda: None)
    # select: {pool, of, strategy, requested, picked, skipped}: who a plan picked from its pool and who it skipped.
    selection: dict[str, Any] | None = json_field(lambda: None)
    # {firstAttemptSuccessRate, deliveryRate, averageDeliverySeconds, completionWithinSeconds}: checked when it ends.
    kpi: dict[str, Any] | None = json_field(lambda: None)
    origin: str | None = Field(default=None, max_length=20)  # "alert": an alert rule's delivery (never alerts)

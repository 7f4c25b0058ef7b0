"""Jobs (one delivery of a plan to a target), their attempts and receipts."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, false, text
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Job(SQLModel, table=True):
    __tablename__ = "distribution_jobs"
    __table_args__ = (
        Index("ix_jobs_status_next_attempt", "status", "next_attempt_at"),
        Index("ix_jobs_content_target", "workspace_id", "content_key", "target_id"),
        # A plan's jobs in id order (a page of them, by keyset) without sorting every job of a large plan.
        Index("ix_jobs_plan_id_id", "plan_id", "id"),
        # Only jobs whose message is not sent yet (due beyond the enqueue horizon): what the scheduler tick reads.
        Index(
            "ix_jobs_unqueued",
            "next_attempt_at",
            sqlite_where=text("queued_for IS NOT next_attempt_at"),
            postgresql_where=text("queued_for IS DISTINCT FROM next_attempt_at"),
        ),
        # Only fallback jobs (a few): a plan's COPY adds no entry for each of its jobs, which have none.
        Index(
            "ix_jobs_fallback_of",
            "fallback_of",
            sqlite_where=text("fallback_of IS NOT NULL"),
            postgresql_where=text("fallback_of IS NOT NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    # The plan's workspace, copied from it (no foreign key: the plan's own checks it, and a 10,000-job plan
    # would pay a check per row for the one workspace).
    workspace_id: str = Field(max_length=40)
    plan_id: str = Field(foreign_key="distribution_plans.id", max_length=40)
    target_id: str = Field(foreign_key="distribution_targets.id", index=True, max_length=40)
    content_key: str = Field(max_length=300)
    # Set on a job of an addressed target: the recipient it reaches (one job per target and recipient). Not
    # indexed: no query looks jobs up by recipient (a recipient's deletion leaves its past jobs as they are).
    recipient_id: str | None = Field(default=None, max_length=40)
    # Which of the plan's content variations this job sends (None: the content itself).
    variation: int | None = None
    status: str = Field(max_length=20)
    attempts: int = 0
    retries_used: int = 0
    next_attempt_at: datetime | None = None
    # The due time the job's queue message was sent for; NULL while none is (beyond the enqueue horizon).
    queued_for: datetime | None = None
    lease_expires_at: datetime | None = None
    last_error: str | None = Field(default=None, max_length=1000)
    error_class: str | None = Field(default=None, max_length=20)
    skip_reason: str | None = Field(default=None, max_length=300)
    held_reason: str | None = Field(default=None, max_length=300)
    # The last attempt failed after its request was written (a timeout): the next one reconciles first.
    outcome_unknown: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    # The failed or dead job of the same plan this one was spawned for, on its target's fallback target.
    fallback_of: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()
    finished_at: datetime | None = None


class Attempt(SQLModel, table=True):
    __tablename__ = "delivery_attempts"
    __table_args__ = (Index("ix_attempts_target_started", "target_id", "started_at"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    job_id: str = Field(foreign_key="distribution_jobs.id", index=True, max_length=40)
    target_id: str = Field(max_length=40)
    number: int
    started_at: datetime
    duration_ms: float
    outcome: str = Field(max_length=20)
    status_code: int | None = None
    error_class: str | None = Field(default=None, max_length=20)
    error_code: str | None = Field(default=None, max_length=60)
    error: str | None = Field(default=None, max_length=1000)
    # What an outcome-unknown reconciliation found before this attempt: "found" (not sent again) or "not_found".
    reconciled: str | None = Field(default=None, max_length=20)


class Receipt(SQLModel, table=True):
    __tablename__ = "distribution_receipts"
    # A provider's status webhook finds its receipt by the provider's id (WhatsApp's wamid).
    __table_args__ = (Index("ix_receipts_target_external", "target_id", "external_id"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    job_id: str = Field(foreign_key="distribution_jobs.id", unique=True, max_length=40)
    plan_id: str = Field(index=True, max_length=40)
    target_id: str = Field(max_length=40)
    external_id: str | None = Field(default=None, max_length=300)
    delivered_at: datetime = created_field()
    response_meta: dict[str, Any] = json_field()
    # What the provider reported since (status webhooks): sent, delivered, read or failed; None: nothing yet.
    provider_status: str | None = Field(default=None, max_length=20)
    provider_status_at: datetime | None = None


class DeadLetter(SQLModel, table=True):
    """A job that exhausted its attempts, with a sanitized copy of its last request and response."""

    __tablename__ = "dead_letters"
    __table_args__ = (Index("ix_dead_letters_workspace_created", "workspace_id", "created_at"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    job_id: str = Field(foreign_key="distribution_jobs.id", unique=True, max_length=40)
    plan_id: str = Field(index=True, max_length=40)
    target_id: str = Field(index=True, max_length=40)
    error_class: str = Field(max_length=20)
    error: str | None = Field(default=None, max_length=1000)
    attempts: int
    request: dict[str, Any] = json_field()
    response: dict[str, Any] = json_field()
    created_at: datetime = created_field()
    replayed_at: datetime | None = None
    replay_count: int = 0

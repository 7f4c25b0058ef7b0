from datetime import datetime
from typing import Any

from sqlalchemy import Index, text
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class OperationalEvent(SQLModel, table=True):
    """Something an operator should know about: pauses, circuit changes, dead jobs, plan outcomes."""

    __tablename__ = "operational_events"
    __table_args__ = (
        Index("ix_events_workspace_created", "workspace_id", "created_at"),
        # Only events the alert tick has not looked at yet (server.alerts.dispatch).
        Index(
            "ix_events_undispatched",
            "id",
            sqlite_where=text("dispatched_at IS NULL"),
            postgresql_where=text("dispatched_at IS NULL"),
        ),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    type: str = Field(max_length=40, index=True)
    target_id: str | None = Field(default=None, max_length=40)
    plan_id: str | None = Field(default=None, max_length=40)
    job_id: str | None = Field(default=None, max_length=40)
    message: str = Field(max_length=500)
    data: dict[str, Any] = json_field()
    created_at: datetime = created_field()
    dispatched_at: datetime | None = None  # when the alert tick matched it against the alert rules

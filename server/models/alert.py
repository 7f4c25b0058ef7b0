"""Alert rules (which operational events are delivered through Herald, to which target) and their
per-subject rate state."""

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class AlertRule(SQLModel, table=True):
    __tablename__ = "alert_rules"

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    # Event types or patterns ("target.*", "*") and optional filters ({targetIds, targetLabels, planIds}).
    event_types: list[str] = json_field(list)
    filters: dict[str, Any] = json_field()
    target_id: str = Field(max_length=40)  # where the alert is delivered
    min_interval_seconds: int = Field(default=300)
    active: bool = Field(default=True)
    created_by: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()


class AlertSubjectState(SQLModel, table=True):
    """When a rule last alerted about one subject (a target, plan, job, or the workspace), and how many
    matching events it held back since."""

    __tablename__ = "alert_subject_states"

    rule_id: str = Field(foreign_key="alert_rules.id", primary_key=True, max_length=40)
    subject: str = Field(primary_key=True, max_length=60)
    last_sent_at: datetime
    suppressed: int = Field(default=0)

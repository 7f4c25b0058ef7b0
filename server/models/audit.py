from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class AuditEvent(SQLModel, table=True):
    __tablename__ = "audit_events"

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    principal: str = Field(max_length=200)
    operation: str = Field(max_length=80)
    input: dict[str, Any] = json_field()
    outcome: str = Field(max_length=20)
    error_code: str | None = Field(default=None, max_length=60)
    request_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()

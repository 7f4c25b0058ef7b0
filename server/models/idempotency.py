from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field


class IdempotencyRecord(SQLModel, table=True):
    __tablename__ = "idempotency_records"
    __table_args__ = (UniqueConstraint("workspace_id", "key", name="uq_idempotency_workspace_key"),)

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    key: str = Field(max_length=200)
    operation: str = Field(max_length=80)
    request_hash: str = Field(max_length=64)
    state: str = Field(max_length=20)
    response_blob: bytes | None = None
    created_at: datetime = created_field()
    locked_until: datetime
    expires_at: datetime = Field(index=True)

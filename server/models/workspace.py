from datetime import datetime
from typing import Protocol

from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Workspace(SQLModel, table=True):
    __tablename__ = "workspaces"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    halted: bool = Field(default=False)
    created_at: datetime = created_field()


class WorkspaceState(Protocol):
    """What the claim's holds read of a workspace: an ORM ``Workspace`` or a plain read-only row."""

    @property
    def halted(self) -> bool: ...


class ApiKey(SQLModel, table=True):
    __tablename__ = "api_keys"

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    prefix: str = Field(max_length=24)
    key_hash: str = Field(unique=True, max_length=64)
    scopes: list[str] = json_field(list)
    read_only: bool = Field(default=False)
    created_at: datetime = created_field()
    last_used_at: datetime | None = None
    revoked_at: datetime | None = None

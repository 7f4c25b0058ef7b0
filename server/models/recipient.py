"""Recipients (people or endpoints reached through an addressed target) and what plans keep about them."""

from datetime import datetime
from typing import Any

from sqlalchemy import Index, LargeBinary, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Recipient(SQLModel, table=True):
    __tablename__ = "recipients"
    __table_args__ = (
        UniqueConstraint("workspace_id", "external_id", name="uq_recipients_workspace_external_id"),
        Index("ix_recipients_workspace_id_id", "workspace_id", "id"),
    )

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    external_id: str | None = Field(default=None, max_length=200)
    name: str | None = Field(default=None, max_length=200)
    # channel name -> address on that channel (email address, E.164 number, chat id, …)
    addresses: dict[str, Any] = json_field()
    attributes: dict[str, Any] = json_field()
    timezone: str | None = Field(default=None, max_length=64)
    labels: list[str] = json_field(list)
    # channel names this recipient unsubscribed from
    unsubscribed: list[str] = json_field(list)
    # channel name -> ISO time its address on that channel hard-bounced
    bounced_at: dict[str, Any] = json_field()
    active: bool = Field(default=True)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class PlanRecipientContent(SQLModel, table=True):
    """A plan's per-recipient content override (``recipientContent``): read per claimed batch, never per plan."""

    __tablename__ = "plan_recipient_content"

    plan_id: str = Field(foreign_key="distribution_plans.id", primary_key=True, max_length=40)
    recipient_id: str = Field(primary_key=True, max_length=40)
    content: dict[str, Any] = json_field()


class PlanAttachment(SQLModel, table=True):
    """A plan's attachment bytes, stored once per plan (never copied into job rows)."""

    __tablename__ = "plan_attachments"

    plan_id: str = Field(foreign_key="distribution_plans.id", primary_key=True, max_length=40)
    position: int = Field(primary_key=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=200)
    size: int
    sha256: str = Field(max_length=64)
    source_url: str | None = Field(default=None, max_length=2000)
    data: bytes = Field(sa_type=LargeBinary)

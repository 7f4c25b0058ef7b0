"""Feed entries: what a ``feed`` target serves, one row per (target, content id)."""

from datetime import datetime

from sqlalchemy import Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field


class FeedEntryRow(SQLModel, table=True):
    __tablename__ = "feed_entries"
    __table_args__ = (
        UniqueConstraint("target_id", "content_id", name="uq_feed_entries_target_content"),
        Index("ix_feed_entries_target_updated", "target_id", "updated_at"),
    )

    id: str = Field(primary_key=True, max_length=60)  # the entry's stable urn:uuid (guid, Atom id)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    target_id: str = Field(foreign_key="distribution_targets.id", max_length=40)
    content_id: str = Field(max_length=200)
    version: str = Field(max_length=100)
    title: str = Field(max_length=500)
    body: str = Field(sa_type=Text)
    summary: str | None = Field(default=None, sa_type=Text)
    url: str | None = Field(default=None, max_length=2000)
    plan_id: str = Field(max_length=40)  # the plan whose delivery wrote this version
    plan_created_at: datetime | None = None  # a delivery of an older plan never overwrites a newer one's version
    published_at: datetime = created_field()
    updated_at: datetime = created_field()

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field


class SelectionPool(SQLModel, table=True):
    """The persisted fairness state of a group plans pick from (``select`` on a plan); its row is the lock."""

    __tablename__ = "selection_pools"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_selection_pools_workspace_name"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", max_length=40)
    name: str = Field(max_length=200)
    of: str = Field(max_length=20)  # targets or recipients
    pointer: int = 0  # round_robin: the tier the next plan starts at
    sequence: int = 0  # picks made so far: each pick is numbered, "least recent" compares the numbers
    version: int = 0  # plans that picked from the pool
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class SelectionMember(SQLModel, table=True):
    """One member's state in a pool: when it was last picked and how often."""

    __tablename__ = "selection_members"

    pool_id: str = Field(foreign_key="selection_pools.id", primary_key=True, max_length=40)
    member_id: str = Field(primary_key=True, max_length=40)
    last_picked_at: datetime
    last_sequence: int
    picks: int = 0


class SelectionPick(SQLModel, table=True):
    """Every pick: what capPerPeriod counts and what dedupe (the same content id) looks up."""

    __tablename__ = "selection_picks"
    __table_args__ = (
        Index("ix_selection_picks_pool_member_at", "pool_id", "member_id", "picked_at"),
        Index("ix_selection_picks_workspace_content", "workspace_id", "content_id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    workspace_id: str = Field(max_length=40)
    pool_id: str = Field(foreign_key="selection_pools.id", max_length=40)
    member_id: str = Field(max_length=40)
    content_id: str = Field(max_length=200)
    plan_id: str = Field(max_length=40)
    picked_at: datetime

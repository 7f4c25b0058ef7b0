from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from server.models.base import created_field, json_field


class Target(SQLModel, table=True):
    __tablename__ = "distribution_targets"
    __table_args__ = (UniqueConstraint("workspace_id", "name", name="uq_targets_workspace_name"),)

    id: str = Field(primary_key=True, max_length=40)
    workspace_id: str = Field(foreign_key="workspaces.id", index=True, max_length=40)
    name: str = Field(max_length=200)
    channel: str = Field(max_length=40)
    config: dict[str, Any] = json_field()
    credentials_blob: bytes | None = None
    labels: list[str] = json_field(list)
    active: bool = Field(default=True)
    retry_policy: dict[str, Any] | None = json_field(lambda: None)
    paused_until: datetime | None = None
    pause_reason: str | None = Field(default=None, max_length=500)
    consecutive_rate_limits: int = Field(default=0)
    rate_limit: dict[str, Any] | None = json_field(lambda: None)
    policy: dict[str, Any] | None = json_field(lambda: None)
    max_concurrency: int | None = None
    circuit_state: str = Field(default="closed", max_length=20, sa_column_kwargs={"server_default": "closed"})
    circuit_until: datetime | None = None
    circuit_reason: str | None = Field(default=None, max_length=500)
    circuit_changed_at: datetime | None = None
    circuit_probe_job_id: str | None = Field(default=None, max_length=40)
    # A job that ends failed or dead here spawns one job on this target (chains of at most 3 targets, no cycles).
    fallback_target_id: str | None = Field(default=None, max_length=40)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class TargetState(Protocol):
    """What holds, limits, the circuit gate and the target view read of a target: an ORM ``Target`` or a
    plain read-only row of its columns (the batched claim path reads rows)."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def channel(self) -> str: ...
    @property
    def config(self) -> dict[str, Any]: ...
    @property
    def credentials_blob(self) -> bytes | None: ...
    @property
    def retry_policy(self) -> dict[str, Any] | None: ...
    @property
    def paused_until(self) -> datetime | None: ...
    @property
    def pause_reason(self) -> str | None: ...
    @property
    def rate_limit(self) -> dict[str, Any] | None: ...
    @property
    def max_concurrency(self) -> int | None: ...
    @property
    def circuit_state(self) -> str: ...
    @property
    def circuit_until(self) -> datetime | None: ...
    @property
    def circuit_reason(self) -> str | None: ...
    @property
    def circuit_probe_job_id(self) -> str | None: ...

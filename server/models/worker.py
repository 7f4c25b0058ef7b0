from datetime import datetime

from sqlmodel import Field, SQLModel

from server.models.base import created_field


class WorkerHeartbeat(SQLModel, table=True):
    """One row per running delivery worker (a `herald worker` process, or the embedded one of `herald serve`)."""

    __tablename__ = "worker_heartbeats"

    id: str = Field(primary_key=True, max_length=40)
    host: str = Field(max_length=255)
    pid: int
    mode: str = Field(max_length=20)  # redis or embedded
    started_at: datetime = created_field()
    beat_at: datetime = Field(index=True)
    last_claim_at: datetime | None = None
    batches: int = 0

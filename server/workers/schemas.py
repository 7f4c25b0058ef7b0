from __future__ import annotations

from datetime import datetime

from pydantic import Field

from server.hints import NextAction
from server.wire import Id, WireModel


class ListWorkersInput(WireModel):
    include_gone: bool = Field(False, description="Also list workers that stopped beating within the last hour.")


class WorkerRead(WireModel):
    id: Id = Field(description="Worker id (wkr_…); its start log line names its host and pid.")
    mode: str = Field(description="redis (a `herald worker` process) or embedded (inside `herald serve`).")
    alive: bool = Field(description="Whether it beat within the last three heartbeat intervals.")
    started_at: datetime
    last_beat_at: datetime
    last_claim_at: datetime | None = Field(description="When it last took a batch of jobs; null if never.")
    batches: int = Field(description="Batches it has taken since it started.")


class WorkerStatusResult(WireModel):
    alive: int = Field(description="How many workers are alive now.")
    workers: list[WorkerRead]
    recommended_next_action: NextAction

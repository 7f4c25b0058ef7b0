"""Worker heartbeats: which delivery workers are alive and when each last took a batch.

Every worker (a `herald worker` process, or the embedded one of `herald serve`) writes its row every
``HERALD_WORKER_HEARTBEAT_SECONDS``; one that missed ``MISSED_BEATS`` beats counts as gone. The database
holds them, so both modes (SQLite embedded, PostgreSQL + Redis) answer the same way, and `/healthz`, the
``workers`` operation and a waiting plan's ``heldReason`` read the same rows.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select

from server.config import Settings
from server.db import session_scope
from server.ids import new_id
from server.models import WorkerHeartbeat
from server.models.base import utcnow

MISSED_BEATS = 3
# Rows of workers gone this long are deleted by the next beat of any worker.
FORGET_AFTER = timedelta(hours=1)
# How a job's ``heldReason`` starts while no worker is alive to deliver it (Redis mode).
HELD_BY_NO_WORKER = "no live delivery worker: "
NO_WORKER_REMEDY = (
    "start one with `herald worker` (same HERALD_REDIS_URL, HERALD_DATABASE_URL and HERALD_SECRET_KEYS as the server)"
)


@dataclass
class WorkerStats:
    """What a worker process keeps in memory between beats (its batches are counted without a write each)."""

    id: str
    mode: str
    started_at: datetime
    last_claim_at: datetime | None = None
    batches: int = 0

    @classmethod
    def new(cls, mode: str) -> WorkerStats:
        return cls(id=new_id("worker"), mode=mode, started_at=utcnow())

    def claimed(self) -> None:
        self.last_claim_at = utcnow()
        self.batches += 1


def beat(engine: Engine, stats: WorkerStats) -> None:
    now = utcnow()
    with session_scope(engine) as session:
        row = session.get(WorkerHeartbeat, stats.id)
        if row is None:
            row = WorkerHeartbeat(
                id=stats.id, host=socket.gethostname()[:255], pid=os.getpid(), mode=stats.mode,
                started_at=stats.started_at, beat_at=now,
            )  # fmt: skip
        row.beat_at, row.last_claim_at, row.batches = now, stats.last_claim_at, stats.batches
        session.add(row)
        session.exec(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.beat_at) < now - FORGET_AFTER))


def forget(engine: Engine, worker_id: str) -> None:
    """A worker stopping cleanly says so at once, instead of being missed for three beats."""
    with session_scope(engine) as session:
        session.exec(delete(WorkerHeartbeat).where(col(WorkerHeartbeat.id) == worker_id))


def alive_since(settings: Settings, now: datetime | None = None) -> datetime:
    return (now or utcnow()) - timedelta(seconds=settings.worker_heartbeat_seconds * MISSED_BEATS)


def workers(session: Session, settings: Settings) -> list[tuple[WorkerHeartbeat, bool]]:
    """Every worker seen within ``FORGET_AFTER``, newest first, each with whether it is alive."""
    cutoff = alive_since(settings)
    rows = session.exec(select(WorkerHeartbeat).order_by(col(WorkerHeartbeat.started_at).desc())).all()
    return [(row, aware(row.beat_at) >= cutoff) for row in rows]


def live_count(session: Session, settings: Settings) -> int:
    return sum(1 for _, alive in workers(session, settings) if alive)


def no_worker_reason(session: Session, settings: Settings) -> str | None:
    """Why due jobs are not being delivered, in Redis mode with no worker alive; None otherwise.

    An embedded server is its own worker: when it answers, it delivers.
    """
    if settings.embedded or live_count(session, settings):
        return None
    return f"{HELD_BY_NO_WORKER}{NO_WORKER_REMEDY}"


def aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)

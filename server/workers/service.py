"""The ``workers`` operation: the heartbeats every delivery worker writes (``server.jobs.workers``)."""

from __future__ import annotations

from sqlmodel import Session

from server.context import OpContext
from server.hints import done, hint
from server.jobs import workers
from server.workers.schemas import ListWorkersInput, WorkerRead, WorkerStatusResult

# How soon to look again after starting a worker (it beats at once when it starts).
RECHECK_SECONDS = 5.0


def list_workers(ctx: OpContext, session: Session, data: ListWorkersInput) -> WorkerStatusResult:
    settings = ctx.runtime.settings
    seen = workers.workers(session, settings)
    shown = [
        WorkerRead(
            id=row.id,
            mode=row.mode,
            alive=alive,
            started_at=workers.aware(row.started_at),
            last_beat_at=workers.aware(row.beat_at),
            last_claim_at=workers.aware(row.last_claim_at) if row.last_claim_at else None,
            batches=row.batches,
        )
        for row, alive in seen
        if alive or data.include_gone
    ]
    alive = sum(1 for _, is_alive in seen if is_alive)
    if alive == 0 and not settings.embedded:
        action = hint(
            "list_workers",
            f"No delivery worker is alive, so nothing is delivered; {workers.NO_WORKER_REMEDY}, then check again.",
            after_seconds=RECHECK_SECONDS,
        )
    else:
        action = done(f"{alive} delivery worker(s) alive.")
    return WorkerStatusResult(alive=alive, workers=shown, recommended_next_action=action)

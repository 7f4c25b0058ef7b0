"""Actors are a few lines: the delivery engine is plain code in ``server.delivery``."""

from __future__ import annotations

from collections.abc import Callable

import dramatiq

from server.delivery.engine import process_jobs
from server.runtime import Runtime
from tasks.broker import QUEUE


def declare_deliver_jobs(
    broker: dramatiq.Broker, rt: Runtime, on_batch: Callable[[], None] | None = None
) -> dramatiq.Actor:
    def deliver_jobs(job_ids: list[str]) -> None:
        if on_batch is not None:
            on_batch()
        process_jobs(rt, job_ids)

    # Retries live in the database (attempts, backoff, dead letters), never in the broker.
    return dramatiq.Actor(
        deliver_jobs,
        broker=broker,
        actor_name="deliver_jobs",
        queue_name=QUEUE,
        priority=0,
        options={"max_retries": 0, "time_limit": 300_000},
    )

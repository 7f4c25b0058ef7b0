"""Broker setup: Redis in production, Dramatiq's in-memory broker for the embedded worker."""

from __future__ import annotations

from datetime import datetime

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker

from server.config import Settings
from server.models.base import utcnow

QUEUE = "deliveries"


def make_broker(settings: Settings) -> dramatiq.Broker:
    if settings.redis_url:
        return RedisBroker(url=settings.redis_url, namespace=f"{settings.redis_namespace}:dramatiq")
    return StubBroker()


class DramatiqQueue:
    """The ``JobQueue`` the core sends to: messages carry job ids only."""

    def __init__(self, actor: dramatiq.Actor, jobs_per_message: int) -> None:
        self._actor = actor
        self._batch = jobs_per_message

    def backlog(self) -> int:
        broker = self._actor.broker
        if isinstance(broker, RedisBroker):
            return int(broker.client.llen(f"{broker.namespace}:{QUEUE}"))
        return broker.queues[QUEUE].qsize() if QUEUE in broker.queues else 0

    def enqueue(self, job_ids: list[str], eta: datetime | None = None) -> None:
        delay_ms = None
        if eta is not None:
            delay_ms = max(int((eta - utcnow()).total_seconds() * 1000), 0) or None
        for start in range(0, len(job_ids), self._batch):
            self._actor.send_with_options(args=(job_ids[start : start + self._batch],), delay=delay_ms)

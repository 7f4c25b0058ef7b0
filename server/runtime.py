"""The assembled runtime: settings, database, secrets, event bus and the job queue.

The queue is injected (``tasks`` builds it), so the core never imports the broker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from adapters.transport import OutboundHttpClient
from server.config import Settings
from server.crypto import SecretBox, load_secret_box
from server.db import make_engine
from server.delivery.limits import Limiter, LocalLimiter, RedisLimiter
from server.events import EventBus, InProcessEventBus, RedisEventBus

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    def enqueue(self, job_ids: list[str], eta: datetime | None = None) -> None: ...

    def backlog(self) -> int:
        """Messages waiting to be consumed (0 when unknown)."""
        ...


class NullQueue:
    """Used by processes that only read (and by the CLI): enqueueing is left to the sweeper."""

    def enqueue(self, job_ids: list[str], eta: datetime | None = None) -> None:
        log.debug("no queue attached; %d job(s) left for the sweeper", len(job_ids))

    def backlog(self) -> int:
        return 0


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    box: SecretBox
    events: EventBus
    limiter: Limiter = field(default_factory=LocalLimiter)
    queue: JobQueue = field(default_factory=NullQueue)
    _http: OutboundHttpClient | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def http(self) -> OutboundHttpClient:
        """The one outbound client of the process, started on first use; worker threads share it,
        and the delivery engine runs its batches on its event loop."""
        with self._lock:
            if self._http is None:
                self._http = OutboundHttpClient(
                    allowed_networks=self.settings.allowed_network_list,
                    timeout_seconds=self.settings.delivery_timeout_seconds,
                )
            return self._http

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
        self.events.close()
        self.engine.dispose()


def build_runtime(settings: Settings) -> Runtime:
    if settings.redis_url:
        events: EventBus = RedisEventBus(settings.redis_url, settings.redis_namespace)
        limiter: Limiter = RedisLimiter(settings.redis_url, settings.redis_namespace)
    else:
        events, limiter = InProcessEventBus(), LocalLimiter()
    return Runtime(
        settings=settings, engine=make_engine(settings), box=load_secret_box(settings), events=events, limiter=limiter
    )

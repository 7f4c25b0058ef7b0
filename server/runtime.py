"""The assembled runtime: settings, database, secrets, event bus, the job queue, the delivery loop and metrics.

The queue is injected (``tasks`` builds it), so the core never imports the broker.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from sqlalchemy import Engine

from server.clock import Clock, SystemClock
from server.config import Settings
from server.crypto import SecretBox, load_secret_box
from server.db import make_engine
from server.delivery.limits import Limiter, LocalLimiter, RedisLimiter
from server.delivery.loop import DeliveryLoop, channel_io
from server.delivery.views import TargetViews
from server.events import EventBus, InProcessEventBus, RedisEventBus
from server.feeds.store import SqlFeedStore
from server.metrics.instruments import Metrics

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
    clock: Clock = field(default_factory=SystemClock)  # what schedules read as now; tests step a TestClock
    metrics: Metrics = field(default_factory=Metrics)  # this process's counters (``server.metrics``)
    _delivery_loop: DeliveryLoop | None = None
    _target_views: TargetViews | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def delivery_loop(self) -> DeliveryLoop:
        """The process's delivery loop and its ChannelIO, started on first use; worker threads share it."""
        with self._lock:
            if self._delivery_loop is None:
                allowed, timeout = self.settings.allowed_network_list, self.settings.delivery_timeout_seconds
                feeds = SqlFeedStore(self.engine, self.settings.public_base_url)
                self._delivery_loop = DeliveryLoop(lambda: channel_io(allowed, timeout, feeds=feeds))
            return self._delivery_loop

    @property
    def target_views(self) -> TargetViews:
        """The process's cache of decrypted target views (server/delivery/views.py)."""
        with self._lock:
            if self._target_views is None:
                self._target_views = TargetViews(self.settings.target_view_cache_size)
            return self._target_views

    def close(self) -> None:
        if self._delivery_loop is not None:
            self._delivery_loop.close()
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

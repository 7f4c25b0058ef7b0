"""A delivery worker: Dramatiq worker threads, the sweeper and the scheduler tick, own process or embedded."""

from __future__ import annotations

import logging
import threading

import dramatiq

from server import idempotency
from server.deadletters.service import enforce_retention
from server.jobs.scheduler import tick
from server.jobs.sweeper import sweep
from server.runtime import Runtime
from server.schedules.firing import tick_schedules
from tasks.actors import declare_deliver_jobs
from tasks.broker import DramatiqQueue, make_broker

log = logging.getLogger(__name__)


class DeliveryWorker:
    def __init__(self, rt: Runtime, consume: bool = True) -> None:
        self.rt = rt
        self.consume = consume
        self.broker = make_broker(rt.settings)
        self.actor = declare_deliver_jobs(self.broker, rt)
        rt.queue = DramatiqQueue(self.actor, rt.settings.jobs_per_message)
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._scheduler: threading.Thread | None = None

    def start(self) -> None:
        if not self.consume:
            return
        settings = self.rt.settings
        self._worker = dramatiq.Worker(
            self.broker, worker_threads=settings.worker_threads, worker_timeout=settings.worker_poll_ms
        )
        self._worker.start()
        if self.rt.settings.embedded:
            sweep(self.rt, grace_seconds=0)  # the in-memory queue starts empty: recover what is due
        self._sweeper = threading.Thread(target=self._sweep_forever, name="herald-sweeper", daemon=True)
        self._sweeper.start()
        self._scheduler = threading.Thread(target=self._tick_forever, name="herald-scheduler", daemon=True)
        self._scheduler.start()
        log.info(
            "delivery worker started (%d threads, %s)",
            self.rt.settings.worker_threads,
            "embedded" if self.rt.settings.embedded else "redis",
        )

    def _sweep_forever(self) -> None:
        ticks = 0
        while not self._stop.wait(self.rt.settings.sweep_interval_seconds):
            try:
                sweep(self.rt)
                ticks += 1
                if ticks % 100 == 0:
                    idempotency.purge_expired(self.rt)
                    enforce_retention(self.rt)
            except Exception:
                log.exception("sweeper tick failed; next tick in %.0fs", self.rt.settings.sweep_interval_seconds)

    def _tick_forever(self) -> None:
        """Jobs come due within the enqueue horizon whatever the backlog: a thread of its own, beside the sweeper."""
        interval = self.rt.settings.scheduler_tick_seconds
        while True:
            try:
                tick(self.rt)
            except Exception:
                log.exception("scheduler tick failed; next tick in %gs", interval)
            try:
                tick_schedules(self.rt)  # due schedule runs become plans, once each across all workers
            except Exception:
                log.exception("schedule tick failed; next tick in %gs", interval)
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()
        for thread in (self._sweeper, self._scheduler):
            if thread is not None:
                thread.join(timeout=5)
        self.broker.close()

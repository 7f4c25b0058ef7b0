"""A delivery worker: Dramatiq worker threads, the sweeper and the scheduler tick, own process or embedded."""

from __future__ import annotations

import logging
import os
import socket
import threading

import dramatiq

from server import idempotency
from server.alerts.dispatch import tick_alerts
from server.deadletters.service import enforce_retention
from server.jobs import workers
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
        self.stats = workers.WorkerStats.new("embedded" if rt.settings.embedded else "redis")
        self.actor = declare_deliver_jobs(self.broker, rt, on_batch=self.stats.claimed)
        rt.queue = DramatiqQueue(self.actor, rt.settings.jobs_per_message)
        self._worker: dramatiq.Worker | None = None
        self._stop = threading.Event()
        self._sweeper: threading.Thread | None = None
        self._scheduler: threading.Thread | None = None
        self._heart: threading.Thread | None = None

    def start(self) -> None:
        if not self.consume:
            return
        settings = self.rt.settings
        self._worker = dramatiq.Worker(
            self.broker, worker_threads=settings.worker_threads, worker_timeout=settings.worker_poll_ms
        )
        self._worker.start()
        workers.beat(self.rt.engine, self.stats)  # alive from the first moment, not one interval later
        self._heart = threading.Thread(target=self._beat_forever, name="herald-heartbeat", daemon=True)
        self._heart.start()
        if self.rt.settings.embedded:
            sweep(self.rt, grace_seconds=0)  # the in-memory queue starts empty: recover what is due
        self._sweeper = threading.Thread(target=self._sweep_forever, name="herald-sweeper", daemon=True)
        self._sweeper.start()
        self._scheduler = threading.Thread(target=self._tick_forever, name="herald-scheduler", daemon=True)
        self._scheduler.start()
        log.info(
            "delivery worker %s started on %s (pid %d, %d threads, %s)",
            self.stats.id,
            socket.gethostname(),
            os.getpid(),
            self.rt.settings.worker_threads,
            self.stats.mode,
            extra={"worker_id": self.stats.id},
        )

    def _beat_forever(self) -> None:
        interval = self.rt.settings.worker_heartbeat_seconds
        while not self._stop.wait(interval):
            try:
                workers.beat(self.rt.engine, self.stats)
            except Exception:
                log.exception("heartbeat failed; next one in %gs", interval)

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
            try:
                tick_alerts(self.rt)  # operational events matching an alert rule become alert plans
            except Exception:
                log.exception("alert tick failed; next tick in %gs", interval)
            if self._stop.wait(interval):
                return

    def stop(self) -> None:
        self._stop.set()
        if self._worker is not None:
            self._worker.stop()
        for thread in (self._sweeper, self._scheduler, self._heart):
            if thread is not None:
                thread.join(timeout=5)
        if self._heart is not None:
            try:
                workers.forget(self.rt.engine, self.stats.id)
            except Exception:
                log.exception("could not remove the heartbeat of %s; it ages out", self.stats.id)
        self.broker.close()

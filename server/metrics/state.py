"""Gauges read from the database and the queue when Prometheus scrapes the server (never by a worker:
every process would report the same totals, and a sum over the scrape would count them twice).

Three grouped queries: jobs by status (the ``ix_jobs_status_next_attempt`` index starts with the status),
and one pass over the targets for pauses and circuits.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import case, func
from sqlmodel import col, select

from server.db import session_scope
from server.jobs.status import JobStatus
from server.models import Job, Target
from server.models.base import utcnow
from server.runtime import Runtime

CIRCUIT_STATES = ("open", "half_open")


def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
    return (
        GaugeMetricFamily("herald_jobs", "Jobs by status.", labels=["status"]),
        GaugeMetricFamily("herald_targets_paused", "Targets paused now (after a 429, or by an operator)."),
        GaugeMetricFamily("herald_target_circuits", "Targets whose circuit is not closed, by state.", labels=["state"]),
        GaugeMetricFamily("herald_queue_depth", "Queue messages waiting for a worker (Redis, or the embedded queue)."),
    )


class StateCollector(Collector):
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield from _families()  # registering must not query the database

    def collect(self) -> Iterator[GaugeMetricFamily]:
        jobs, paused, circuits, queue = _families()
        with session_scope(self.rt.engine) as session:
            counts = dict(session.exec(select(Job.status, func.count()).group_by(Job.status)).all())
            now = utcnow()
            is_paused = case((col(Target.paused_until) > now, 1), else_=0)
            by_circuit = session.exec(
                select(Target.circuit_state, func.count(), func.sum(is_paused)).group_by(Target.circuit_state)
            ).all()
        for status in JobStatus:
            jobs.add_metric([status.value], counts.get(status.value, 0))
        paused.add_metric([], sum(int(pauses or 0) for _, _, pauses in by_circuit))
        open_by_state = {state: count for state, count, _ in by_circuit}
        for state in CIRCUIT_STATES:
            circuits.add_metric([state], open_by_state.get(state, 0))
        queue.add_metric([], self.rt.queue.backlog())
        yield from (jobs, paused, circuits, queue)

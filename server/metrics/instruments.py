"""The metrics a process counts as it works, in a registry of its own (one per runtime, so one per process).

Every process that delivers counts its own attempts: the server (embedded worker) shows them on
``/metrics``, a ``herald worker`` on its metrics port (``HERALD_WORKER_METRICS_PORT``). Summed over the
scrape of server and workers, each attempt is counted once. The README lists every metric.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

# Seconds: from a loopback receiver's few milliseconds to the default 10 s delivery timeout.
ATTEMPT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.deliveries = Counter(
            "herald_deliveries",
            "Delivery attempts recorded, by channel and outcome (delivered, transient, rate_limited, permanent, "
            "systemic, bounced).",
            ["channel", "outcome"],
            registry=self.registry,
        )
        self.attempt_seconds = Histogram(
            "herald_attempt_duration_seconds",
            "How long one delivery attempt took (render and send), by channel.",
            ["channel"],
            buckets=ATTEMPT_BUCKETS,
            registry=self.registry,
        )
        self.retries = Counter(
            "herald_retries",
            "Failed attempts whose job waits to be tried again, by the error class of the failure.",
            ["error_class"],
            registry=self.registry,
        )
        self.schedule_runs = Counter(
            "herald_schedule_runs",
            "Schedule runs that ended, by outcome (fired, skipped, failed).",
            ["outcome"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str], tuple[Counter, Histogram]] = {}

    def attempt(self, channel: str, outcome: str, seconds: float) -> None:
        children = self._children.get((channel, outcome))
        if children is None:  # ``labels()`` takes a lock and builds a key: once per channel and outcome
            children = self.deliveries.labels(channel, outcome), self.attempt_seconds.labels(channel)
            self._children[(channel, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)

    def retry(self, error_class: str) -> None:
        self.retries.labels(error_class).inc()

    def schedule_run(self, outcome: str, count: int = 1) -> None:
        self.schedule_runs.labels(outcome).inc(count)

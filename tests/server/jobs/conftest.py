"""A runtime whose queue records what is sent (no broker), on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from server.runtime import Runtime
from tests.support import factories, services

HORIZON_SECONDS = 60.0


class Recorder:
    """The queue: every message sent, as (job ids, eta)."""

    def __init__(self) -> None:
        self.sent: list[tuple[list[str], datetime | None]] = []
        self._lock = threading.Lock()

    def enqueue(self, job_ids: list[str], eta: datetime | None = None) -> None:
        with self._lock:
            self.sent.append((list(job_ids), eta))

    def backlog(self) -> int:
        return len(self.sent)  # never drained: the sweeper must not count anything as lost


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.integration)])
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runtime]:
    overrides: dict[str, object] = {"enqueue_horizon_seconds": HORIZON_SECONDS, "confirm_above_targets": 1000}
    if request.param == "postgresql":
        schema = f"herald_jobs_{services.RUN_TAG}"
        overrides["database_url"] = services.postgres_schema_url(schema)
        request.addfinalizer(lambda: services.drop_postgres_schema(schema))
    runtime = factories.runtime(tmp_path, **overrides)
    runtime.queue = Recorder()
    yield runtime
    runtime.close()


def recorder(rt: Runtime) -> Recorder:
    assert isinstance(rt.queue, Recorder)
    return rt.queue

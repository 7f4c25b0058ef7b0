"""A runtime whose queue records what is sent (no broker), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.runtime import Runtime
from tests.support import factories
from tests.support.queues import RecordingQueue

HORIZON_SECONDS = 60.0


@pytest.fixture(params=factories.DATABASES)
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    overrides = {"enqueue_horizon_seconds": HORIZON_SECONDS, "confirm_above_targets": 1000}
    runtime = factories.runtime_on(request.param, request, tmp_path, **overrides)
    runtime.queue = RecordingQueue(never_drained=True)  # the sweeper must not count anything as lost
    return runtime


def recorder(rt: Runtime) -> RecordingQueue:
    assert isinstance(rt.queue, RecordingQueue)
    return rt.queue

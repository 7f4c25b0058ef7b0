"""A plan scheduled beyond the enqueue horizon is delivered on time while another plan keeps the queue busy.

Before the scheduler tick such a plan got no message at creation and was left to the sweeper's
lost-message branch, which runs only while the queue is empty: under steady load it waited forever.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from server.db import session_scope
from server.models import Receipt
from tests.support import factories, services
from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio

HORIZON_SECONDS = 1.0
DUE_IN_SECONDS = 3.0
ON_TIME_SECONDS = 2.0  # "within a second or two" of scheduledAt
BUSY_TARGETS = 20  # each retries a failing delivery every few ms: more messages than two threads can take
SETTINGS = {
    "enqueue_horizon_seconds": HORIZON_SECONDS,
    "scheduler_tick_seconds": 0.2,
    "worker_threads": 2,
    "jobs_per_message": 1,
    "circuit_min_attempts": 1_000_000,  # the busy target's failures must never open its circuit
}


@pytest.fixture(params=["embedded", pytest.param("redis", marks=pytest.mark.integration)])
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    if request.param == "embedded":
        async with doors(tmp_path, **SETTINGS) as opened:
            yield opened
        return
    schema = f"herald_tick_{services.RUN_TAG}"
    namespace = services.redis_namespace(f"herald-tick-{services.RUN_TAG}")
    try:
        backend = {
            "database_url": services.postgres_schema_url(schema),
            "redis_url": services.REDIS_URL,
            "redis_namespace": namespace,
        }
        async with doors(tmp_path, **SETTINGS, **backend) as opened:
            yield opened
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)


async def busy_plan(d: Doors) -> str:
    """A plan whose jobs fail and retry at once, over and over: the queue always holds their messages."""
    retry = {"maxAttempts": 50, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.05}
    targets = [
        (
            await d.ok(
                "create_distribution_target",
                name=f"busy-{i}",
                channel="stub",
                config={"failTimes": 1000, "latencyMs": 20},
                retryPolicy=retry,
            )
        )["target"]["id"]
        for i in range(BUSY_TARGETS)
    ]
    return (await d.ok("create_distribution_plan", content=factories.content(), targetIds=targets))["plan"]["id"]


def receipt_time(d: Doors, plan_id: str) -> datetime | None:
    with session_scope(d.rt.engine) as session:
        receipt = session.exec(select(Receipt).where(Receipt.plan_id == plan_id)).first()
        return receipt.delivered_at if receipt else None


async def test_plan_beyond_the_horizon_is_delivered_on_time_under_steady_load(d: Doors) -> None:
    await busy_plan(d)
    target = (await d.ok("create_distribution_target", name="on-time", channel="stub", config={}))["target"]["id"]
    deadline = time.monotonic() + 10
    while d.rt.queue.backlog() == 0:  # the busy plan's messages are queued before the scheduled plan exists
        assert time.monotonic() < deadline, "the busy plan never filled the queue"
        await asyncio.sleep(0.01)
    scheduled_at = (datetime.now(UTC) + timedelta(seconds=DUE_IN_SECONDS)).replace(microsecond=0)
    plan = (
        await d.ok(
            "create_distribution_plan",
            content=factories.content(),
            targetIds=[target],
            scheduledAt=scheduled_at.isoformat(),
        )
    )["plan"]
    assert plan["status"] == "scheduled"
    backlog = []
    deadline = time.monotonic() + (scheduled_at - datetime.now(UTC)).total_seconds() + ON_TIME_SECONDS + 3
    while (delivered_at := receipt_time(d, plan["id"])) is None and time.monotonic() < deadline:
        backlog.append(d.rt.queue.backlog())
        await asyncio.sleep(0.02)
    assert min(backlog) > 0, "the queue drained: the sweeper could have sent the plan, the test proves nothing"
    assert delivered_at is not None, f"not delivered {ON_TIME_SECONDS + 3:g}s after its scheduledAt"
    late = (delivered_at - scheduled_at).total_seconds()
    assert 0 <= late <= ON_TIME_SECONDS, f"delivered {late:.2f}s after its scheduledAt"

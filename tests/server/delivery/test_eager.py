"""Eager delivery: with no worker consuming, an awaitDelivery call delivers its small plan itself,
through the same claim as a worker (holds decided there); the worker that gets the message does nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlmodel import select

from server.db import session_scope
from server.delivery.engine import process_jobs
from server.dispatch import execute
from server.models import Attempt, Receipt
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support import factories
from tests.support.queues import RecordingQueue
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


def _runtime(tmp_path: Path, **settings: Any) -> Iterator[Runtime]:
    rt = factories.runtime(tmp_path, **settings)
    rt.queue = RecordingQueue()  # messages are recorded, and no worker consumes them
    yield rt
    rt.close()


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    yield from _runtime(tmp_path)


async def call(rt: Runtime, tool: str, **arguments: Any) -> dict[str, Any]:
    principal, _ = factories.principal(rt)
    result = await execute(rt, principal, tool, arguments)
    body: dict[str, Any] = result.wire()
    return body


async def hook(rt: Runtime, receiver: Receiver, path: str, **fields: Any) -> str:
    config = {"url": receiver.url + path}
    body = await call(rt, "create_distribution_target", name=path, channel="webhook", config=config, **fields)
    target_id: str = body["target"]["id"]
    return target_id


async def awaited(rt: Runtime, *target_ids: str, **fields: Any) -> dict[str, Any]:
    return await call(
        rt,
        "create_distribution_plan",
        content=fields.pop("content", None) or factories.content(),
        targetIds=list(target_ids),
        awaitDelivery=True,
        awaitTimeoutSeconds=0.3,
        **fields,
    )


def rows(rt: Runtime, model: type) -> int:
    with session_scope(rt.engine) as session:
        count: int = session.exec(select(func.count()).select_from(model)).one()
        return count


def messages(rt: Runtime) -> list[list[str]]:
    assert isinstance(rt.queue, RecordingQueue)
    return [job_ids for job_ids, _ in rt.queue.sent]


async def test_the_serving_process_delivers_and_the_workers_message_finds_nothing(
    rt: Runtime, receiver: Receiver
) -> None:
    target = await hook(rt, receiver, "/eager")
    body = await awaited(rt, target)
    assert body["timedOut"] is False
    assert body["plan"]["status"] == "succeeded"
    [job] = body["plan"]["jobs"]
    assert (job["status"], job["attempts"], job["receipt"] is not None) == ("delivered", 1, True)
    assert len(receiver.at("/eager")) == 1
    assert messages(rt) == [[job["id"]]]  # the normal message, sent once the claim had decided
    process_jobs(rt, messages(rt)[0])  # the worker that gets it finds nothing to do
    assert len(receiver.at("/eager")) == 1
    assert (rows(rt, Attempt), rows(rt, Receipt)) == (1, 1)
    assert rt.metrics.deliveries.labels("webhook", "delivered")._value.get() == 1


async def test_a_plan_above_the_maximum_is_left_to_the_workers(tmp_path: Path, receiver: Receiver) -> None:
    for rt in _runtime(tmp_path, eager_delivery_max_jobs=1):
        targets = [await hook(rt, receiver, "/one"), await hook(rt, receiver, "/two")]
        body = await awaited(rt, *targets)
        assert body["timedOut"] is True
        assert [job["status"] for job in body["plan"]["jobs"]] == ["pending", "pending"]
        assert receiver.requests == []
        process_jobs(rt, messages(rt)[0])  # the worker delivers them as before
        assert (len(receiver.at("/one")), len(receiver.at("/two"))) == (1, 1)


async def test_zero_turns_eager_delivery_off(tmp_path: Path, receiver: Receiver) -> None:
    for rt in _runtime(tmp_path, eager_delivery_max_jobs=0):
        body = await awaited(rt, await hook(rt, receiver, "/off"))
        assert (body["timedOut"], body["plan"]["status"], body["plan"]["jobs"][0]["attempts"]) == (True, "queued", 0)
        assert receiver.requests == []


async def test_a_paused_target_is_held_by_the_claim(rt: Runtime, receiver: Receiver) -> None:
    target = await hook(rt, receiver, "/paused")
    await call(rt, "pause_distribution_target", id=target, seconds=600, reason="maintenance")
    body = await awaited(rt, target)
    [job] = body["plan"]["jobs"]
    assert body["timedOut"] is True
    assert (job["status"], job["attempts"]) == ("scheduled", 0)
    assert job["heldReason"] is not None and "paused" in job["heldReason"]
    assert receiver.requests == [] and rows(rt, Attempt) == 0
    assert [job["id"]] in messages(rt)


async def test_a_rate_limited_target_is_held_not_sent(rt: Runtime, receiver: Receiver) -> None:
    target = await hook(rt, receiver, "/limited", rateLimit={"requests": 1, "perSeconds": 600})
    first = await awaited(rt, target)
    second = await awaited(rt, target)
    assert first["plan"]["status"] == "succeeded"
    [job] = second["plan"]["jobs"]
    assert second["timedOut"] is True
    assert (job["status"], job["attempts"], job["heldReason"]) == ("scheduled", 0, "held by the target's rate limit")
    assert len(receiver.at("/limited")) == 1 and rows(rt, Attempt) == 1


async def test_a_scheduled_plan_a_dry_run_and_a_replay_deliver_nothing_eagerly(rt: Runtime, receiver: Receiver) -> None:
    target = await hook(rt, receiver, "/later")
    later = (utcnow() + timedelta(hours=1)).isoformat()
    scheduled = await awaited(rt, target, scheduledAt=later)
    assert (scheduled["timedOut"], scheduled["plan"]["status"]) == (True, "scheduled")
    dry = await awaited(rt, target, dryRun=True)
    assert (dry["dryRun"], dry["plan"], dry["timedOut"]) == (True, None, None)
    assert receiver.requests == []
    once = factories.content()
    first = await awaited(rt, target, content=once, idempotencyKey="once")
    replay = await awaited(rt, target, content=once, idempotencyKey="once")
    assert (first["plan"]["status"], replay["replayed"], replay["plan"]["id"]) == (
        "succeeded",
        True,
        first["plan"]["id"],
    )
    assert len(receiver.at("/later")) == 1 and rows(rt, Attempt) == 1

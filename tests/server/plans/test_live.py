"""The live progress stream: a snapshot, one event per burst of plan events, and the end with the final one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.errors import NotFound
from server.jobs.status import PlanStatus
from server.plans.live import SSE_KEEPALIVE, PlanProgressEvent, _frames, check_plan, plan_progress
from server.plans.schemas import PlanCounts
from tests.support import factories
from tests.support.doors import doors
from tests.support.waiting import within

pytestmark = pytest.mark.anyio


async def test_the_stream_follows_a_plan_until_it_ends(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        target = await factories.stub_target(d)
        soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
        plan = (await factories.plan(d, target, scheduledAt=soon))["plan"]
        seen = []
        async with within(10, "the plan's stream ends"):
            async for event in plan_progress(d.rt, d.principal.workspace_id, plan["id"], idle_seconds=5):
                seen.append(event)
        first, last = seen[0], seen[-1]
        assert (first.type, first.status, first.final, first.counts.pending) == ("snapshot", "scheduled", False, 1)
        assert (last.type, last.status, last.final, last.counts.delivered) == ("jobs.finished", "succeeded", True, 1)
        assert last.job_ids == [plan["jobs"][0]["id"]]
        assert [e.final for e in seen].count(True) == 1


async def test_a_finished_plan_streams_one_final_snapshot_and_another_workspace_gets_not_found(
    tmp_path: Path,
) -> None:
    async with doors(tmp_path) as d:
        target = await factories.stub_target(d)
        plan = (await factories.plan(d, target, awaitDelivery=True))["plan"]
        assert plan["status"] == "succeeded"
        seen = [e async for e in plan_progress(d.rt, d.principal.workspace_id, plan["id"])]
        assert [(e.type, e.status, e.final) for e in seen] == [("snapshot", "succeeded", True)]
        with pytest.raises(NotFound):
            check_plan(d.rt, "ws_other", plan["id"])


def progress_event(number: int, *, final: bool) -> PlanProgressEvent:
    counts = PlanCounts(
        total=3, pending=3 - number, delivering=0, delivered=number, failed=0, dead=0, cancelled=0, skipped=0
    )
    status = PlanStatus.SUCCEEDED if final else PlanStatus.RUNNING
    return PlanProgressEvent(
        plan_id="pln_x", type="jobs.finished", status=status, counts=counts, final=final, at=datetime.now(UTC)
    )


async def test_sse_framing_sends_the_final_event_even_when_it_lands_as_a_keep_alive_falls_due() -> None:
    # Events arrive about one keep-alive apart, so the reader often finishes just as the framer's wait times
    # out: every run must still end with the final frame (an earlier framer polled the reader and lost it).
    async def stream() -> AsyncIterator[PlanProgressEvent]:
        for number in range(3):
            await asyncio.sleep(0.001)
            yield progress_event(number + 1, final=number == 2)

    async with within(30, "200 framed streams"):
        for _ in range(200):
            frames = [frame async for frame in _frames(stream(), keepalive=0.001)]
            events = [frame for frame in frames if frame != SSE_KEEPALIVE]
            assert len(events) == 3 and b'"final":true' in events[-1], frames


async def test_sse_framing_ends_with_the_reader_s_error_after_the_events_it_read() -> None:
    async def stream() -> AsyncIterator[PlanProgressEvent]:
        yield progress_event(1, final=False)
        raise RuntimeError("the database went away")

    frames: list[bytes] = []
    with pytest.raises(RuntimeError, match="the database went away"):
        async for frame in _frames(stream(), keepalive=5):
            frames.append(frame)
    assert len(frames) == 1 and frames[0].startswith(b"id: 1\nevent: progress\ndata: {")

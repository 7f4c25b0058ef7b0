"""The live progress stream: a snapshot, one event per burst of plan events, and the end with the final one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from server.errors import NotFound
from server.plans.live import check_plan, plan_progress
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

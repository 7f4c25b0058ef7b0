"""list_plan_jobs: a plan's jobs a page at a time, with every attempt and receipt, and counts from the counters."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support import factories
from tests.support.doors import doors

pytestmark = pytest.mark.anyio


async def test_pages_of_jobs_carry_attempts_receipts_and_the_counters(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        flaky = await factories.stub_target(d, "flaky", {"failTimes": 1}, retryPolicy=factories.FAST_RETRY)
        steady = [await factories.stub_target(d, f"steady-{i}") for i in range(2)]
        plan = (await factories.plan(d, flaky, *steady, awaitDelivery=True))["plan"]
        first = await d.ok("list_plan_jobs", planId=plan["id"], limit=2)
        second = await d.ok("list_plan_jobs", planId=plan["id"], limit=2, cursor=first["nextCursor"])
        delivered = await d.ok("list_plan_jobs", planId=plan["id"], status="delivered")
    jobs = first["items"] + second["items"]
    assert [j["id"] for j in jobs] == sorted(j["id"] for j in plan["jobs"])
    assert second["nextCursor"] is None and len(first["items"]) == 2
    assert first["recommendedNextAction"]["tool"] == "list_plan_jobs"
    assert first["plan"]["counts"]["delivered"] == 3 and first["plan"]["status"] == "succeeded"
    by_target = {j["targetId"]: j for j in jobs}
    assert [a["outcome"] for a in by_target[flaky]["attemptHistory"]] == ["transient", "delivered"]
    assert [a["number"] for a in by_target[flaky]["attemptHistory"]] == [1, 2]
    assert all(j["receipt"] is not None and len(j["attemptHistory"]) >= 1 for j in jobs)
    assert len(delivered["items"]) == 3


async def test_another_workspace_plan_is_not_found(tmp_path: Path) -> None:
    async with doors(tmp_path) as d:
        body = await d.error("list_plan_jobs", planId="pln_01JX0000000000000000000000")
    assert body["code"] == "NOT_FOUND" and body["field"] == "planId"

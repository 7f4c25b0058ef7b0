"""Fallback targets: a job that ends failed or dead spawns one job on its target's fallback, in the same
plan; the plan succeeds when every failure delivered via fallback; chains are bounded and acyclic."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from server.db import session_scope
from server.models import Job
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

FINAL = ("succeeded", "partial", "failed", "cancelled")
TWO_TRIES = {"maxAttempts": 2, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.02}


@pytest.fixture(params=MODES)
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **mode_settings(request)) as opened:
        yield opened


async def ended(d: Doors, plan_id: str) -> dict[str, Any]:
    body = await until_async(
        lambda: d.ok("get_distribution_plan", id=plan_id),
        timeout=30,
        message=f"plan {plan_id} ended",
        done=lambda body: body["plan"]["status"] in FINAL,
    )
    plan: dict[str, Any] = body["plan"]
    return plan


def counts(**given: int) -> dict[str, int]:
    zero = dict.fromkeys(("pending", "delivering", "delivered", "failed", "dead", "cancelled", "skipped"), 0)
    return {**zero, "fallbacks": 0, **given}


async def test_a_primary_that_always_answers_500_is_delivered_by_its_fallback_webhook(
    d: Doors, receiver: Receiver
) -> None:
    receiver.script["/primary"] = [Reply(500, body="down")]
    backup = await factories.webhook_target(d, receiver.url + "/backup", name="backup")
    primary = await factories.webhook_target(
        d, receiver.url + "/primary", name="primary", retryPolicy=TWO_TRIES, fallbackTargetId=backup
    )
    assert (await d.ok("get_distribution_target", id=primary))["target"]["fallbackTargetId"] == backup
    content = factories.content(title="Rates update")
    plan = await ended(d, (await factories.plan(d, primary, content=content))["plan"]["id"])

    assert plan["status"] == "succeeded"
    assert plan["counts"] == counts(total=2, delivered=1, dead=1, fallbacks=1)
    first, second = sorted(plan["jobs"], key=lambda job: job["id"])
    assert (first["targetId"], first["status"], first["attempts"], first["fallbackOf"]) == (primary, "dead", 2, None)
    assert (second["targetId"], second["status"], second["fallbackOf"]) == (backup, "delivered", first["id"])
    assert len(receiver.at("/primary")) == 2
    [arrived] = receiver.at("/backup")
    assert arrived.json()["data"]["title"] == "Rates update"
    assert arrived.headers["webhook-id"] == second["id"]

    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert report["deliveredViaFallback"] == 1
    assert report["fallbacks"] == [
        {
            "jobId": second["id"],
            "fallbackOf": first["id"],
            "fromTargetId": primary,
            "targetId": backup,
            "targetName": "backup",
            "status": "delivered",
        }
    ]
    assert (report["deliveryRate"], report["firstAttemptSuccessRate"], report["dead"]) == (1.0, 0.0, 1)
    summary = (await d.ok("list_distribution_plans"))["items"][0]
    assert summary["counts"] == counts(total=2, delivered=1, dead=1, fallbacks=1)
    hinted = (await d.ok("get_distribution_plan", id=plan["id"]))["recommendedNextAction"]
    assert hinted["tool"] is None and "1 of them via a fallback target" in hinted["reason"]


async def test_a_chain_of_three_targets_ends_at_the_first_that_delivers(d: Doors) -> None:
    last = await factories.stub_target(d, "last")
    middle = await factories.stub_target(d, "middle", {"failTimes": 1, "failWith": 400}, fallbackTargetId=last)
    first = await factories.stub_target(d, "first", {"failTimes": 1, "failWith": 400}, fallbackTargetId=middle)
    plan = await ended(d, (await factories.plan(d, first))["plan"]["id"])
    assert plan["status"] == "succeeded"
    assert plan["counts"] == counts(total=3, delivered=1, failed=2, fallbacks=2)
    jobs = sorted(plan["jobs"], key=lambda job: job["id"])
    assert [(job["targetId"], job["status"]) for job in jobs] == [
        (first, "failed"),
        (middle, "failed"),
        (last, "delivered"),
    ]
    assert [job["fallbackOf"] for job in jobs] == [None, jobs[0]["id"], jobs[1]["id"]]
    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert (report["deliveredViaFallback"], report["deliveryRate"], len(report["fallbacks"])) == (1, 1.0, 2)


async def test_a_failing_fallback_leaves_the_plan_failed(d: Doors) -> None:
    backup = await factories.stub_target(d, "backup", {"failTimes": 5, "failWith": 400})
    primary = await factories.stub_target(d, "primary", {"failTimes": 5, "failWith": 400}, fallbackTargetId=backup)
    healthy = await factories.stub_target(d, "healthy")
    plan = await ended(d, (await factories.plan(d, primary, healthy))["plan"]["id"])
    assert plan["status"] == "partial"
    assert plan["counts"] == counts(total=3, delivered=1, failed=2, fallbacks=1)
    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert (report["deliveredViaFallback"], report["deliveryRate"]) == (0, 0.5)


async def test_a_retried_primary_spawns_no_second_fallback(d: Doors) -> None:
    backup = await factories.stub_target(d, "backup")
    primary = await factories.stub_target(d, "primary", {"failTimes": 1, "failWith": 400}, fallbackTargetId=backup)
    plan_id = (await factories.plan(d, primary))["plan"]["id"]
    assert (await ended(d, plan_id))["counts"] == counts(total=2, delivered=1, failed=1, fallbacks=1)
    await d.ok("retry_failed_jobs", planId=plan_id)
    plan = await ended(d, plan_id)
    assert plan["status"] == "succeeded"
    assert plan["counts"] == counts(total=2, delivered=2)
    assert sorted(job["targetId"] for job in plan["jobs"]) == sorted([primary, backup])
    assert (await d.ok("list_distribution_plans"))["items"][0]["counts"] == counts(total=2, delivered=2)


async def test_a_chain_longer_than_three_targets_is_refused_and_nothing_is_written(d: Doors) -> None:
    c = await factories.stub_target(d, "c")
    b = await factories.stub_target(d, "b", fallbackTargetId=c)
    a = await factories.stub_target(d, "a", fallbackTargetId=b)
    before = d.counts()
    refused = await d.error("create_distribution_target", name="d", channel="stub", fallbackTargetId=a)
    assert (refused["code"], refused["field"]) == ("VALIDATION_ERROR", "fallbackTargetId")
    assert refused["message"].startswith("fallbackTargetId would make a chain of more than 3 targets: ")
    assert f"(d) → {a} (a) → {b} (b) → {c} (c)" in refused["message"]
    x = await factories.stub_target(d, "x")
    before = d.counts()
    longer = await d.error("update_distribution_target", id=c, fallbackTargetId=x)
    assert longer["message"].startswith(
        f"fallbackTargetId would make a chain of more than 3 targets: {a} (a) → {b} (b) → {c} (c) → {x} (x)."
    )
    assert {**d.counts(), "audit_events": 0} == {**before, "audit_events": 0}
    assert (await d.ok("get_distribution_target", id=c))["target"]["fallbackTargetId"] is None


async def test_a_cycle_or_a_self_fallback_is_refused_and_nothing_is_written(d: Doors) -> None:
    b = await factories.stub_target(d, "b")
    a = await factories.stub_target(d, "a", fallbackTargetId=b)
    before = d.counts()
    cycle = await d.error("update_distribution_target", id=b, fallbackTargetId=a)
    assert (cycle["code"], cycle["field"]) == ("VALIDATION_ERROR", "fallbackTargetId")
    assert cycle["message"] == (
        f"fallbackTargetId would make a cycle: {a} (a) → {b} (b) → {a} (a). "
        "Point the fallback at a target outside this chain."
    )
    itself = await d.error("update_distribution_target", id=a, fallbackTargetId=a)
    assert itself["message"] == f"A target cannot be its own fallback ({a} (a))."
    unknown = await d.error("update_distribution_target", id=a, fallbackTargetId="tgt_00000000000000000000000000")
    assert unknown["message"] == "fallbackTargetId tgt_00000000000000000000000000 is not a target of this workspace."
    assert unknown["recommendedNextAction"]["tool"] == "list_distribution_targets"
    wrong_kind = await d.error("create_distribution_target", name="z", channel="stub", fallbackTargetId="pln_1")
    assert wrong_kind["field"] == "fallbackTargetId"
    assert {**d.counts(), "audit_events": 0} == {**before, "audit_events": 0}
    assert (await d.ok("get_distribution_target", id=b))["target"]["fallbackTargetId"] is None
    assert (await d.ok("get_distribution_target", id=a))["target"]["fallbackTargetId"] == b
    cleared = await d.ok("update_distribution_target", id=a, fallbackTargetId="")
    assert cleared["target"]["fallbackTargetId"] is None
    assert (await d.ok("update_distribution_target", id=b, fallbackTargetId=a))["target"]["fallbackTargetId"] == a


@pytest.mark.slow  # the primary's 1.5 s latency keeps it in flight while the plan is cancelled
async def test_a_cancelled_plan_spawns_no_fallback(d: Doors) -> None:
    backup = await factories.stub_target(d, "backup")
    primary = await factories.stub_target(
        d, "primary", {"failTimes": 1, "latencyMs": 1500, "failWith": 400}, fallbackTargetId=backup
    )
    plan_id = (await factories.plan(d, primary))["plan"]["id"]

    def delivering() -> bool:
        with session_scope(d.rt.engine) as session:
            return session.exec(select(Job.status).where(Job.plan_id == plan_id)).first() == "delivering"

    await until_async(delivering, timeout=10, message="the primary job in flight")
    await d.ok("cancel_distribution_plan", id=plan_id)
    plan = await until_async(
        lambda: d.ok("get_distribution_plan", id=plan_id),
        timeout=10,
        message="the in-flight job finished",
        done=lambda body: body["plan"]["counts"]["failed"] == 1,
    )
    assert plan["plan"]["status"] == "cancelled"
    assert [job["targetId"] for job in plan["plan"]["jobs"]] == [primary]

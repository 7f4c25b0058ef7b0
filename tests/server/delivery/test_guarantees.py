"""Delivery guarantees through the MCP door: breaker, limits, order, halts, events, dead letters, report."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from server.db import session_scope
from server.deadletters.service import enforce_retention
from server.models import Attempt, AuditEvent, DeadLetter
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import holds_async, until_async

pytestmark = pytest.mark.anyio
FAST_BREAKER = {"circuit_min_attempts": 4, "circuit_cooldown_seconds": 1.0, "circuit_window_seconds": 60}


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **FAST_BREAKER) as opened:
        yield opened


async def plan_until(d: Doors, plan_id: str, predicate: Callable[[dict], bool], timeout: float = 15) -> dict:
    """The plan once ``predicate`` holds for it (an AssertionError with the last read after ``timeout``)."""

    async def read() -> dict:
        return (await d.ok("get_distribution_plan", id=plan_id))["plan"]

    return await until_async(read, timeout=timeout, message=f"plan {plan_id} condition", done=predicate)


def attempt_rows(d: Doors, target_id: str) -> list[Attempt]:
    with session_scope(d.rt.engine) as session:
        return list(
            session.exec(select(Attempt).where(Attempt.target_id == target_id).order_by(Attempt.started_at)).all()
        )


async def webhook(d: Doors, receiver: Receiver, path: str, **extra: object) -> str:
    return await factories.webhook_target(d, receiver.url + path, name=path.strip("/"), **extra)


async def test_circuit_opens_on_failure_rate_holds_jobs_and_closes_after_probe(d: Doors) -> None:
    target = await factories.stub_target(d, "flaky", {"failTimes": 4}, retryPolicy=factories.FAST_RETRY)
    plan = (await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target]))["plan"]
    held = await plan_until(d, plan["id"], lambda p: (p["jobs"][0]["heldReason"] or "").startswith("circuit open"))
    assert held["jobs"][0]["attempts"] == 4
    state = (await d.ok("get_distribution_target", id=target))["target"]["circuit"]
    assert state["state"] == "open" and state["reason"] == "4 of the last 4 attempts failed"
    done = await plan_until(d, plan["id"], lambda p: p["status"] == "succeeded")
    assert done["jobs"][0]["attempts"] == 5
    rows = attempt_rows(d, target)
    assert (rows[4].started_at - rows[3].started_at).total_seconds() >= 0.95
    assert (await d.ok("get_distribution_target", id=target))["target"]["circuit"]["state"] == "closed"
    events = [e["type"] for e in (await d.ok("list_operational_events", targetId=target))["items"]]
    assert events == ["target.circuit_closed", "target.circuit_opened"]


async def test_systemic_failure_opens_circuit_at_once_and_hint_says_fix_credentials(tmp_path: Path) -> None:
    # A cooldown far longer than the test: on a loaded machine a 1 s one can end before the second plan's
    # claim, which then is the half-open probe (an attempt) rather than a job held by the open circuit.
    async with doors(tmp_path, **{**FAST_BREAKER, "circuit_cooldown_seconds": 600}) as d:
        target = await factories.stub_target(d, "revoked", {"failTimes": 1, "failWith": 401})
        first = await d.ok(
            "create_distribution_plan", content=factories.content(), targetIds=[target], awaitDelivery=True
        )
        assert first["plan"]["jobs"][0]["errorClass"] == "systemic"
        assert first["recommendedNextAction"]["tool"] == "update_distribution_target"
        assert (await d.ok("get_distribution_target", id=target))["target"]["circuit"]["state"] == "open"
        second = (await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target]))["plan"]
        waiting = await plan_until(d, second["id"], lambda p: p["jobs"][0]["heldReason"] is not None, timeout=5)
        assert waiting["jobs"][0]["attempts"] == 0 and len(attempt_rows(d, target)) == 1


@pytest.mark.slow  # waits out a rate window / a cooldown of a second or more
async def test_rate_limit_spreads_requests_without_spending_attempts(d: Doors, receiver: Receiver) -> None:
    target = await webhook(d, receiver, "/rl", rateLimit={"requests": 2, "perSeconds": 1})
    plans = [
        (await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target]))["plan"]["id"]
        for _ in range(6)
    ]
    for plan_id in plans:
        assert (await plan_until(d, plan_id, lambda p: p["status"] == "succeeded"))["jobs"][0]["attempts"] == 1
    arrivals = sorted(r.at for r in receiver.at("/rl"))
    assert len(arrivals) == 6
    # Without the limit all six arrive within a few ms; with it any three span about a second
    # (the window is taken when the request leaves, so network jitter is allowed for).
    assert all(arrivals[i + 2] - arrivals[i] >= 0.8 for i in range(len(arrivals) - 2))


@pytest.mark.slow  # twelve plans delivered one after the other
async def test_max_concurrency_one_delivers_in_order(d: Doors, receiver: Receiver) -> None:
    target = await webhook(d, receiver, "/ordered", maxConcurrency=1)
    ids = [f"n{i:02d}" for i in range(12)]
    plans = [
        (await d.ok("create_distribution_plan", content=factories.content(id=i), targetIds=[target]))["plan"]["id"]
        for i in ids
    ]
    for plan_id in plans:
        await plan_until(d, plan_id, lambda p: p["status"] == "succeeded")
    assert [r.json()["data"]["id"] for r in receiver.at("/ordered")] == ids


async def test_halt_holds_everything_and_resume_releases(d: Doors, receiver: Receiver) -> None:
    target = await webhook(d, receiver, "/h")
    halted = await d.ok("halt_deliveries", reason="incident 42")
    assert halted["halted"] is True and halted["recommendedNextAction"]["tool"] == "resume_deliveries"
    plan = (await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target]))["plan"]
    held = await plan_until(d, plan["id"], lambda p: p["jobs"][0]["heldReason"] is not None)
    assert held["jobs"][0]["heldReason"] == "deliveries are halted in this workspace"
    await holds_async(lambda: receiver.at("/h") == [], 0.5, message="no request while halted")
    assert held["jobs"][0]["attempts"] == 0
    resumed = await d.ok("resume_deliveries")
    assert resumed["jobsReleased"] == 1
    assert (await plan_until(d, plan["id"], lambda p: p["status"] == "succeeded"))["jobs"][0]["attempts"] == 1
    types = [e["type"] for e in (await d.ok("list_operational_events"))["items"]]
    assert types[:3] == ["plan.completed", "deliveries.resumed", "deliveries.halted"]


async def test_dead_letters_list_inspect_replay_by_time_range_audited(d: Doors, receiver: Receiver) -> None:
    receiver.script["/dl"] = [Reply(500, body='{"error":"db down"}'), Reply(500), Reply(200)]
    target = await webhook(
        d, receiver, "/dl", retryPolicy={"maxAttempts": 2, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.01}
    )
    plan = await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], awaitDelivery=True)
    assert plan["plan"]["status"] == "failed"
    assert [e["type"] for e in (await d.ok("list_operational_events", planId=plan["plan"]["id"]))["items"]] == [
        "plan.failed",
        "job.dead",
    ]
    listed = await d.ok("list_dead_letters", targetId=target, errorClass="transient")
    [letter] = listed["items"]
    assert (letter["attempts"], letter["errorClass"]) == (2, "transient")
    assert listed["recommendedNextAction"]["tool"] == "replay_dead_letters"
    assert (await d.ok("list_dead_letters", errorClass="permanent"))["items"] == []
    detail = (await d.ok("get_dead_letter", id=letter["id"]))["deadLetter"]
    assert detail["request"]["destination"] == receiver.url + "/dl"
    assert detail["request"]["body"]["data"]["title"] == "Market note"
    assert detail["response"]["statusCode"] == 500
    assert "signature" not in str(detail).lower() and "whsec_" not in str(detail)
    window = {
        "since": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
        "until": (datetime.now(UTC) + timedelta(minutes=1)).isoformat(),
    }
    assert (await d.ok("replay_dead_letters", dryRun=True, **window))["jobIds"] == [letter["jobId"]]
    replayed = await d.ok("replay_dead_letters", **window)
    assert replayed["jobIds"] == [letter["jobId"]]
    done = await plan_until(d, plan["plan"]["id"], lambda p: p["status"] == "succeeded")
    assert done["jobs"][0]["attempts"] == 3
    with session_scope(d.rt.engine) as session:
        audit = session.exec(select(AuditEvent).where(AuditEvent.operation == "replay_dead_letters")).all()
        stored = session.exec(select(DeadLetter)).one()
    assert [a.outcome for a in audit] == ["ok"] and stored.replay_count == 1
    assert (await d.ok("list_dead_letters"))["items"] == []


async def test_dead_letter_retention_by_age_and_count(tmp_path: Path) -> None:
    async with doors(tmp_path, dead_letter_max_count=2) as d:
        target = await factories.stub_target(
            d, "dead", {"failTimes": 9}, retryPolicy={**factories.FAST_RETRY, "maxAttempts": 1}
        )
        for _ in range(3):
            await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], awaitDelivery=True)
        oldest = (await d.ok("list_dead_letters"))["items"][-1]["id"]
        assert enforce_retention(d.rt) == 1
        remaining = [item["id"] for item in (await d.ok("list_dead_letters"))["items"]]
        assert len(remaining) == 2 and oldest not in remaining
        with session_scope(d.rt.engine) as session:
            for row in session.exec(select(DeadLetter)).all():
                row.created_at = datetime.now(UTC) - timedelta(days=31)
                session.add(row)
        assert enforce_retention(d.rt) == 2
        assert (await d.ok("list_dead_letters"))["items"] == []


async def test_plan_report(d: Doors) -> None:
    ok = await factories.stub_target(d, "ok")
    retried = await factories.stub_target(d, "retried", {"failTimes": 2}, retryPolicy=factories.FAST_RETRY)
    broken = await factories.stub_target(d, "broken", {"failTimes": 1, "failWith": 422})
    plan = await d.ok(
        "create_distribution_plan", content=factories.content(), targetIds=[ok, retried, broken], awaitDelivery=True
    )
    report = (await d.ok("get_plan_report", id=plan["plan"]["id"]))["report"]
    assert {
        k: report[k]
        for k in ("totalTargets", "deliveredFirstTry", "deliveredAfterRetries", "failed", "dead", "pending")
    } == {"totalTargets": 3, "deliveredFirstTry": 1, "deliveredAfterRetries": 1, "failed": 1, "dead": 0, "pending": 0}
    assert report["deliveryRate"] == round(2 / 3, 4)
    assert report["firstAttemptSuccessRate"] == round(1 / 3, 4)
    assert report["p95DeliveryMs"] >= report["avgDeliveryMs"] > 0
    assert report["slowestTargets"][0]["targetName"] == "retried" and report["slowestTargets"][0]["attempts"] == 3


@pytest.mark.slow  # watches for a second that nothing arrives
async def test_cancel_means_no_new_request_after_it_returns(d: Doors, receiver: Receiver) -> None:
    targets = [await webhook(d, receiver, f"/c{i}", maxConcurrency=1) for i in range(3)]
    plans = [
        (await d.ok("create_distribution_plan", content=factories.content(), targetIds=targets))["plan"]["id"]
        for _ in range(15)
    ]
    await until_async(lambda: receiver.requests, message="the first deliveries under way")
    for plan_id in plans:
        cancelled = await d.call("cancel_distribution_plan", id=plan_id)
        assert cancelled["_isError"] is False or cancelled["code"] == "CONFLICT"
    returned = time.time()
    await holds_async(
        lambda: [r for r in receiver.requests if r.at > returned + 0.05] == [],
        1.0,
        message="no request after cancel returned",
    )


async def test_retry_schedule_validation(d: Doors) -> None:
    bad = await d.error(
        "create_distribution_target",
        name="x",
        channel="stub",
        retryPolicy={"maxAttempts": 4, "baseDelaySeconds": 1, "maxDelaySeconds": 60, "scheduleSeconds": [5]},
    )
    assert bad["code"] == "VALIDATION_ERROR" and "scheduleSeconds" in bad["message"]
    good = await d.ok(
        "create_distribution_target",
        name="x",
        channel="stub",
        retryPolicy={"maxAttempts": 3, "baseDelaySeconds": 1, "maxDelaySeconds": 60, "scheduleSeconds": [5, 30]},
    )
    assert good["target"]["retryPolicy"]["scheduleSeconds"] == [5.0, 30.0]

"""A target's hint follows its state, and a fix of a target whose circuit a systemic failure opened unblocks it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import Session

from server.models import Target
from server.targets import circuit
from server.targets.service import health_hint
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


def action(tool: str | None, graphql: str | None, reason: str, after: float | None = None, **arguments: Any) -> dict:
    return {"tool": tool, "graphql": graphql, "arguments": arguments, "reason": reason, "afterSeconds": after}


def target(**state: Any) -> Target:
    return Target(id="tgt_one", workspace_id="ws", name="one", channel="stub", config={}, **state)


def wire(t: Target, halted: bool = False) -> dict:
    return health_hint(t, halted, NOW).model_dump(mode="json", by_alias=True)


def test_ready() -> None:
    assert wire(target()) == action(
        "create_distribution_plan", "createDistributionPlan", "The target is ready for plans.", targetIds=["tgt_one"]
    )


def test_a_halt_comes_first() -> None:
    paused = target(paused_until=NOW + timedelta(seconds=10), pause_reason="maintenance")
    assert wire(paused, halted=True) == action(
        "resume_deliveries",
        "resumeDeliveries",
        "Deliveries are halted in this workspace; resume them once the reason for the halt is resolved.",
    )


def test_a_short_pause_is_waited_out() -> None:
    paused = target(paused_until=NOW + timedelta(seconds=12.34), pause_reason="maintenance")
    assert wire(paused) == action(
        "get_distribution_target",
        "distributionTarget",
        "Paused until 2026-12-01T12:00:12Z (maintenance); it resumes by itself, so look again then.",
        12.3,
        id="tgt_one",
    )


def test_a_long_operator_pause_names_the_resume() -> None:
    paused = target(paused_until=NOW + timedelta(days=2), pause_reason="paused by ops")
    assert wire(paused) == action(
        "resume_distribution_target",
        "resumeDistributionTarget",
        "Paused until 2026-12-03T12:00:00Z (paused by ops); resume it now only if the cause is fixed.",
        id="tgt_one",
    )


def test_a_long_rate_limit_pause_is_waited_out_in_steps() -> None:
    reason = "rate limited by the provider (HTTP 429); resumes automatically"
    paused = target(paused_until=NOW + timedelta(hours=1), pause_reason=reason)
    assert wire(paused) == action(
        "get_distribution_target",
        "distributionTarget",
        f"Paused until 2026-12-01T13:00:00Z ({reason}); it resumes by itself, so look again then.",
        300.0,
        id="tgt_one",
    )


def test_an_open_circuit_soon_half_open_is_waited_out() -> None:
    open_ = target(circuit_state="open", circuit_until=NOW + timedelta(seconds=0.2), circuit_reason="5 of 5 failed")
    assert wire(open_) == action(
        "get_distribution_target",
        "distributionTarget",
        "The circuit is open (5 of 5 failed); a probe delivery may go at 12:00:00Z, so look again then.",
        0.5,
        id="tgt_one",
    )


def test_an_open_circuit_for_long_names_the_resume() -> None:
    open_ = target(circuit_state="open", circuit_until=NOW + timedelta(minutes=10), circuit_reason="x (systemic)")
    assert wire(open_) == action(
        "resume_distribution_target",
        "resumeDistributionTarget",
        "The circuit is open (x (systemic)) until 2026-12-01T12:10:00Z; resuming closes the circuit, "
        "so do it only if the receiver is fixed.",
        id="tgt_one",
    )


def test_inactive() -> None:
    assert wire(target(active=False)) == action(
        "update_distribution_target",
        "updateDistributionTarget",
        "The target is inactive; activate it to deliver.",
        id="tgt_one",
        active=True,
    )


async def _plan(d: Doors, target_id: str) -> dict:
    body = await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[target_id],
        awaitDelivery=True,
        awaitTimeoutSeconds=2,
    )
    plan: dict = body["plan"]
    return plan


async def _plan_when(d: Doors, plan_id: str, status: str) -> dict:
    async def read() -> dict:
        return (await d.ok("get_distribution_plan", id=plan_id))["plan"]

    return await until_async(read, timeout=5, message=f"plan {plan_id} {status}", done=lambda p: p["status"] == status)


async def test_fixing_credentials_half_opens_a_systemic_circuit_and_names_the_retry(d: Doors) -> None:
    hook = await factories.stub_target(d, "refuses", {"failTimes": 1, "failWith": 401})
    failed = await _plan(d, hook)
    assert (failed["status"], failed["jobs"][0]["errorClass"]) == ("failed", "systemic")
    read = await d.ok("get_distribution_target", id=hook)
    circuit = read["target"]["circuit"]
    assert circuit["state"] == "open"
    until = datetime.fromisoformat(circuit["until"])
    assert read["recommendedNextAction"] == action(
        "resume_distribution_target",
        "resumeDistributionTarget",
        f"The circuit is open ({circuit['reason']}) until {until:%Y-%m-%dT%H:%M:%SZ}; resuming closes the circuit, "
        "so do it only if the receiver is fixed.",
        id=hook,
    )
    # A second plan meanwhile is held by the open circuit, spending no attempt.
    held = await d.ok("create_distribution_plan", content=factories.content(), targetIds=[hook])
    fixed = await d.ok("update_distribution_target", id=hook, config={})
    assert fixed["target"]["circuit"]["state"] == "half_open"
    assert fixed["recommendedNextAction"] == action(
        "retry_failed_jobs",
        "retryFailedJobs",
        f"Target updated; retry the jobs that failed on it in plan {failed['id']}.",
        planId=failed["id"],
    )
    # The held job is queued again after the commit and is the probe: delivered without waiting out the cooldown.
    delivered = await _plan_when(d, held["plan"]["id"], "succeeded")
    assert delivered["jobs"][0]["attempts"] == 1
    events = await d.ok("list_operational_events", targetId=hook)
    assert [e["type"] for e in events["items"]][:3] == [
        "target.circuit_closed",
        "target.circuit_half_open",
        "target.circuit_opened",
    ]
    await d.ok("retry_failed_jobs", planId=failed["id"])
    assert (await _plan_when(d, failed["id"], "succeeded"))["jobs"][0]["attempts"] == 2


async def test_a_dry_run_update_leaves_the_circuit_open(d: Doors) -> None:
    hook = await factories.stub_target(d, "refuses", {"failTimes": 1, "failWith": 401})
    await _plan(d, hook)
    before = d.counts()
    dry = await d.ok("update_distribution_target", id=hook, config={}, dryRun=True)
    assert dry["target"]["circuit"]["state"] == "open"
    assert (await d.ok("get_distribution_target", id=hook))["target"]["circuit"]["state"] == "open"
    assert d.counts() == before


def test_a_circuit_opened_by_failure_rate_stays_open_after_an_update() -> None:
    by_rate = target(circuit_state="open", circuit_until=NOW, circuit_reason="5 of the last 5 attempts failed")
    session = Session()
    assert circuit.after_fix(session, by_rate, NOW) is False
    assert (by_rate.circuit_state, list(session.new)) == ("open", [])


async def test_a_new_stub_target_is_confirmed_by_a_test(d: Doors) -> None:
    created = await d.ok("create_distribution_target", name="s", channel="stub")
    assert created["recommendedNextAction"] == action(
        "test_distribution_target",
        "testDistributionTarget",
        "A stub target reaches no receiver, so send it a test delivery to confirm it works.",
        id=created["target"]["id"],
    )


async def test_a_new_webhook_target_is_confirmed_by_a_dry_run_that_sends_nothing(d: Doors, receiver: Receiver) -> None:
    created = await d.ok("create_distribution_target", name="w", channel="webhook", config={"url": receiver.url + "/w"})
    hook = created["target"]["id"]
    hinted = created["recommendedNextAction"]
    assert hinted == action(
        "create_distribution_plan",
        "createDistributionPlan",
        "A test would send one real event to this receiver, so preview a plan instead: the dry run renders what "
        "the target would receive and sends nothing (put your own content in place of the sample).",
        content={"id": "sample", "version": "1", "title": "Sample title", "body": "Sample body."},
        targetIds=[hook],
        dryRun=True,
    )
    before = d.counts()
    preview = await d.ok(hinted["tool"], **hinted["arguments"])
    assert (preview["dryRun"], preview["preview"]["targets"][0]["verdict"]) == (True, "deliver")
    assert d.counts() == before
    assert receiver.at("/w") == []

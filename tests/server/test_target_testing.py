"""test_distribution_target goes through the engine's path after the operation's transaction: it holds no
database lock while the receiver answers, refuses while deliveries are halted, and a 429 pauses the target."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest

from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def webhook(d: Doors, receiver: Receiver, path: str, name: str = "hook") -> str:
    created = await d.ok(
        "create_distribution_target", name=name, channel="webhook", config={"url": receiver.url + path}
    )
    return str(created["target"]["id"])


async def test_a_write_completes_while_a_test_delivery_waits_for_its_receiver(d: Doors, receiver: Receiver) -> None:
    release = threading.Event()
    receiver.script["/slow"] = [Reply(release=release)]  # answers only once released (at most 30 s)
    hook = await webhook(d, receiver, "/slow")
    other = await webhook(d, receiver, "/other", name="other")
    testing = asyncio.create_task(d.ok("test_distribution_target", id=hook))
    try:
        await anyio.to_thread.run_sync(receiver.wait_for, "/slow")
        started = time.monotonic()
        with anyio.fail_after(15):
            renamed = await d.ok("update_distribution_target", id=other, name="renamed")
        waited = time.monotonic() - started
        assert waited < 2.0, f"the write waited {waited:.1f}s for the test delivery"
        assert renamed["target"]["name"] == "renamed"
        assert not testing.done()
    finally:
        release.set()
    with anyio.fail_after(10):
        result = await testing
    assert (result["ok"], result["statusCode"], result["errorClass"]) == (True, 200, None)
    assert result["recommendedNextAction"]["tool"] == "create_distribution_plan"
    assert len(receiver.at("/slow")) == 1 and receiver.at("/other") == []


async def test_a_test_delivery_is_refused_while_deliveries_are_halted(d: Doors, receiver: Receiver) -> None:
    hook = await webhook(d, receiver, "/halted")
    await d.ok("halt_deliveries", reason="incident")
    before = d.counts()
    for dry_run in (False, True):
        error = await d.error("test_distribution_target", id=hook, dryRun=dry_run)
        assert error["code"] == "DELIVERIES_HALTED"
        assert error["message"] == (
            "Deliveries are halted in this workspace; no request leaves it, test deliveries included."
        )
        action = error["recommendedNextAction"]
        assert (action["tool"], action["graphql"], action["arguments"]) == ("resume_deliveries", "resumeDeliveries", {})
    assert receiver.requests == []
    assert d.counts() == {**before, "audit_events": before["audit_events"] + 1}  # the refused real call is audited
    assert d.counts()["delivery_attempts"] == 0
    await d.ok("resume_deliveries")
    assert (await d.ok("test_distribution_target", id=hook))["ok"] is True
    assert len(receiver.at("/halted")) == 1


async def test_a_429_pauses_the_target_until_retry_after_like_a_real_delivery(d: Doors, receiver: Receiver) -> None:
    receiver.script["/limited"] = [Reply(429, headers={"Retry-After": "120"})]
    hook = await webhook(d, receiver, "/limited")
    sent_at = datetime.now(UTC)
    result = await d.ok("test_distribution_target", id=hook)
    assert (result["ok"], result["statusCode"], result["errorClass"]) == (False, 429, "rate_limited")
    paused_until = datetime.fromisoformat(result["target"]["pausedUntil"])
    assert sent_at + timedelta(seconds=119) <= paused_until <= datetime.now(UTC) + timedelta(seconds=120)
    assert result["target"]["pauseReason"] == "rate limited by the provider (HTTP 429); resumes automatically"
    action = result["recommendedNextAction"]
    assert (action["tool"], action["arguments"]) == ("get_distribution_target", {"id": hook})
    assert 115 <= action["afterSeconds"] <= 120
    stored = (await d.ok("get_distribution_target", id=hook))["target"]
    assert stored["pausedUntil"] == result["target"]["pausedUntil"]
    events = (await d.ok("list_operational_events", type="target.paused"))["items"]
    assert [event["targetId"] for event in events] == [hook]
    again = await d.error("test_distribution_target", id=hook)
    assert again["code"] == "TARGET_PAUSED"
    assert len(receiver.at("/limited")) == 1


async def test_a_replayed_test_returns_the_stored_outcome_without_sending_again(d: Doors, receiver: Receiver) -> None:
    receiver.script["/once"] = [Reply(200, headers={"X-Message-Id": "m-7"})]
    hook = await webhook(d, receiver, "/once")
    first = await d.ok("test_distribution_target", id=hook, idempotencyKey="test-once")
    replayed = await d.ok("test_distribution_target", id=hook, idempotencyKey="test-once")
    assert (first["ok"], first["externalId"], first["replayed"]) == (True, "m-7", False)
    assert replayed == {**first, "replayed": True}
    assert len(receiver.at("/once")) == 1


async def test_a_dry_run_previews_without_sending(d: Doors, receiver: Receiver) -> None:
    hook = await webhook(d, receiver, "/dry")
    result = await d.ok("test_distribution_target", id=hook, dryRun=True)
    assert (result["ok"], result["dryRun"], result["preview"]["contentType"]) == (None, True, "application/json")
    assert result["preview"]["body"]["data"]["title"] == "Herald test delivery"
    assert receiver.requests == []


async def test_a_refused_credential_opens_the_circuit_and_the_next_test_is_refused(
    d: Doors, receiver: Receiver
) -> None:
    receiver.script["/locked"] = [Reply(401), Reply(200)]
    hook = await webhook(d, receiver, "/locked")
    result = await d.ok("test_distribution_target", id=hook)
    assert (result["ok"], result["statusCode"], result["errorClass"]) == (False, 401, "systemic")
    target = (await d.ok("get_distribution_target", id=hook))["target"]
    assert target["circuit"]["state"] == "open"
    before = d.counts()
    error = await d.error("test_distribution_target", id=hook)
    assert error["code"] == "CIRCUIT_OPEN"
    action = error["recommendedNextAction"]
    assert (action["tool"], action["arguments"]) == ("resume_distribution_target", {"id": hook})
    assert len(receiver.at("/locked")) == 1  # the refused test sent nothing
    assert d.counts() == {**before, "audit_events": before["audit_events"] + 1}
    await d.ok("resume_distribution_target", id=hook)  # the operator says it is fixed: the circuit closes
    assert (await d.ok("test_distribution_target", id=hook))["ok"] is True
    assert len(receiver.at("/locked")) == 2

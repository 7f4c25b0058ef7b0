"""Every operation's behaviour through the MCP door (the parity test proves GraphQL has the same)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import SQLModel, select

from server import idempotency
from server.alerts.dispatch import tick_alerts
from server.db import session_scope
from server.keys.service import create_key
from server.models import IdempotencyRecord, Target
from server.operations import BY_TOOL, OPERATIONS
from server.targets.schemas import CreateTargetInput
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.marks import unless_sampled
from tests.support.receiver import Receiver
from tests.support.waiting import holds_async, until, until_async

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def stub(d: Doors, name: str = "stub", **config: object) -> str:
    return await factories.stub_target(d, name, config)


async def plan_when(d: Doors, plan_id: str, status: str) -> dict:
    """The plan once it reaches ``status`` (an AssertionError with the last read if it does not in 5 s)."""

    async def read() -> dict:
        return (await d.ok("get_distribution_plan", id=plan_id))["plan"]

    return await until_async(read, timeout=5, message=f"plan {plan_id} {status}", done=lambda p: p["status"] == status)


def quiet_counts(d: Doors) -> dict[str, int]:
    """Row counts once nothing more is being written (two reads 0.1 s apart agree)."""
    seen: list[dict[str, int]] = []

    def settled() -> bool:
        seen.append(d.counts())
        return len(seen) > 1 and seen[-1] == seen[-2]

    until(settled, timeout=5, interval=0.1, message="row counts settled")
    return seen[-1]


async def deliver(d: Doors, *target_ids: str, **extra: object) -> dict:
    body = await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=list(target_ids),
        awaitDelivery=True,
        awaitTimeoutSeconds=15,
        **extra,
    )
    return body["plan"]


MUTATIONS: dict[str, Callable[[dict[str, str]], dict[str, Any]]] = {
    "create_distribution_target": lambda ids: {"name": "new", "channel": "stub"},
    "update_distribution_target": lambda ids: {"id": ids["target"], "name": "renamed", "labels": ["x"]},
    "pause_distribution_target": lambda ids: {"id": ids["target"], "seconds": 60},
    "resume_distribution_target": lambda ids: {"id": ids["target"]},
    "rotate_target_signing_secret": lambda ids: {"id": ids["webhook"]},
    "test_distribution_target": lambda ids: {"id": ids["target"]},
    "create_distribution_plan": lambda ids: {"content": factories.content(), "targetIds": [ids["target"]]},
    "cancel_distribution_plan": lambda ids: {"id": ids["scheduled"]},
    "retry_failed_jobs": lambda ids: {"planId": ids["dead"]},
    "replay_dead_letters": lambda ids: {"planId": ids["dead"]},
    "halt_deliveries": lambda ids: {"reason": "drill"},
    "resume_deliveries": lambda ids: {},
    "create_api_key": lambda ids: {"name": "agent", "scopes": ["read"]},
    "revoke_api_key": lambda ids: {"id": ids["key"]},
    "upsert_recipients": lambda ids: {
        "recipients": [{"externalId": "new-1", "addresses": {"email": "n@example.com"}}, {"externalId": "ARN-1"}]
    },
    "delete_recipients": lambda ids: {"ids": [ids["recipient"]]},
    "unsubscribe_recipient": lambda ids: {"id": ids["recipient"], "channel": "stub"},
    "pause_distribution_plan": lambda ids: {"id": ids["scheduled"], "note": "checking the copy"},
    "resume_distribution_plan": lambda ids: {"id": ids["paused_plan"]},
    "create_distribution_schedule": lambda ids: {
        "name": "daily",
        "cron": "0 9 * * *",
        "timezone": "Europe/Berlin",
        "plan": {"targetIds": [ids["target"]], "content": factories.content()},
    },
    "update_distribution_schedule": lambda ids: {"id": ids["schedule"], "cron": "0 9 * * 1"},
    "delete_distribution_schedule": lambda ids: {"id": ids["schedule"]},
    "pause_distribution_schedule": lambda ids: {"id": ids["schedule"], "note": "holidays"},
    "resume_distribution_schedule": lambda ids: {"id": ids["paused_schedule"]},
    "trigger_distribution_schedule": lambda ids: {"id": ids["schedule"]},
    "backfill_distribution_schedule": lambda ids: {
        "id": ids["schedule"],
        "startAt": (datetime.now(UTC) - timedelta(days=15)).isoformat(),
        "endAt": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
    },
    "create_alert_rule": lambda ids: {
        "name": "ops",
        "eventTypes": ["target.*", "job.dead"],
        "targetId": ids["webhook"],
    },
    "delete_alert_rule": lambda ids: {"id": ids["alert_rule"]},
}
# What a dry run's hint adds to the echoed arguments.
HINT_EXTRAS: dict[str, dict[str, Any]] = {
    "create_distribution_plan": {"awaitDelivery": True},
    "rotate_target_signing_secret": {"overlapHours": 24.0},
}
# What a dry run's hint leaves out: test_distribution_target still builds its own hint, without the key.
HINT_OMITS: dict[str, set[str]] = {"test_distribution_target": {"idempotencyKey"}}


def test_the_dry_run_walk_covers_every_mutation() -> None:
    assert set(MUTATIONS) == {op.tool for op in OPERATIONS if op.mutation}


def everything(d: Doors) -> str:
    """Every row of every table, to show that a dry run changed nothing at all."""
    with session_scope(d.rt.engine) as session:
        tables = [
            [dict(row._mapping) for row in session.execute(table.select().order_by(*table.primary_key.columns))]
            for table in SQLModel.metadata.sorted_tables
        ]
    return json.dumps(tables, sort_keys=True, default=repr)


@pytest.mark.parametrize("tool", [pytest.param(tool, id=tool, marks=unless_sampled(tool)) for tool in MUTATIONS])
async def test_dry_run_writes_nothing(d: Doors, tool: str, monkeypatch: pytest.MonkeyPatch) -> None:
    target = await stub(d)
    broken = await stub(d, "broken", failTimes=1, failWith=400)
    await deliver(d, broken)
    doomed = await factories.stub_target(
        d, "doomed", {"failTimes": 9}, retryPolicy={**factories.FAST_RETRY, "maxAttempts": 1}
    )
    dead = (await deliver(d, doomed))["id"]
    webhook = (
        await d.ok("create_distribution_target", name="hook", channel="webhook", config={"url": "http://127.0.0.1:9/"})
    )["target"]["id"]
    later = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    scheduled = (
        await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], scheduledAt=later)
    )["plan"]["id"]
    spare = create_key(d.rt, "spare").id
    upserted = await d.ok("upsert_recipients", recipients=[{"externalId": "ARN-1", "addresses": {"stub": "a"}}])
    recipient = upserted["recipients"][0]["id"]
    paused_plan = (
        await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], scheduledAt=later)
    )["plan"]["id"]
    await d.ok("pause_distribution_plan", id=paused_plan)
    weekly = {"cron": "0 8 * * 1", "timezone": "Europe/Berlin"}
    template = {"targetIds": [target], "content": factories.content()}
    schedule = (await d.ok("create_distribution_schedule", name="weekly", plan=template, **weekly))["schedule"]["id"]
    paused_schedule = (
        await d.ok("create_distribution_schedule", name="held", plan=template, paused=True, note="hold", **weekly)
    )["schedule"]["id"]
    alert_rule = (await d.ok("create_alert_rule", name="kpi", eventTypes=["plan.kpi_missed"], targetId=webhook))[
        "rule"
    ]["id"]
    ids = {
        "target": target,
        "dead": dead,
        "webhook": webhook,
        "scheduled": scheduled,
        "key": spare,
        "recipient": recipient,
        "paused_plan": paused_plan,
        "schedule": schedule,
        "paused_schedule": paused_schedule,
        "alert_rule": alert_rule,
    }
    quiet_counts(d)
    tick_alerts(d.rt)  # every event so far dispatched: the worker's own alert tick has nothing left to mark
    before = everything(d)
    assert d.counts()["idempotency_records"] == 0
    sent: list[list[str]] = []
    published: list[dict] = []
    real_queue, real_events = d.rt.queue, d.rt.events

    class Counting:
        def enqueue(self, job_ids: list[str], eta: object = None) -> None:
            sent.append(job_ids)
            real_queue.enqueue(job_ids, eta)  # type: ignore[arg-type]

    class Listening:
        def publish(self, plan_id: str, event: dict) -> None:
            published.append(event)
            real_events.publish(plan_id, event)

        def subscribe(self, plan_id: str) -> Any:
            return real_events.subscribe(plan_id)

    monkeypatch.setattr(d.rt, "queue", Counting())
    monkeypatch.setattr(d.rt, "events", Listening())
    arguments = {"idempotencyKey": "dry-key", **MUTATIONS[tool](ids)}
    body = await d.ok(tool, dryRun=True, **arguments)
    assert body["dryRun"] is True and body["replayed"] is False
    assert everything(d) == before
    assert (sent, published) == ([], [])
    action = body["recommendedNextAction"]
    assert (action["tool"], action["graphql"]) == (tool, BY_TOOL[tool].graphql)
    assert "dryRun" not in action["arguments"]
    model = BY_TOOL[tool].input_model
    expected = {k: v for k, v in arguments.items() if k not in HINT_OMITS.get(tool, set())}
    assert model.model_validate(action["arguments"]) == model.model_validate({**expected, **HINT_EXTRAS.get(tool, {})})


async def test_a_dry_run_for_real_hint_carries_the_operation_reason(d: Doors) -> None:
    target = await stub(d)
    body = await d.ok("update_distribution_target", dryRun=True, id=target, name="renamed", labels=None)
    assert body["recommendedNextAction"] == {
        "tool": "update_distribution_target",
        "graphql": "updateDistributionTarget",
        "arguments": {"id": target, "name": "renamed"},
        "reason": "The update is valid; apply it.",
        "afterSeconds": None,
    }


async def test_plan_to_failing_target_then_fix_and_retry(d: Doors) -> None:
    target = await stub(d, failTimes=1, failWith=400)
    plan = await deliver(d, target)
    assert plan["status"] == "failed"
    job = plan["jobs"][0]
    assert (job["status"], job["errorClass"], job["attempts"]) == ("failed", "permanent", 1)
    got = await d.ok("get_distribution_plan", id=plan["id"])
    assert got["recommendedNextAction"]["tool"] == "update_distribution_target"
    fixed = await d.ok("update_distribution_target", id=target, config={})
    assert fixed["recommendedNextAction"] == {
        "tool": "retry_failed_jobs",
        "graphql": "retryFailedJobs",
        "arguments": {"planId": plan["id"]},
        "reason": f"Target updated; retry the jobs that failed on it in plan {plan['id']}.",
        "afterSeconds": None,
    }
    retried = await d.ok("retry_failed_jobs", planId=plan["id"])
    assert retried["jobIds"] == [job["id"]]
    current = await plan_when(d, plan["id"], "succeeded")
    assert current["jobs"][0]["status"] == "delivered" and current["jobs"][0]["attempts"] == 2


async def test_dead_letters_are_replayed(d: Doors) -> None:
    retry = {**factories.FAST_RETRY, "maxAttempts": 2}
    target = await factories.stub_target(d, "flaky", {"failTimes": 2}, retryPolicy=retry)
    plan = await deliver(d, target)
    assert plan["status"] == "failed" and plan["counts"]["dead"] == 1
    hint = (await d.ok("get_distribution_plan", id=plan["id"]))["recommendedNextAction"]
    assert (hint["tool"], hint["arguments"]) == ("replay_dead_letters", {"planId": plan["id"]})
    replayed = await d.ok(hint["tool"], **hint["arguments"])
    assert replayed["jobIds"] == [plan["jobs"][0]["id"]]
    current = await plan_when(d, plan["id"], "succeeded")
    assert current["counts"] == {**current["counts"], "delivered": 1, "dead": 0}
    assert (await d.ok("replay_dead_letters", planId=plan["id"]))["jobIds"] == []


@pytest.mark.slow  # watches past the scheduled time that nothing arrives
async def test_cancel_stops_scheduled_jobs_and_nothing_is_sent(d: Doors, receiver: Receiver) -> None:
    target = await factories.webhook_target(d, receiver.url + "/c")
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    plan = (await d.ok("create_distribution_plan", content=factories.content(), targetIds=[target], scheduledAt=soon))[
        "plan"
    ]
    assert plan["status"] == "scheduled" and plan["jobs"][0]["status"] == "scheduled"
    cancelled = await d.ok("cancel_distribution_plan", id=plan["id"])
    assert cancelled["plan"]["status"] == "cancelled"
    assert cancelled["plan"]["jobs"][0]["status"] == "cancelled"
    # Past the scheduled time (1 s) with margin: nothing reaches the receiver all along.
    await holds_async(lambda: receiver.at("/c") == [], 1.6, message="no request to the cancelled plan's target")
    again = await d.error("cancel_distribution_plan", id=plan["id"])
    assert again["code"] == "CONFLICT"


@pytest.mark.slow  # waits for a plan scheduled a second ahead
async def test_scheduled_plan_waits_for_its_time(d: Doors, receiver: Receiver) -> None:
    target = await factories.webhook_target(d, receiver.url + "/s")
    at = datetime.now(UTC) + timedelta(seconds=1)
    plan = await deliver(d, target, scheduledAt=at.isoformat())
    assert plan["status"] == "succeeded"
    [request] = receiver.at("/s")
    assert request.at >= at.timestamp() - 0.05


async def test_same_content_version_is_not_sent_twice_unless_asked(d: Doors) -> None:
    target = await stub(d)
    content = factories.content(id="once")
    first = await d.ok("create_distribution_plan", content=content, targetIds=[target], awaitDelivery=True)
    second = await d.ok("create_distribution_plan", content=content, targetIds=[target], awaitDelivery=True)
    assert first["plan"]["status"] == "succeeded"
    assert second["plan"]["jobs"][0]["status"] == "skipped"
    assert first["plan"]["id"] in second["plan"]["jobs"][0]["skipReason"]
    assert second["recommendedNextAction"]["arguments"]["redistribute"] is True
    third = await d.ok(
        "create_distribution_plan", content=content, targetIds=[target], awaitDelivery=True, redistribute=True
    )
    assert third["plan"]["jobs"][0]["status"] == "delivered"


@pytest.mark.slow  # waits out a one-second awaitDelivery timeout
async def test_pause_and_resume(d: Doors) -> None:
    target = await stub(d)
    paused = await d.ok("pause_distribution_target", id=target, seconds=600, reason="maintenance")
    assert paused["target"]["pauseReason"] == "maintenance"
    plan = await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[target],
        awaitDelivery=True,
        awaitTimeoutSeconds=1,
    )
    assert plan["timedOut"] is True and plan["plan"]["jobs"][0]["attempts"] == 0
    # A pause longer than a wait hint's cap names what lifts it: the resume of that target.
    hinted = plan["recommendedNextAction"]
    assert (hinted["tool"], hinted["arguments"], hinted["afterSeconds"]) == (
        "resume_distribution_target",
        {"id": target},
        None,
    )
    assert hinted["reason"].startswith("Target stub is held (target paused: maintenance) until ")
    test = await d.error("test_distribution_target", id=target)
    assert test["code"] == "TARGET_PAUSED"
    await d.ok("resume_distribution_target", id=target)
    current = await plan_when(d, plan["plan"]["id"], "succeeded")
    assert current["jobs"][0]["attempts"] == 1


async def test_list_pagination_is_bounded_and_has_a_cursor(d: Doors) -> None:
    ids = [await stub(d, f"t{i}") for i in range(5)]
    first = await d.ok("list_distribution_targets", limit=2)
    assert [t["id"] for t in first["items"]] == ids[:2]
    assert first["recommendedNextAction"]["arguments"] == {"cursor": ids[1], "limit": 2}
    second = await d.ok("list_distribution_targets", limit=2, cursor=first["nextCursor"])
    third = await d.ok("list_distribution_targets", limit=2, cursor=second["nextCursor"])
    assert [t["id"] for t in second["items"] + third["items"]] == ids[2:]
    assert third["nextCursor"] is None
    too_many = await d.error("list_distribution_targets", limit=101)
    assert (too_many["code"], too_many["field"]) == ("VALIDATION_ERROR", "limit")


async def test_test_target_reports_and_hints(d: Doors, receiver: Receiver) -> None:
    ok = await factories.webhook_target(d, receiver.url + "/t", name="ok")
    result = await d.ok("test_distribution_target", id=ok)
    assert result["ok"] is True and result["statusCode"] == 200
    bad = await stub(d, "bad", failTimes=5, failWith=401)
    result = await d.ok("test_distribution_target", id=bad)
    assert (result["ok"], result["errorClass"]) == (False, "systemic")
    assert result["recommendedNextAction"]["tool"] == "update_distribution_target"


async def test_ssrf_guard_refuses_private_addresses_at_create(tmp_path: Path) -> None:
    async with doors(tmp_path, allowed_networks="") as d:
        for url in ("http://127.0.0.1:9/x", "http://10.1.2.3/x", "http://[::1]/x", "http://169.254.169.254/latest"):
            for dry in (True, False):
                error = await d.error(
                    "create_distribution_target", name="evil", channel="webhook", config={"url": url}, dryRun=dry
                )
                assert (error["code"], error["field"]) == ("TARGET_ADDRESS_FORBIDDEN", "config.url")
                assert "HERALD_ALLOWED_NETWORKS" in error["message"]
        assert d.counts()["distribution_targets"] == 0


async def test_credentials_are_write_only_and_encrypted(d: Doors, receiver: Receiver) -> None:
    token = "tok-very-secret-4242"
    created = await d.ok(
        "create_distribution_target",
        name="partner",
        channel="http",
        config={"url": receiver.url + "/p"},
        credentials={"bearerToken": token},
    )
    assert created["target"]["hasCredentials"] is True
    assert token not in str(created) and token not in str(await d.ok("list_distribution_targets"))
    with session_scope(d.rt.engine) as session:
        blob = session.exec(select(Target.credentials_blob)).one()
    assert token.encode() not in blob
    await deliver(d, created["target"]["id"])
    assert receiver.at("/p")[0].headers["Authorization"] == f"Bearer {token}"


async def test_idempotency_key_in_use_and_expiry(d: Doors) -> None:
    arguments = {"name": "x", "channel": "stub"}
    normalized = CreateTargetInput.model_validate(arguments).model_dump(mode="json", by_alias=True)
    digest = idempotency.request_hash("create_distribution_target", normalized)
    assert idempotency.claim(d.rt, "ws_default", "busy", "create_distribution_target", digest) is None
    busy = await d.error("create_distribution_target", idempotencyKey="busy", **arguments)
    assert busy["code"] == "IDEMPOTENCY_KEY_IN_USE"
    assert busy["recommendedNextAction"]["tool"] == "create_distribution_target"
    assert busy["recommendedNextAction"]["afterSeconds"] == 5.0
    assert d.counts()["distribution_targets"] == 0
    with session_scope(d.rt.engine) as session:
        record = session.exec(select(IdempotencyRecord).where(IdempotencyRecord.key == "busy")).one()
        record.expires_at = datetime.now(UTC) - timedelta(seconds=1)
        session.add(record)
    fresh = await d.ok("create_distribution_target", idempotencyKey="busy", name="y", channel="stub")
    assert fresh["replayed"] is False


async def test_failed_request_releases_its_key(d: Doors) -> None:
    bad = await d.error(
        "create_distribution_target", idempotencyKey="k", name="x", channel="stub", config={"failTimes": -1}
    )
    assert (bad["code"], bad["field"]) == ("VALIDATION_ERROR", "config.failTimes")
    good = await d.ok("create_distribution_target", idempotencyKey="k", name="x", channel="stub")
    assert good["replayed"] is False
    assert (await d.ok("create_distribution_target", idempotencyKey="k", name="x", channel="stub"))["replayed"] is True

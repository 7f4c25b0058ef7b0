"""Alerts through Herald, on SQLite and on PostgreSQL + Redis: an event reaches an alert target as a
delivery with exact content, at most once per interval per subject, never about alert traffic itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlmodel import func, select

from graphql_schema.schema import schema
from server.activity.recorder import record_event
from server.alerts.dispatch import tick_alerts
from server.clock import TestClock
from server.db import session_scope
from server.models import AlertRule, OperationalEvent, Plan
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
# Circuits open after 4 failed attempts and half-open after 1 s; the worker's own tick waits an hour, so
# the test alone decides when alerts are dispatched.
SETTINGS = {
    "circuit_min_attempts": 4,
    "circuit_cooldown_seconds": 1.0,
    "circuit_window_seconds": 60,
    "scheduler_tick_seconds": 3600,
}


@pytest.fixture(params=MODES)
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **mode_settings(request, **SETTINGS)) as opened:
        opened.rt.clock = TestClock(T0)
        yield opened


async def tick(d: Doors, at: datetime = T0) -> int:
    assert isinstance(d.rt.clock, TestClock)
    d.rt.clock.set(at)
    return await anyio.to_thread.run_sync(tick_alerts, d.rt)


async def events(d: Doors, **filters: Any) -> list[dict[str, Any]]:
    return list((await d.ok("list_operational_events", **filters))["items"])


async def event_of(d: Doors, type_: str, **filters: Any) -> dict[str, Any]:
    async def found() -> list[dict[str, Any]]:
        return await events(d, type=type_, **filters)

    [event] = await until_async(found, timeout=15, message=f"a {type_} event")
    return event


def alert_plans(d: Doors) -> list[Plan]:
    with session_scope(d.rt.engine) as session:
        return list(session.exec(select(Plan).where(Plan.origin == "alert").order_by(Plan.id)).all())


def rule_rows(d: Doors) -> int:
    with session_scope(d.rt.engine) as session:
        return session.exec(select(func.count()).select_from(AlertRule)).one()


async def rule(d: Doors, target_id: str, *types: str, **fields: Any) -> dict[str, Any]:
    body = await d.ok("create_alert_rule", name="ops", eventTypes=list(types), targetId=target_id, **fields)
    return dict(body["rule"])


def record(d: Doors, type_: str, message: str, **ids: Any) -> None:
    with session_scope(d.rt.engine) as session:
        record_event(session, d.principal.workspace_id, type_, message, **ids)


def zulu(moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_a_circuit_opening_reaches_a_webhook_as_an_alert(d: Doors, receiver: Receiver) -> None:
    partner = await factories.stub_target(d, "partner", {"failTimes": 4}, retryPolicy=factories.FAST_RETRY)
    hook = await factories.webhook_target(d, receiver.url + "/ops", name="ops-hook")
    made = await rule(d, hook, "target.circuit_opened", "job.dead")
    assert made["eventTypes"] == ["target.circuit_opened", "job.dead"] and made["minIntervalSeconds"] == 300
    await factories.plan(d, partner)
    opened = await event_of(d, "target.circuit_opened", targetId=partner)
    assert await tick(d) == 1
    [request] = receiver.wait_for("/ops", 1, timeout=15)
    next_action = {
        "tool": "get_distribution_target",
        "graphql": "distributionTarget",
        "arguments": {"id": partner},
        "reason": "The target's circuit is open: its jobs wait. Check the receiver, its config and credentials; "
        "update_distribution_target or resume_distribution_target once it is healthy.",
        "afterSeconds": None,
    }
    assert request.json() == {
        "type": "content.published",
        "data": {
            "id": f"alert-{opened['id']}",
            "version": made["id"],
            "title": "Herald alert (ops): target.circuit_opened",
            "body": "Circuit of partner opened: 4 of the last 4 attempts failed.\nNext: " + next_action["reason"],
            "excerpt": None,
            "url": None,
            "metadata": {
                "alert": {
                    "ruleId": made["id"],
                    "ruleName": "ops",
                    "eventId": opened["id"],
                    "eventType": "target.circuit_opened",
                    "occurredAt": zulu(opened["createdAt"]),
                    "workspaceId": d.principal.workspace_id,
                    "targetId": partner,
                    "planId": None,
                    "jobId": None,
                    "data": opened["data"],
                    "moreSince": None,
                    "recommendedNextAction": next_action,
                }
            },
        },
    }
    [plan] = alert_plans(d)
    assert plan.target_ids == [hook]
    assert await tick(d) == 0  # each event is dispatched once


async def test_at_most_one_alert_per_interval_per_subject_then_n_more_since(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/ops")
    a, b = "tgt_01aaaaaaaaaaaaaaaaaaaaaaaa", "tgt_01bbbbbbbbbbbbbbbbbbbbbbbb"
    made = await rule(d, hook, "target.*", minIntervalSeconds=300)
    record(d, "target.paused", "A paused (1).", target_id=a)
    record(d, "target.paused", "B paused.", target_id=b)
    assert await tick(d, T0) == 2  # one per subject
    record(d, "target.paused", "A paused (2).", target_id=a)
    record(d, "target.circuit_opened", "A circuit opened.", target_id=a)
    assert await tick(d, T0 + timedelta(seconds=299)) == 0  # both held back and counted
    record(d, "target.paused", "A paused (3).", target_id=a)
    assert await tick(d, T0 + timedelta(seconds=300)) == 1
    bodies = [r.json()["data"] for r in receiver.wait_for("/ops", 3, timeout=15)]
    last = next(body for body in bodies if body["body"].startswith("A paused (3)."))
    assert last["body"].splitlines()[1] == "2 more since 2026-12-01T09:00:00Z (at most one alert every 300s)."
    assert last["metadata"]["alert"]["moreSince"] == {"count": 2, "since": "2026-12-01T09:00:00Z"}
    assert sorted(body["body"].splitlines()[0] for body in bodies) == ["A paused (1).", "A paused (3).", "B paused."]
    assert {p.content["version"] for p in alert_plans(d)} == {made["id"]}
    # Held back with no event after it: the interval's end sends the count on its own.
    record(d, "target.paused", "A paused (4).", target_id=a)
    assert await tick(d, T0 + timedelta(seconds=301)) == 0
    assert await tick(d, T0 + timedelta(seconds=599)) == 0
    assert await tick(d, T0 + timedelta(seconds=600)) == 1
    held = [r.json()["data"] for r in receiver.wait_for("/ops", 4, timeout=15)][-1]
    assert held["title"] == f"Herald alert (ops): 1 more about {a}"
    assert held["body"] == (
        f"1 more event(s) matching target.* about {a} since 2026-12-01T09:05:00Z (at most one alert every 300s)."
        "\nNext: See the events held back."
    )
    assert held["metadata"]["alert"]["recommendedNextAction"]["arguments"] == {"targetId": a}
    assert await tick(d, T0 + timedelta(seconds=1200)) == 0


async def test_no_loop_when_the_alert_target_itself_fails(d: Doors, receiver: Receiver) -> None:
    receiver.script["/ops"] = [Reply(503)]
    failing = {"maxAttempts": 5, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.02}
    hook = await factories.webhook_target(d, receiver.url + "/ops", retryPolicy=failing)
    partner = await factories.stub_target(d, "partner")
    await rule(d, hook, "*", minIntervalSeconds=0)
    await d.ok("pause_distribution_target", id=partner)
    assert await tick(d) == 1
    [plan] = alert_plans(d)
    # The alert's own delivery opens the hook's circuit (4 failures), then dies: its job, its plan.
    await event_of(d, "target.circuit_opened", targetId=hook)
    await event_of(d, "job.dead", planId=plan.id)
    await event_of(d, "plan.failed", planId=plan.id)
    assert await tick(d, T0 + timedelta(hours=1)) == 0
    assert [p.id for p in alert_plans(d)] == [plan.id]
    with session_scope(d.rt.engine) as session:
        undispatched = select(func.count()).where(OperationalEvent.dispatched_at == None)  # noqa: E711
        assert session.exec(undispatched.select_from(OperationalEvent)).one() == 0


KPI = {
    "firstAttemptSuccessRate": 0.99,
    "deliveryRate": 0.9999,
    "averageDeliverySeconds": 2.5,
    "completionWithinSeconds": 300,
}


async def ended(d: Doors, plan_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return dict((await d.ok("get_distribution_plan", id=plan_id))["plan"])

    return await until_async(read, timeout=15, message="plan ended", done=lambda p: p["completedAt"] is not None)


async def test_kpi_missed_fires_for_a_plan_missing_its_thresholds_only(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/stakeholders")
    await rule(d, hook, "plan.kpi_missed", minIntervalSeconds=0)
    good = await factories.stub_target(d, "good")
    flaky = await factories.stub_target(d, "flaky", {"failTimes": 1}, retryPolicy=factories.FAST_RETRY)
    met = (await factories.plan(d, good, kpi=KPI))["plan"]
    missed = (await factories.plan(d, flaky, kpi=KPI))["plan"]
    assert met["kpi"] == KPI
    assert (await ended(d, met["id"]))["status"] == "succeeded"
    assert (await ended(d, missed["id"]))["status"] == "succeeded"
    [event] = await events(d, type="plan.kpi_missed")
    assert event["planId"] == missed["id"] and event["data"]["missed"] == ["firstAttemptSuccessRate"]
    assert event["message"] == (
        f"Plan {missed['id']} ended succeeded and missed its KPIs: firstAttemptSuccessRate 0 (threshold 0.99)."
    )
    report = (await d.ok("get_plan_report", id=met["id"]))["report"]
    assert [(c["name"], c["met"]) for c in report["kpi"]["checks"]] == [(name, True) for name in KPI]
    assert report["kpi"]["missed"] == []
    missed_report = (await d.ok("get_plan_report", id=missed["id"]))["report"]["kpi"]
    assert missed_report["checks"][0] == {
        "name": "firstAttemptSuccessRate",
        "threshold": 0.99,
        "measured": 0.0,
        "met": False,
    }
    assert await tick(d) == 1
    [request] = receiver.wait_for("/stakeholders", 1, timeout=15)
    assert request.json()["data"]["metadata"]["alert"]["recommendedNextAction"]["arguments"] == {"id": missed["id"]}


async def test_a_plan_without_kpi_records_no_kpi_event(d: Doors) -> None:
    flaky = await factories.stub_target(d, "flaky", {"failTimes": 1}, retryPolicy=factories.FAST_RETRY)
    plan = (await factories.plan(d, flaky))["plan"]
    assert plan["kpi"] is None
    await ended(d, plan["id"])
    assert await events(d, type="plan.kpi_missed") == []
    assert (await d.ok("get_plan_report", id=plan["id"]))["report"]["kpi"] is None


async def test_dry_run_and_refusals_write_nothing(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/ops")
    before = d.counts()
    dry = await d.ok("create_alert_rule", name="ops", eventTypes=["job.dead"], targetId=hook, dryRun=True)
    assert dry["dryRun"] is True and dry["rule"]["eventTypes"] == ["job.dead"]
    assert dry["recommendedNextAction"]["tool"] == "create_alert_rule"
    unknown = await d.error(
        "create_alert_rule", name="ops", eventTypes=["job.dead"], targetId="tgt_01zzzzzzzzzzzzzzzzzzzzzzzz"
    )
    assert unknown["code"] == "NOT_FOUND" and unknown["field"] == "targetId"
    bad = await d.error("create_alert_rule", name="ops", eventTypes=["job.dead", "jobs.*"], targetId=hook)
    assert bad["code"] == "VALIDATION_ERROR" and bad["field"] == "eventTypes.1"
    assert rule_rows(d) == 0 and d.counts() == {**before, "audit_events": d.counts()["audit_events"]}


async def test_list_and_delete(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/ops")
    made = await rule(d, hook, "plan.partial", "plan.failed", filters={"targetLabels": ["partners"]})
    listed = (await d.ok("list_alert_rules"))["items"]
    assert [item["id"] for item in listed] == [made["id"]]
    assert listed[0]["filters"] == {"targetIds": [], "targetLabels": ["partners"], "planIds": []}
    dry = await d.ok("delete_alert_rule", id=made["id"], dryRun=True)
    assert dry["dryRun"] is True and rule_rows(d) == 1
    await d.ok("delete_alert_rule", id=made["id"])
    assert rule_rows(d) == 0 and (await d.ok("list_alert_rules"))["items"] == []
    missing = await d.error("delete_alert_rule", id=made["id"])
    assert missing["code"] == "NOT_FOUND"


README_MUTATION = """
mutation {
  createAlertRule(name: "ops", eventTypes: ["target.circuit_opened", "job.dead"],
                  targetId: "%(hook)s", minIntervalSeconds: 300) {
    ... on AlertRulePayload { rule { id eventTypes } recommendedNextAction { tool reason } }
    ... on OperationError { code field message }
  }
  createDistributionPlan(targetIds: ["%(stub)s"], content: {id: "morning-note", version: "2026-12-02",
      title: "Good morning", body: "…"},
    kpi: {firstAttemptSuccessRate: 0.99, deliveryRate: 0.9999, averageDeliverySeconds: 2.5,
          completionWithinSeconds: 300}) {
    ... on PlanPayload { plan { id kpi { deliveryRate completionWithinSeconds } } }
  }
}
"""


async def test_the_readme_graphql_example(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/ops")
    stub = await factories.stub_target(d, "advisors")
    context = {"runtime": d.rt, "principal": d.principal, "request_id": "req_g", "request": None, "response": None}
    result = await schema.execute(README_MUTATION % {"hook": hook, "stub": stub}, context_value=context)
    assert result.errors is None and result.data is not None
    created = result.data["createAlertRule"]
    assert created["rule"]["eventTypes"] == ["target.circuit_opened", "job.dead"]
    assert created["recommendedNextAction"]["tool"] == "test_distribution_target"
    assert result.data["createDistributionPlan"]["plan"]["kpi"] == {
        "deliveryRate": 0.9999,
        "completionWithinSeconds": 300.0,
    }
    assert [rule["id"] for rule in (await d.ok("list_alert_rules"))["items"]] == [created["rule"]["id"]]


async def test_a_429_pause_and_a_dead_job_alert_once_each(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/ops")
    await rule(d, hook, "target.paused", "job.dead", minIntervalSeconds=0)
    limited = await factories.stub_target(d, "limited", {"rateLimitTimes": 1, "retryAfterSeconds": 0.2})
    doomed = await factories.stub_target(
        d, "doomed", {"failTimes": 9}, retryPolicy={**factories.FAST_RETRY, "maxAttempts": 1}
    )
    await factories.plan(d, limited)
    await factories.plan(d, doomed)
    paused = await event_of(d, "target.paused", targetId=limited)
    dead = await event_of(d, "job.dead", targetId=doomed)
    assert await tick(d) == 2
    bodies = [r.json()["data"] for r in receiver.wait_for("/ops", 2, timeout=15)]
    assert sorted(body["metadata"]["alert"]["eventId"] for body in bodies) == sorted([paused["id"], dead["id"]])
    by_type = {body["metadata"]["alert"]["eventType"]: body for body in bodies}
    assert by_type["job.dead"]["metadata"]["alert"]["recommendedNextAction"]["arguments"] == {"targetId": doomed}
    assert by_type["target.paused"]["body"].splitlines()[0] == paused["message"]

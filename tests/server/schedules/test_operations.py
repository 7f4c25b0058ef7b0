"""Schedule operations through both doors on one embedded runtime, time stepped by a test clock:
refusals, dry run, trigger, backfill, fetched content with its conditions, fetch failures."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from sqlmodel import func, select
from starlette.applications import Starlette
from starlette.routing import Route

from graphql_schema.app import make_graphql_app
from server.auth_middleware import BearerAuthMiddleware
from server.clock import TestClock
from server.db import session_scope
from server.models import OperationalEvent, Schedule, ScheduleRun
from server.schedules.firing import tick_schedules
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until_async

RUN_ENDS = ("fired", "skipped", "failed", "pending")
pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)  # Monday 08:00 in Berlin


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    # The worker's own tick waits an hour between rounds: the test alone decides when schedules tick.
    async with doors(tmp_path, scheduler_tick_seconds=3600) as opened:
        opened.rt.clock = TestClock(T0)
        yield opened


async def tick(d: Doors, when: datetime) -> int:
    assert isinstance(d.rt.clock, TestClock)
    d.rt.clock.set(when)
    return await anyio.to_thread.run_sync(tick_schedules, d.rt)


def schedule_rows(d: Doors) -> tuple[int, int]:
    with session_scope(d.rt.engine) as session:
        return (
            session.exec(select(func.count()).select_from(Schedule)).one(),
            session.exec(select(func.count()).select_from(ScheduleRun)).one(),
        )


async def plan_done(d: Doors, plan_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return (await d.ok("get_distribution_plan", id=plan_id))["plan"]

    return await until_async(read, timeout=10, message=f"plan {plan_id} ends", done=lambda p: p["completedAt"])


def template(target: str) -> dict[str, Any]:
    return {"targetIds": [target], "content": factories.content(id="weekly-report", title="Weekly report")}


REFUSALS: list[tuple[dict[str, Any], str, str]] = [
    ({"cron": "0 8 * *"}, "VALIDATION_ERROR", "cron"),
    ({"cron": "0 8 * * 1", "timezone": "Europe/Berlln"}, "VALIDATION_ERROR", "timezone"),
    (
        {"cron": "0 8 * * 1", "plan": {"targetIds": ["tgt_nope"], "content": factories.content()}},
        "NOT_FOUND",
        "targetIds",
    ),
    ({"cron": "0 8 * * 1", "plan": {"targetIds": "TARGET"}}, "VALIDATION_ERROR", "plan.content"),
    ({"cron": "0 8 * * 1", "when": {"jmespath": "a", "op": "exists"}}, "VALIDATION_ERROR", "when"),
    (
        {"cron": "0 8 * * 1", "contentSource": {"url": "http://10.1.2.3/report.json"}},
        "TARGET_ADDRESS_FORBIDDEN",
        "contentSource.url",
    ),
    (
        {"cron": "0 8 * * 1", "contentSource": {"url": "http://127.0.0.1:9/x", "map": {"title": "a[?"}}},
        "VALIDATION_ERROR",
        "contentSource.map.title",
    ),
    ({"intervalSeconds": 30}, "VALIDATION_ERROR", "intervalSeconds"),
]


async def test_a_refused_schedule_names_its_field_and_writes_nothing(d: Doors) -> None:
    target = await factories.stub_target(d)
    for fields, code, field in REFUSALS:
        fields = dict(fields)
        plan = fields.pop("plan", template(target))
        if plan.get("targetIds") == "TARGET":
            plan = {"targetIds": [target]}
        before = d.counts()
        body = await d.error("create_distribution_schedule", name="r", plan=plan, **fields)
        assert (body["code"], body["field"]) == (code, field), body
        assert body["recommendedNextAction"]["reason"]
        after = d.counts()
        after.pop("audit_events"), before.pop("audit_events")  # a refusal may be audited; nothing else is written
        assert (after, schedule_rows(d)) == (before, (0, 0))


async def test_dry_run_shows_the_next_runs_and_writes_nothing_then_create_and_read_over_graphql(d: Doors) -> None:
    target = await factories.stub_target(d)
    fields = {"name": "weekly", "cron": "0 8 * * 1", "timezone": "Europe/Berlin", "plan": template(target)}
    dry = await d.ok("create_distribution_schedule", dryRun=True, **fields)
    assert [run["localTime"] for run in dry["schedule"]["nextRuns"][:2]] == [
        "2026-11-30T08:00:00+01:00",  # created at 08:00 sharp: this one still runs
        "2026-12-07T08:00:00+01:00",
    ]
    assert dry["recommendedNextAction"]["tool"] == "create_distribution_schedule"
    assert "dryRun" not in dry["recommendedNextAction"]["arguments"]
    assert schedule_rows(d) == (0, 0)
    created = (await d.ok("create_distribution_schedule", **fields))["schedule"]
    query = """query($id: ID!) { distributionSchedule(id: $id) { __typename
        ... on ScheduleResult { schedule { name timezone dstPolicy overlap nextRuns { nominalAt localTime } }
                                recommendedNextAction { tool graphql arguments } } } }"""
    app = BearerAuthMiddleware(Starlette(routes=[Route("/graphql", make_graphql_app(d.rt), methods=["POST"])]), d.rt)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald") as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": {"id": created["id"]}},
            headers={"Authorization": f"Bearer {d.key}"},
        )
    read = response.json()["data"]["distributionSchedule"]
    schedule = read["schedule"]
    assert (schedule["timezone"], schedule["dstPolicy"], schedule["overlap"]) == ("Europe/Berlin", "VIXIE", "SKIP")
    assert len(schedule["nextRuns"]) == 10
    assert schedule["nextRuns"][1] == {
        "nominalAt": "2026-12-07T07:00:00+00:00",
        "localTime": "2026-12-07T08:00:00+01:00",
    }
    assert read["recommendedNextAction"]["graphql"] == "distributionSchedule"


async def test_trigger_runs_now_and_backfill_runs_a_past_range_once(d: Doors) -> None:
    target = await factories.stub_target(d)
    await tick(d, T0 + timedelta(hours=3))
    sid = (
        await d.ok(
            "create_distribution_schedule",
            name="hourly",
            intervalSeconds=3600,
            startAt=T0.isoformat(),
            plan=template(target),
            paused=True,
            note="setting up",
        )
    )["schedule"]["id"]
    triggered = await d.ok("trigger_distribution_schedule", id=sid)
    [run] = triggered["runs"]
    assert (run["trigger"], run["status"], run["nominalAt"]) == ("manual", "fired", "2026-11-30T10:00:00Z")
    assert triggered["recommendedNextAction"] == {
        "tool": "get_distribution_plan",
        "graphql": "distributionPlan",
        "arguments": {"id": run["planId"]},
        "reason": "The run's plan is delivering; follow it.",
        "afterSeconds": 2.0,
    }
    await plan_done(d, run["planId"])
    filled = await d.ok(
        "backfill_distribution_schedule", id=sid, startAt=T0.isoformat(), endAt=(T0 + timedelta(hours=2)).isoformat()
    )
    assert [(r["nominalAt"][11:16], r["trigger"], r["status"]) for r in filled["runs"]] == [
        ("07:00", "backfill", "fired"),
        ("08:00", "backfill", "fired"),
        ("09:00", "backfill", "fired"),
    ]
    plans = [(await plan_done(d, r["planId"])) for r in filled["runs"]]
    assert [(p["scheduleId"], p["scheduledFor"][11:16], p["status"]) for p in plans] == [
        (sid, "07:00", "succeeded"),
        (sid, "08:00", "succeeded"),
        (sid, "09:00", "succeeded"),
    ]
    again = await d.ok(
        "backfill_distribution_schedule", id=sid, startAt=T0.isoformat(), endAt=(T0 + timedelta(hours=2)).isoformat()
    )
    assert again["runs"] == []
    assert again["recommendedNextAction"]["reason"] == "Every nominal time in the range already has a run."
    late = await d.error(
        "backfill_distribution_schedule", id=sid, startAt=T0.isoformat(), endAt=(T0 + timedelta(days=1)).isoformat()
    )
    assert (late["code"], late["field"]) == ("VALIDATION_ERROR", "endAt")
    assert schedule_rows(d) == (1, 4)
    read = (await d.ok("get_distribution_schedule", id=sid))["schedule"]
    assert read["paused"] is True and read["nextRuns"] == []  # paused: trigger and backfill ran anyway
    assert read["runsStarted"] == 4


async def test_fetched_content_runs_when_its_condition_holds_and_it_changed(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/hook")
    report = {"report": {"title": "Week 48", "body": "Revenue up.", "kpis": {"revenue": 120}}}
    changed = {"report": {"title": "Week 49", "body": "Revenue up again.", "kpis": {"revenue": 130}}}
    low = {"report": {"title": "Week 50", "body": "Revenue down.", "kpis": {"revenue": 50}}}
    receiver.script["/report.json"] = [Reply(body=json.dumps(doc)) for doc in (report, report, changed, low)]
    sid = (
        await d.ok(
            "create_distribution_schedule",
            name="kpis",
            intervalSeconds=3600,
            startAt=T0.isoformat(),
            plan={"targetIds": [hook]},
            contentSource={
                "url": receiver.url + "/report.json",
                "map": {"title": "report.title", "body": "report.body", "metadata": "report.kpis"},
            },
            skipIfUnchanged=True,
            when={"jmespath": "report.kpis.revenue", "op": "gte", "value": 100},
        )
    )["schedule"]["id"]
    for hour in range(4):
        await tick(d, T0 + timedelta(hours=hour))
        runs = (await d.ok("get_distribution_schedule", id=sid))["schedule"]["recentRuns"]
        if runs[0]["planId"]:
            await plan_done(d, runs[0]["planId"])
    runs = list(reversed((await d.ok("get_distribution_schedule", id=sid))["schedule"]["recentRuns"]))
    assert [(r["status"], r["reason"]) for r in runs] == [
        ("fired", None),
        ("skipped", f"content unchanged since run {runs[0]['id']}"),
        ("fired", None),
        ("skipped", "condition not met: report.kpis.revenue gte 100 (found 50)"),
    ]
    sent = [request.json() for request in receiver.at("/hook")]
    assert [(body["data"]["title"], body["data"]["metadata"]) for body in sent] == [
        ("Week 48", {"revenue": 120}),
        ("Week 49", {"revenue": 130}),
    ]
    assert len(receiver.at("/report.json")) == 4


async def test_a_failed_fetch_is_retried_then_recorded_as_failed(d: Doors, receiver: Receiver) -> None:
    hook = await factories.webhook_target(d, receiver.url + "/hook")
    receiver.script["/down.json"] = [Reply(status=503)]
    sid = (
        await d.ok(
            "create_distribution_schedule",
            name="flaky-source",
            cron="0 8 * * 1",
            timezone="Europe/Berlin",
            plan={"targetIds": [hook]},
            contentSource={"url": receiver.url + "/down.json", "map": {"title": "title"}},
        )
    )["schedule"]["id"]
    await tick(d, T0)
    [run] = (await d.ok("get_distribution_schedule", id=sid))["schedule"]["recentRuns"]
    reason = f"content fetch failed: HTTP 503 from {receiver.url}/down.json"
    assert (run["status"], run["attempts"]) == ("pending", 1)
    assert run["reason"] == f"{reason}; attempt 1 of 3, next at 07:00:30Z"
    assert await tick(d, T0 + timedelta(seconds=29)) == 0 and len(receiver.at("/down.json")) == 1
    await tick(d, T0 + timedelta(seconds=30))
    await tick(d, T0 + timedelta(seconds=150))
    got = await d.ok("get_distribution_schedule", id=sid)
    [run] = got["schedule"]["recentRuns"]
    assert (run["status"], run["attempts"], run["reason"]) == ("failed", 3, f"{reason} (after 3 attempt(s))")
    assert got["recommendedNextAction"]["tool"] == "update_distribution_schedule"
    assert len(receiver.at("/down.json")) == 3 and receiver.at("/hook") == []
    with session_scope(d.rt.engine) as session:
        events = session.exec(select(OperationalEvent.type).where(OperationalEvent.type == "schedule.run_failed")).all()
    assert events == ["schedule.run_failed"]
    runs = {o: d.rt.metrics.registry.get_sample_value("herald_schedule_runs_total", {"outcome": o}) for o in RUN_ENDS}
    assert runs == {"fired": None, "skipped": None, "failed": 1, "pending": None}  # a fetch retry ends nothing

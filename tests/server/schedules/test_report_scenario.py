"""The report scheduler's weekly report as a Herald schedule, on a test clock: Mondays 08:00 Europe/Berlin,
mailed to a distribution list (a recipients label) through a real SMTP server on loopback, skipped when
the report did not change, paused over the holidays, triggered by hand.

Runs embedded (SQLite, in-process broker) and on PostgreSQL + Redis (a Redis broker and worker).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import anyio
import pytest

from server.clock import TestClock
from server.schedules.firing import tick_schedules
from tests.support import factories, services
from tests.support.doors import Doors, doors
from tests.support.receiver import Receiver, Reply
from tests.support.smtp import SmtpSink
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

SUNDAY = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def berlin(day: str, hour_minute: str = "08:00") -> datetime:
    """A Berlin wall-clock time in winter (UTC+1), as UTC."""
    local = datetime.fromisoformat(f"{day}T{hour_minute}:00+01:00")
    return local.astimezone(UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.integration)])
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    settings: dict[str, Any] = {"scheduler_tick_seconds": 3600}  # only the test ticks schedules
    if request.param != "sqlite":
        schema = f"herald_report_{services.RUN_TAG}"
        namespace = services.redis_namespace(f"herald-report-{services.RUN_TAG}")
        settings |= {
            "database_url": services.postgres_schema_url(schema),
            "redis_url": services.REDIS_URL,
            "redis_namespace": namespace,
        }
        request.addfinalizer(lambda: services.drop_postgres_schema(schema))
        request.addfinalizer(lambda: services.drop_redis_namespace(namespace))
    async with doors(tmp_path, **settings) as opened:
        opened.rt.clock = TestClock(SUNDAY)
        yield opened


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.stop()


async def mailing_list(d: Doors, sink: SmtpSink) -> str:
    """An email target and the list "weekly-report" of two readers; the target's id."""
    readers = [
        {"externalId": f"reader-{n}", "name": n.title(), "addresses": {"email": f"{n}@example.com"}}
        for n in ("ada", "grace")
    ]
    await d.ok("upsert_recipients", recipients=[{**r, "labels": ["weekly-report"]} for r in readers])
    body = await d.ok(
        "create_distribution_target",
        name="report-mail",
        channel="email",
        config={"host": "127.0.0.1", "port": sink.port, "security": "none", "fromAddress": "reports@example.com"},
        retryPolicy=factories.FAST_RETRY,
    )
    target_id: str = body["target"]["id"]
    return target_id


def subjects(sink: SmtpSink) -> list[tuple[str, str | None]]:
    return sorted((m.rcpt_tos[0], m.header("Subject")) for m in sink.messages)


async def tick(d: Doors, when: datetime) -> int:
    assert isinstance(d.rt.clock, TestClock)
    d.rt.clock.set(when)
    return await anyio.to_thread.run_sync(tick_schedules, d.rt)


async def latest_run(d: Doors, schedule_id: str) -> dict[str, Any]:
    """The newest run, once its plan (if any) has ended."""
    run = (await d.ok("get_distribution_schedule", id=schedule_id))["schedule"]["recentRuns"][0]
    if run["planId"]:

        async def read() -> dict[str, Any]:
            return (await d.ok("get_distribution_plan", id=run["planId"]))["plan"]

        await until_async(read, timeout=15, message="the run's plan ends", done=lambda plan: plan["completedAt"])
        run = (await d.ok("get_distribution_schedule", id=schedule_id))["schedule"]["recentRuns"][0]
    return run


def report(week: int, revenue: int) -> Reply:
    body = {"title": f"Weekly report, week {week}", "summary": f"Revenue {revenue}k.", "kpis": {"revenue": revenue}}
    return Reply(body=json.dumps(body), content_type="application/json")


async def test_the_weekly_report_schedule(d: Doors, receiver: Receiver, sink: SmtpSink) -> None:
    mail = await mailing_list(d, sink)
    # What the report's source answers, one reply per fetch: the same report twice, then a new one.
    receiver.script["/report.json"] = [report(48, 120), report(48, 120), report(50, 135)]
    created = await d.ok(
        "create_distribution_schedule",
        name="weekly report",
        cron="0 8 * * 1",
        timezone="Europe/Berlin",
        plan={"targetIds": [mail], "recipientLabels": ["weekly-report"]},
        contentSource={
            "url": receiver.url + "/report.json",
            "map": {"title": "title", "body": "summary", "metadata": "kpis"},
        },
        skipIfUnchanged=True,
    )
    schedule = created["schedule"]
    sid = schedule["id"]
    assert [run["localTime"] for run in schedule["nextRuns"][:5]] == [
        "2026-11-30T08:00:00+01:00",
        "2026-12-07T08:00:00+01:00",
        "2026-12-14T08:00:00+01:00",
        "2026-12-21T08:00:00+01:00",
        "2026-12-28T08:00:00+01:00",
    ]
    assert schedule["nextRuns"][0]["nominalAt"] == "2026-11-30T07:00:00Z"
    assert created["recommendedNextAction"]["tool"] == "get_distribution_schedule"

    assert await tick(d, berlin("2026-11-30", "07:59")) == 0
    assert await tick(d, berlin("2026-11-30")) == 1
    first = await latest_run(d, sid)
    assert (first["status"], first["planStatus"], first["localTime"]) == (
        "fired",
        "succeeded",
        "2026-11-30T08:00:00+01:00",
    )
    assert subjects(sink) == [
        ("ada@example.com", "Weekly report, week 48"),
        ("grace@example.com", "Weekly report, week 48"),
    ]
    assert all("Revenue 120k." in m.text for m in sink.messages)
    assert all(m.header("List-Unsubscribe") for m in sink.messages)  # reached through a list: one-click unsubscribe

    assert await tick(d, berlin("2026-12-07")) == 0  # the same report: not sent again
    unchanged = await latest_run(d, sid)
    assert (unchanged["status"], unchanged["reason"]) == ("skipped", f"content unchanged since run {first['id']}")

    assert await tick(d, berlin("2026-12-14", "08:00")) == 1
    assert (await latest_run(d, sid))["planStatus"] == "succeeded"
    assert [m.header("Subject") for m in sink.messages] == ["Weekly report, week 48"] * 2 + [
        "Weekly report, week 50"
    ] * 2

    paused = await d.ok("pause_distribution_schedule", id=sid, note="office closed over the holidays")
    assert paused["schedule"]["nextRuns"] == []
    assert paused["recommendedNextAction"]["tool"] == "resume_distribution_schedule"
    assert (await tick(d, berlin("2026-12-21")), await tick(d, berlin("2026-12-28"))) == (0, 0)
    d.rt.clock.set(berlin("2027-01-03", "18:00"))  # type: ignore[attr-defined]
    resumed = await d.ok("resume_distribution_schedule", id=sid)
    assert resumed["schedule"]["nextRuns"][0]["localTime"] == "2027-01-04T08:00:00+01:00"

    triggered = await d.ok("trigger_distribution_schedule", id=sid)  # run now: conditions still apply
    [manual] = triggered["runs"]
    assert (manual["trigger"], manual["status"]) == ("manual", "skipped")
    assert manual["reason"].startswith("content unchanged since run ")

    history = (await d.ok("get_distribution_schedule", id=sid))["schedule"]["recentRuns"]
    assert [(run["localTime"][:10], run["trigger"], run["status"]) for run in history] == [
        ("2027-01-03", "manual", "skipped"),
        ("2026-12-14", "schedule", "fired"),
        ("2026-12-07", "schedule", "skipped"),
        ("2026-11-30", "schedule", "fired"),
    ]
    assert len(sink.messages) == 4 and len(receiver.at("/report.json")) == 4

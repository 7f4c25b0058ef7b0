"""pause_distribution_plan / resume_distribution_plan, and haltWhen: a plan that pauses itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from server.db import session_scope
from server.models import OperationalEvent
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


async def plan_until(d: Doors, plan_id: str, done: Any, what: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        return await d.ok("get_distribution_plan", id=plan_id)

    return await until_async(read, timeout=10, message=what, done=done)


async def test_a_paused_plan_holds_its_jobs_without_spending_attempts_until_resumed(d: Doors) -> None:
    target = await factories.stub_target(d)
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    plan = (await factories.plan(d, target, scheduledAt=soon))["plan"]
    paused = await d.ok("pause_distribution_plan", id=plan["id"], note="checking the copy")
    assert (paused["plan"]["status"], paused["plan"]["pausedReason"]) == ("paused", "checking the copy")
    action = paused["recommendedNextAction"]
    assert (action["tool"], action["arguments"]) == ("resume_distribution_plan", {"id": plan["id"]})
    assert action["reason"].startswith("The plan is paused (checking the copy), holding 1 waiting job(s)")
    again = await d.error("pause_distribution_plan", id=plan["id"])
    assert again["code"] == "CONFLICT"
    held = await plan_until(
        d, plan["id"], lambda body: body["plan"]["jobs"][0]["heldReason"], "the due job is held by the pause"
    )
    job = held["plan"]["jobs"][0]
    assert (job["status"], job["attempts"], job["nextAttemptAt"]) == ("scheduled", 0, None)
    assert job["heldReason"] == "plan paused: checking the copy"
    assert held["recommendedNextAction"]["tool"] == "resume_distribution_plan"
    resumed = await d.ok("resume_distribution_plan", id=plan["id"])
    assert resumed["plan"]["status"] == "queued" and resumed["plan"]["pausedReason"] is None
    done = await plan_until(d, plan["id"], lambda body: body["plan"]["status"] == "succeeded", "delivered")
    assert (done["plan"]["jobs"][0]["status"], done["plan"]["jobs"][0]["attempts"]) == ("delivered", 1)
    ended = await d.error("resume_distribution_plan", id=plan["id"])
    assert (ended["code"], ended["recommendedNextAction"]["tool"]) == ("CONFLICT", "get_distribution_plan")
    with session_scope(d.rt.engine) as session:
        kinds = session.exec(select(OperationalEvent.type).where(OperationalEvent.plan_id == plan["id"])).all()
    assert sorted(kinds) == ["plan.completed", "plan.paused", "plan.resumed"]


async def test_halt_when_pauses_the_plan_once_enough_of_its_targets_are_rate_limited(d: Doors) -> None:
    limited = {"rateLimitTimes": 5, "retryAfterSeconds": 30}
    first = await factories.stub_target(d, "first", limited)
    second = await factories.stub_target(d, "second", limited)
    plan = (await factories.plan(d, first, second, haltWhen={"pausedTargets": 2, "withinSeconds": 60}))["plan"]
    assert plan["haltWhen"] == {"pausedTargets": 2, "withinSeconds": 60}
    paused = await plan_until(d, plan["id"], lambda body: body["plan"]["status"] == "paused", "the plan pauses")
    reason = paused["plan"]["pausedReason"]
    assert reason.startswith("haltWhen: 2 of its targets were rate-limited within 60s (")
    assert first in reason and second in reason
    action = paused["recommendedNextAction"]
    assert (action["tool"], action["arguments"]) == ("resume_distribution_plan", {"id": plan["id"]})
    assert "haltWhen: 2 of its targets were rate-limited" in action["reason"]
    with session_scope(d.rt.engine) as session:
        [event] = session.exec(
            select(OperationalEvent).where(
                OperationalEvent.plan_id == plan["id"], OperationalEvent.type == "plan.paused"
            )
        ).all()
    assert event.message.startswith(f"Plan {plan['id']} paused itself: haltWhen: 2 of its targets")
    assert event.message.endswith("Resume it with resume_distribution_plan.")
    assert sorted(event.data["targetIds"]) == sorted([first, second])
    resumed = await d.ok("resume_distribution_plan", id=plan["id"])
    assert resumed["plan"]["status"] == "running"  # its jobs were attempted: it goes on where it was

"""A running plan's hint says what holds its waiting jobs and what lifts it, or waits for the earliest release."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from server.jobs.status import JobStatus, PlanStatus
from server.plans.hints import plan_hint
from server.plans.schemas import ContentInput, JobRead, PlanCounts, PlanRead
from server.policy import PolicyInput
from tests.support import factories
from tests.support.doors import Doors, doors

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
PAUSE_429 = "target paused: rate limited by the provider (HTTP 429); resumes automatically"


def job(
    status: JobStatus = JobStatus.SCHEDULED, due: float | None = None, held: str | None = None, **fields: Any
) -> JobRead:
    return JobRead(
        id=fields.pop("id", "job_1"),
        target_id=fields.pop("target_id", "tgt_a"),
        target_name=fields.pop("target_name", "a"),
        status=status,
        attempts=0,
        next_attempt_at=NOW + timedelta(seconds=due) if due is not None else None,
        last_error=None,
        error_class=fields.pop("error_class", None),
        skip_reason=None,
        held_reason=held,
        receipt=None,
    )


def plan(*jobs: JobRead) -> PlanRead:
    zero = dict.fromkeys(("pending", "delivering", "delivered", "failed", "dead", "cancelled", "skipped"), 0)
    return PlanRead(
        id="pln_1",
        status=PlanStatus.RUNNING,
        content=ContentInput(id="n", version="1", title="t", body="b"),
        policy=PolicyInput(),
        scheduled_at=None,
        created_at=NOW,
        completed_at=None,
        counts=PlanCounts(total=len(jobs), **zero),
        jobs=list(jobs),
    )


def wire(p: PlanRead) -> dict:
    return plan_hint(p, NOW).model_dump(mode="json", by_alias=True)


def action(tool: str, graphql: str, reason: str, after: float | None = None, **arguments: Any) -> dict:
    return {"tool": tool, "graphql": graphql, "arguments": arguments, "reason": reason, "afterSeconds": after}


def test_in_flight_or_due_now_checks_again_shortly() -> None:
    expected = action(
        "get_distribution_plan", "distributionPlan", "Deliveries are in progress; check again.", 2.0, id="pln_1"
    )
    assert wire(plan(job(JobStatus.DELIVERING), job(due=30, id="job_2"))) == expected
    assert wire(plan(job(JobStatus.PENDING, due=0), job(due=30, id="job_2"))) == expected


def test_a_retry_backoff_waits_until_the_earliest_release() -> None:
    jobs = (job(due=3.04, error_class="rate_limited"), job(due=9, id="job_2", held=PAUSE_429))
    assert wire(plan(*jobs)) == action(
        "get_distribution_plan",
        "distributionPlan",
        "Target a is waiting to retry after a rate_limited attempt; its next delivery is due at "
        "2026-12-01T12:00:03Z, so check again then.",
        4.0,
        id="pln_1",
    )


def test_a_release_is_looked_at_a_second_after_it_is_due() -> None:
    assert wire(plan(job(due=0.01, held=PAUSE_429)))["afterSeconds"] == 1.0


def test_a_halt_names_resume_deliveries() -> None:
    assert wire(plan(job(held="deliveries are halted in this workspace"), job(JobStatus.DELIVERING))) == action(
        "resume_deliveries",
        "resumeDeliveries",
        "Deliveries are halted in this workspace, holding 1 job(s) of this plan; "
        "resume them once the reason for the halt is resolved.",
    )


def test_a_long_open_circuit_names_the_resume_of_its_target() -> None:
    held = "circuit open: the receiver refused our credentials or could not be reached (systemic)"
    assert wire(plan(job(due=600, held=held))) == action(
        "resume_distribution_target",
        "resumeDistributionTarget",
        f"Target a is held ({held}) until 2026-12-01T12:10:00Z; resuming it closes the circuit and releases "
        "the job, so do it only if the receiver is fixed.",
        id="tgt_a",
    )


def test_a_long_operator_pause_names_the_resume_of_its_target() -> None:
    held = "target paused: maintenance"
    assert wire(plan(job(due=7200, held=held))) == action(
        "resume_distribution_target",
        "resumeDistributionTarget",
        f"Target a is held ({held}) until 2026-12-01T14:00:00Z; resume it to release the job "
        "only if the cause of the pause is fixed.",
        id="tgt_a",
    )


def test_a_long_provider_pause_is_waited_out_in_capped_steps() -> None:
    assert wire(plan(job(due=3600, held=PAUSE_429))) == action(
        "get_distribution_plan",
        "distributionPlan",
        f"Target a is held ({PAUSE_429}); its next delivery is due at 2026-12-01T13:00:00Z, so check again then.",
        300.0,
        id="pln_1",
    )


def test_a_short_open_circuit_is_waited_out() -> None:
    held = "circuit open: 5 of the last 5 attempts failed"
    assert wire(plan(job(due=20, held=held)))["afterSeconds"] == 21.0


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


@pytest.mark.anyio
async def test_a_429_pause_hints_the_time_until_its_reset(d: Doors) -> None:
    target = await factories.stub_target(d, "limited", {"rateLimitTimes": 1, "retryAfterSeconds": 20})
    created = await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[target],
        awaitDelivery=True,
        awaitTimeoutSeconds=1,
    )
    hint = created["recommendedNextAction"]
    assert (created["timedOut"], hint["tool"], hint["arguments"]) == (
        True,
        "get_distribution_plan",
        {"id": created["plan"]["id"]},
    )
    assert 19 <= hint["afterSeconds"] <= 21
    assert hint["reason"].startswith("Target limited is waiting to retry after a rate_limited attempt;")

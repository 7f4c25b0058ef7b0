"""select on a plan: each strategy's exact picks, the skip reasons, capPerPeriod on a test clock, dry run and
idempotency (the pool's state moves once per plan, never in a dry run), and the refusals."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from server.clock import TestClock
from server.db import session_scope
from server.models import SelectionMember, SelectionPick, SelectionPool, Target
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        opened.rt.clock = TestClock(T0)
        yield opened


@pytest.fixture(params=MODES)
async def on_both(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    """For what reads the database its own way (the health window query): SQLite, and PostgreSQL + Redis."""
    async with doors(tmp_path, **mode_settings(request)) as opened:
        opened.rt.clock = TestClock(T0)
        yield opened


async def members(d: Doors, label: str, count: int) -> list[str]:
    """``count`` stub targets carrying ``label``, in creation (= id) order."""
    return [await factories.stub_target(d, f"{label}-{i}", labels=[label]) for i in range(count)]


async def picked(d: Doors, **spec: Any) -> dict[str, Any]:
    """A plan of fresh content whose targets ``select`` picks; returns the whole result body."""
    return await d.ok("create_distribution_plan", content=factories.content(), select=spec, awaitDelivery=True)


async def picks(d: Doors, runs: int, **spec: Any) -> list[list[str]]:
    return [(await picked(d, **spec))["plan"]["selection"]["picked"] for _ in range(runs)]


def pool_state(d: Doors) -> dict[str, Any]:
    with session_scope(d.rt.engine) as session:
        pools = session.exec(select(SelectionPool)).all()
        return {
            "pools": [(p.name, p.pointer, p.sequence, p.version) for p in pools],
            "members": session.exec(select(func.count()).select_from(SelectionMember)).one(),
            "picks": session.exec(select(func.count()).select_from(SelectionPick)).one(),
        }


async def test_round_robin_over_labels_takes_turns(d: Doors) -> None:
    a, b, c, e = await members(d, "pool", 4)
    runs = [(await picked(d, count=2, labels=["pool"]))["plan"]["selection"] for _ in range(3)]
    assert [run["picked"] for run in runs] == [[a, b], [c, e], [a, b]]
    assert runs[0] == {
        "pool": "targets:pool",
        "of": "targets",
        "strategy": "round_robin",
        "requested": 2,
        "picked": [a, b],
        "skipped": [],
        "shortfall": 0,
    }
    assert pool_state(d) == {"pools": [("targets:pool", 3, 6, 3)], "members": 4, "picks": 6}
    jobs = (await d.ok("get_distribution_plan", id=(await picked(d, count=1, labels=["pool"]))["plan"]["id"]))["plan"]
    assert [job["targetId"] for job in jobs["jobs"]] == [c]


async def test_round_robin_over_tiers_rotates_the_starting_tier_and_takes_the_least_recent_within(d: Doors) -> None:
    a1, a2 = await members(d, "gold", 2)
    b1, b2 = await members(d, "silver", 2)
    c1, c2 = await members(d, "bronze", 2)
    tiers = [["gold"], ["silver"], ["bronze"]]
    assert await picks(d, 4, count=3, tiers=tiers) == [
        [a1, a2, b1],  # starts at gold, fills from silver
        [b2, b1, c1],  # starts at silver: b2 was never picked, b1 was
        [c2, c1, a1],  # starts at bronze, then gold's least recent
        [a2, a1, b2],  # gold again: a2 was picked before a1 last time round; b2 before b1
    ]
    assert pool_state(d)["pools"] == [("targets:gold|silver|bronze", 4, 12, 4)]


async def test_least_recent_fills_from_the_first_tier_and_spills_over_only_when_it_is_short(d: Doors) -> None:
    a1, a2 = await members(d, "gold", 2)
    b1, b2 = await members(d, "silver", 2)
    spec = {"count": 3, "tiers": [["gold"], ["silver"]], "strategy": "least_recent"}
    assert await picks(d, 3, **spec) == [[a1, a2, b1], [a1, a2, b2], [a1, a2, b1]]
    # Another pool (its name derived from its labels): its own state, from the start.
    assert await picks(d, 2, count=2, labels=["gold", "silver"], strategy="least_recent") == [[a1, a2], [b1, b2]]


async def test_weighted_is_a_seeded_draw_the_same_seed_draws_the_same(d: Doors) -> None:
    heavy, light1, light2 = await members(d, "pool", 3)
    spec = {"count": 2, "labels": ["pool"], "strategy": "weighted", "weights": {heavy: 50}, "seed": "lead-42"}
    first, again = await picks(d, 2, **spec)
    assert first == again
    assert first[0] == heavy
    other = await picks(d, 1, **{**spec, "weights": {}, "seed": "lead-42"})
    assert len(other[0]) == 2 and set(other[0]) <= {heavy, light1, light2}


async def test_health_prefers_the_best_recent_success_rate(on_both: Doors) -> None:
    d = on_both
    good = await factories.stub_target(d, "good", labels=["pool"])
    bad = await factories.stub_target(d, "bad", {"failTimes": 5, "failWith": 400}, labels=["pool"])
    fresh = await factories.stub_target(d, "fresh", labels=["pool"])
    sent = (await factories.plan(d, good, bad, awaitDelivery=True))["plan"]
    assert sorted(job["status"] for job in sent["jobs"]) == ["delivered", "failed"]
    assert await picks(d, 1, count=3, labels=["pool"], strategy="health") == [[good, fresh, bad]]


def unaudited(counts: dict[str, int]) -> dict[str, int]:
    return {table: n for table, n in counts.items() if table != "audit_events"}


def target_row(d: Doors, target_id: str) -> Target:
    with session_scope(d.rt.engine) as session:
        row = session.get(Target, target_id)
        assert row is not None
        return row


async def _paused(d: Doors, target_id: str) -> bool:
    return (await d.ok("get_distribution_target", id=target_id))["target"]["pausedUntil"] is not None


async def test_members_that_cannot_take_it_are_skipped_with_their_reason(d: Doors) -> None:
    ok1, inactive, paused, limited, tripped = await members(d, "pool", 5)
    given = await factories.stub_target(d, "given", labels=["pool", "solo"])
    ok2 = await factories.stub_target(d, "ok2", labels=["pool"])
    await d.ok("update_distribution_target", id=inactive, active=False)
    await d.ok("pause_distribution_target", id=paused, seconds=600, reason="maintenance")
    await d.ok("update_distribution_target", id=limited, config={"rateLimitTimes": 5, "retryAfterSeconds": 600})
    await factories.plan(d, limited)
    await until_async(lambda: _paused(d, limited), timeout=10, message="the 429 pauses the target")
    with session_scope(d.rt.engine) as session:
        row = session.get(Target, tripped)
        assert row is not None
        row.circuit_state, row.circuit_reason = "open", "5 of 5 attempts failed"
        session.add(row)
    content = factories.content()
    earlier = await d.ok("create_distribution_plan", content=content, select={"count": 1, "labels": ["solo"]})
    assert earlier["plan"]["selection"]["picked"] == [given]
    body = await d.ok(
        "create_distribution_plan", content={**content, "version": "2"}, select={"count": 3, "labels": ["pool"]}
    )
    selection = body["plan"]["selection"]
    paused_row, limited_row = target_row(d, paused), target_row(d, limited)
    assert paused_row.paused_until is not None and limited_row.paused_until is not None
    assert selection["skipped"] == [
        {"id": inactive, "reason": "inactive"},
        {"id": paused, "reason": f"paused until {paused_row.paused_until.isoformat()}: maintenance"},
        {"id": limited, "reason": f"rate-limited until {limited_row.paused_until.isoformat()}"},
        {"id": tripped, "reason": "circuit open: 5 of 5 attempts failed"},
        {"id": given, "reason": f"already given content {content['id']} (plan {earlier['plan']['id']})"},
    ]
    assert (selection["picked"], selection["shortfall"]) == ([ok1, ok2], 1)
    assert body["recommendedNextAction"]["reason"].startswith(
        "Picked 2 of 3 from pool 'targets:pool': 1 short, 5 member(s) skipped (plan.selection.skipped says why). "
    )
    assert sorted(job["targetId"] for job in body["plan"]["jobs"]) == sorted([ok1, ok2])
    # redistribute: the content may go again to whom it went.
    again = await d.ok(
        "create_distribution_plan", content=content, redistribute=True, select={"count": 1, "labels": ["solo"]}
    )
    assert again["plan"]["selection"]["picked"] == [given]


async def test_cap_per_period_counts_picks_in_a_sliding_window_on_the_runtime_clock(d: Doors) -> None:
    a, b = await members(d, "pool", 2)
    spec = {"count": 2, "labels": ["pool"], "capPerPeriod": {"count": 2, "periodSeconds": 60}}
    assert await picks(d, 2, **spec) == [[a, b], [a, b]]
    clock = d.rt.clock
    assert isinstance(clock, TestClock)
    clock.advance(30)
    before, state = d.counts(), pool_state(d)
    content = factories.content()
    refused = await d.error("create_distribution_plan", content=content, select=spec)
    assert refused["code"] == "CONFLICT" and refused["field"] == "select"
    assert refused["message"] == (
        "No member of pool 'targets:pool' can be picked, so no plan was created: "
        f"{a}: cap reached: 2 pick(s) in the last 60s; {b}: cap reached: 2 pick(s) in the last 60s."
    )
    action = refused["recommendedNextAction"]
    assert (action["tool"], action["afterSeconds"], action["arguments"]["select"]) == (
        "create_distribution_plan",
        31,
        spec,
    )
    assert d.counts() == {**before, "audit_events": before["audit_events"] + 1}  # the refusal is audited
    assert pool_state(d) == state
    clock.advance(31)  # the first two picks leave the window
    assert await picks(d, 1, **spec) == [[a, b]]


async def test_a_dry_run_shows_the_picks_it_would_make_and_writes_nothing(d: Doors) -> None:
    a, b, c = await members(d, "pool", 3)
    assert await picks(d, 1, count=2, labels=["pool"]) == [[a, b]]
    before, state = d.counts(), pool_state(d)
    arguments = {"content": factories.content(), "select": {"count": 2, "labels": ["pool"]}}
    preview = await d.ok("create_distribution_plan", dryRun=True, **arguments)
    assert preview["plan"] is None
    assert (preview["preview"]["selection"]["picked"], preview["preview"]["jobsToCreate"]) == ([c, a], 2)
    assert [t["targetId"] for t in preview["preview"]["targets"]] == [c, a]
    assert (d.counts(), pool_state(d)) == (before, state)
    # A dry run of a pool never used does not create it either.
    fresh = await d.ok(
        "create_distribution_plan",
        dryRun=True,
        content=factories.content(),
        select={"count": 1, "labels": ["pool"], "pool": "new"},
    )
    assert fresh["preview"]["selection"]["picked"] == [a]
    assert pool_state(d) == state
    # Following the hint makes exactly those picks.
    action = preview["recommendedNextAction"]
    made = await d.ok(action["tool"], **action["arguments"])
    assert made["plan"]["selection"]["picked"] == [c, a]


async def test_the_same_idempotency_key_returns_the_same_picks_and_moves_the_pool_once(d: Doors) -> None:
    a, b, c = await members(d, "pool", 3)
    arguments = {"content": factories.content(), "select": {"count": 2, "labels": ["pool"]}, "idempotencyKey": "lead-7"}
    first = await d.ok("create_distribution_plan", **arguments)
    state = pool_state(d)
    again = await d.ok("create_distribution_plan", **arguments)
    assert again["replayed"] is True
    assert again["plan"]["id"] == first["plan"]["id"]
    assert again["plan"]["selection"] == first["plan"]["selection"]
    assert first["plan"]["selection"]["picked"] == [a, b]
    assert pool_state(d) == state == {"pools": [("targets:pool", 1, 2, 1)], "members": 2, "picks": 2}
    # A new key is a new plan: the turn moves on.
    assert await picks(d, 1, count=2, labels=["pool"]) == [[c, a]]


@pytest.mark.parametrize(
    ("extra", "spec", "field", "message"),
    [
        ({}, {"count": 1}, "select.labels", "select needs its pool as labels or as tiers"),
        ({}, {"count": 1, "labels": ["pool"], "tiers": [["pool"]]}, "select.labels", "exactly one of them"),
        ({"targetIds": ["tgt_x"]}, {"count": 1, "labels": ["pool"]}, "select", "leave targetIds and targetLabels out"),
        (
            {"recipientLabels": ["list"]},
            {"of": "recipients", "count": 1, "labels": ["pool"]},
            "select",
            "leave recipientIds and recipientLabels out",
        ),
        ({}, {"of": "recipients", "count": 1, "labels": ["pool"], "strategy": "health"}, "select.strategy", "health"),
        ({}, {"count": 1, "labels": ["pool"], "weights": {"pool": 2}}, "select.weights", "weighted only"),
        ({}, {"count": 0, "labels": ["pool"]}, "select.count", "greater than or equal to 1"),
        ({}, {"count": 101, "labels": ["pool"]}, "select.count", "less than or equal to 100"),
        ({}, {"count": 1, "labels": ["pool"], "strategy": "random"}, "select.strategy", "round_robin"),
        ({}, {"count": 1, "labels": ["no space"]}, "select.labels", "invalid"),
    ],
)
async def test_a_select_that_cannot_work_is_refused_saying_what_to_send(
    d: Doors, extra: dict[str, Any], spec: dict[str, Any], field: str, message: str
) -> None:
    await members(d, "pool", 1)
    before = d.counts()
    error = await d.error("create_distribution_plan", content=factories.content(), select=spec, **extra)
    assert (error["code"], error["field"]) == ("VALIDATION_ERROR", field)
    assert message in error["message"]
    assert unaudited(d.counts()) == unaudited(before)  # a refusal by the plan's rules is audited, nothing else
    assert pool_state(d)["pools"] == []


async def test_a_pool_without_members_is_refused(d: Doors) -> None:
    error = await d.error(
        "create_distribution_plan", content=factories.content(), select={"count": 1, "labels": ["empty"]}
    )
    assert (error["code"], error["message"]) == (
        "CONFLICT",
        "Pool 'targets:empty' has no members: no targets carry its labels.",
    )
    assert error["recommendedNextAction"]["tool"] == "list_distribution_targets"
    assert pool_state(d) == {"pools": [], "members": 0, "picks": 0}


async def test_select_of_recipients_picks_whom_the_plans_targets_reach(d: Doors) -> None:
    sender = await factories.stub_target(d, "sender")
    people = [
        {"externalId": name, "name": name, "addresses": {"stub": f"{name}@stub"}, "labels": ["advisors"]}
        for name in ("ana", "ben", "cy", "dee")
    ]
    people.append({"externalId": "eve", "name": "eve", "labels": ["advisors"]})  # no address
    rows = (await d.ok("upsert_recipients", recipients=people))["recipients"]
    ana, ben, cy, dee, eve = (row["id"] for row in rows)
    await d.ok("unsubscribe_recipient", id=ben, channel="stub")
    spec = {"of": "recipients", "count": 2, "labels": ["advisors"]}
    first = await d.ok(
        "create_distribution_plan", content=factories.content(), targetIds=[sender], select=spec, awaitDelivery=True
    )
    selection = first["plan"]["selection"]
    assert (selection["pool"], selection["picked"]) == ("recipients:advisors", [ana, cy])
    assert selection["skipped"] == [
        {"id": ben, "reason": "recipient unsubscribed from stub"},
        {"id": eve, "reason": "recipient has no stub address"},
    ]
    assert sorted(job["recipientId"] for job in first["plan"]["jobs"]) == sorted([ana, cy])
    assert first["plan"]["status"] == "succeeded"
    second = await d.ok("create_distribution_plan", content=factories.content(), targetIds=[sender], select=spec)
    assert second["plan"]["selection"]["picked"] == [dee, ana]


async def test_each_run_of_a_schedule_picks_from_the_pool_in_turn(d: Doors) -> None:
    a, b, c = await members(d, "pool", 3)
    template = {
        "content": factories.content(id="daily-lead-digest"),
        "select": {"count": 2, "labels": ["pool"]},
        "redistribute": True,  # the runs share a content id: each may reach whom earlier runs reached
    }
    schedule = await d.ok(
        "create_distribution_schedule",
        name="digest",
        intervalSeconds=3600,
        plan=template,
        paused=True,
        overlap="allow_all",  # each trigger runs whether or not the previous run's plan has ended yet
    )
    clock = d.rt.clock
    assert isinstance(clock, TestClock)
    picked_by_run = []
    for _ in range(3):
        [run] = (await d.ok("trigger_distribution_schedule", id=schedule["schedule"]["id"]))["runs"]
        plan = (await d.ok("get_distribution_plan", id=run["planId"]))["plan"]
        picked_by_run.append(plan["selection"]["picked"])
        clock.advance(60)
    assert picked_by_run == [[a, b], [c, a], [b, c]]
    assert pool_state(d)["pools"] == [("targets:pool", 3, 6, 3)]

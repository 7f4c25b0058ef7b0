"""The lead distribution scenario: each lead goes to 3 providers of a pool in three levels — a rotation
pointer across the levels, the least recently assigned first within one, at most 3 per lead, no provider
given the same lead twice (skipped with the reason), and a re-run with the same key that assigns nothing new.
On SQLite and on PostgreSQL + Redis."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import func, select

from server.db import session_scope
from server.models import SelectionPick, SelectionPool
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.modes import MODES, mode_settings

pytestmark = pytest.mark.anyio

LEVELS = [["level-1"], ["level-2"], ["level-3"]]


@pytest.fixture(params=MODES)
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path, **mode_settings(request)) as opened:
        yield opened


def lead(number: str, version: str = "1") -> dict[str, Any]:
    return factories.content(id=f"lead-{number}", version=version, title=f"Lead {number}", body="A new lead.")


async def assign(d: Doors, content: dict[str, Any], key: str) -> dict[str, Any]:
    return await d.ok(
        "create_distribution_plan",
        content=content,
        select={"count": 3, "tiers": LEVELS, "strategy": "round_robin", "pool": "providers"},
        idempotencyKey=key,
        awaitDelivery=True,
    )


def ledger(d: Doors) -> tuple[tuple[int, int, int], int]:
    with session_scope(d.rt.engine) as session:
        pool = session.exec(select(SelectionPool).where(SelectionPool.name == "providers")).one()
        return (pool.pointer, pool.sequence, pool.version), session.exec(
            select(func.count()).select_from(SelectionPick)
        ).one()


async def test_leads_rotate_across_levels_least_recently_assigned_first_deduped_and_idempotent(d: Doors) -> None:
    p1, p2 = [await factories.stub_target(d, f"provider-{n}", labels=["level-1"]) for n in (1, 2)]
    p3, p4, p5 = [await factories.stub_target(d, f"provider-{n}", labels=["level-2"]) for n in (3, 4, 5)]
    p6, p7 = [await factories.stub_target(d, f"provider-{n}", labels=["level-3"]) for n in (6, 7)]

    a = await assign(d, lead("A"), "lead-A")
    b = await assign(d, lead("B"), "lead-B")
    c = await assign(d, lead("C"), "lead-C")
    e = await assign(d, lead("D"), "lead-D")
    assert [r["plan"]["selection"]["picked"] for r in (a, b, c, e)] == [
        [p1, p2, p3],  # level 1 starts; it has two, the third comes from level 2
        [p4, p5, p3],  # level 2 starts: p4 and p5 were never assigned, p3 was
        [p6, p7, p1],  # level 3 starts, then level 1's least recently assigned
        [p2, p1, p4],  # level 1 again: p2 was assigned before p1; then level 2's least recent
    ]
    for result in (a, b, c, e):
        plan = result["plan"]
        assert plan["status"] == "succeeded"
        assert sorted(job["targetId"] for job in plan["jobs"]) == sorted(plan["selection"]["picked"])
    assert ledger(d) == ((4, 12, 4), 12)

    # Lead A comes back (a new version): who already has it is skipped, with the reason.
    again = await assign(d, lead("A", version="2"), "lead-A-v2")
    selection = again["plan"]["selection"]
    given = f"already given content lead-A (plan {a['plan']['id']})"
    assert selection["picked"] == [p5, p4, p6]  # level 2 starts: p5, (p3 has it), p4; then level 3
    assert selection["skipped"] == [
        {"id": p3, "reason": given},
        {"id": p2, "reason": given},
        {"id": p1, "reason": given},
    ]
    assert ledger(d) == ((5, 15, 5), 15)

    # A re-run of lead D with its key: the same picks, nothing new assigned or sent.
    before = d.counts()
    rerun = await assign(d, lead("D"), "lead-D")
    assert rerun["replayed"] is True
    assert rerun["plan"]["id"] == e["plan"]["id"]
    assert rerun["plan"]["selection"] == e["plan"]["selection"]
    assert ledger(d) == ((5, 15, 5), 15)
    assert d.counts() == before

"""20 plans picking from one pool at once, through the real pipeline, each in its own transaction and
connection: the pool's row lock makes them take turns, so no member passes its cap and round-robin
counts differ by at most one. On SQLite (its writer lock) and on PostgreSQL (SELECT … FOR UPDATE)."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from server.db import session_scope
from server.errors import Conflict
from server.models import SelectionPick
from server.runtime import Runtime
from tests.support import factories

PLANS = 20


@pytest.fixture(params=factories.DATABASES)
def rt(request: pytest.FixtureRequest, tmp_path: Path) -> Runtime:
    return factories.runtime_on(request.param, request, tmp_path)


def pool_members(rt: Runtime, count: int) -> list[str]:
    return [
        factories.call(rt, "create_distribution_target", name=f"m{n}", channel="stub", labels=["pool"]).target.id
        for n in range(count)
    ]


def race(rt: Runtime, spec: dict[str, Any]) -> list[Any]:
    """PLANS plans at once (released together by a barrier); each result or the error it raised."""
    start = threading.Barrier(PLANS)

    def one(n: int) -> Any:
        start.wait(timeout=30)
        try:
            return factories.call(
                rt, "create_distribution_plan", content=factories.content(id=f"lead-{n}"), select=spec
            )
        except Conflict as exc:
            return exc

    with ThreadPoolExecutor(PLANS) as pool:
        return list(pool.map(one, range(PLANS)))


def picks_by_member(rt: Runtime) -> Counter[str]:
    with session_scope(rt.engine) as session:
        return Counter(session.exec(select(SelectionPick.member_id)).all())


def test_concurrent_plans_never_pass_a_cap(rt: Runtime) -> None:
    members = pool_members(rt, 6)
    spec = {"count": 2, "labels": ["pool"], "capPerPeriod": {"count": 6, "periodSeconds": 3600}}
    results = race(rt, spec)
    made = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    # 6 members x 6 = 36 picks: 18 plans of 2; the last two find every member at its cap.
    assert (len(made), len(refused)) == (18, 2)
    assert all(r.message.startswith("No member of pool 'targets:pool' can be picked") for r in refused)
    assert picks_by_member(rt) == {member: 6 for member in members}
    assert sorted(len(r.plan.selection.picked) for r in made) == [2] * 18


def test_concurrent_round_robin_counts_differ_by_at_most_one(rt: Runtime) -> None:
    members = pool_members(rt, 7)
    results = race(rt, {"count": 3, "labels": ["pool"]})
    assert not [r for r in results if isinstance(r, Exception)]
    counts = picks_by_member(rt)
    assert sum(counts.values()) == 60 and set(counts) == set(members)
    assert max(counts.values()) - min(counts.values()) <= 1
    for result in results:  # every plan's jobs went to exactly its picks
        assert sorted(job.target_id for job in result.plan.jobs) == sorted(result.plan.selection.picked)

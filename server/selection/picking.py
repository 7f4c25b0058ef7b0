"""Picking ``count`` members of a pool fairly, inside the plan's transaction.

The pool's row is the lock: ``SELECT … FOR UPDATE`` on PostgreSQL, so a concurrent plan on the same pool
waits for this one to commit and then reads the state it left (its picks, the pointer) — it never picks
past a cap or out of turn. ``SKIP LOCKED`` would not do: there is one row to lock, and skipping it would
mean picking blind. On SQLite every transaction begins ``IMMEDIATE`` (``server.db``): the writer lock is
held from the start, which serialises plans the same way. A dry run neither creates nor locks the pool,
and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from server.db import insert_rows
from server.errors import Conflict, ValidationFailed
from server.hints import hint
from server.ids import new_id
from server.models import SelectionMember, SelectionPick, SelectionPool
from server.selection import strategies
from server.selection.schemas import SelectInput, SelectionOf, SelectionRead, SelectionSkip, SelectionStrategy


@dataclass(frozen=True)
class Candidate:
    """A member of the pool as the plan sees it: ``reason`` says why it cannot be picked now (paused, …)."""

    id: str
    labels: tuple[str, ...] = ()
    reason: str | None = None
    success_rate: float | None = None


@dataclass
class Selection:
    read: SelectionRead
    pool: SelectionPool | None  # None in a dry run
    states: dict[str, SelectionMember] = field(default_factory=dict)


def pick(
    session: Session,
    workspace_id: str,
    spec: SelectInput,
    name: str,
    levels: Sequence[Sequence[Candidate]],
    *,
    content_id: str,
    now: datetime,
    dry_run: bool,
    redistribute: bool,
    retry: dict[str, Any],
) -> Selection:
    """The picks (``retry``: the plan's arguments, for the hint when nobody can be picked)."""
    pool = _pool(session, workspace_id, name, spec, now, create=not dry_run)
    ids = [c.id for level in levels for c in level]
    states = _states(session, pool, ids)
    given = {} if redistribute else _given(session, workspace_id, content_id, ids)
    capped = _capped(session, pool, spec, now)
    by_id = {c.id: c for level in levels for c in level}
    members = [
        [strategies.Member(c.id, c.labels, _sequence(states.get(c.id)), c.success_rate) for c in level]
        for level in levels
    ]
    order = strategies.Order(spec.strategy, pool.pointer if pool else 0, spec.weights, spec.seed or content_id)
    picked: list[str] = []
    skipped: list[SelectionSkip] = []
    for member in strategies.ordered(members, order):
        reason = (
            by_id[member.id].reason
            or _given_reason(given, member.id, content_id)
            or _cap_reason(capped, spec, member.id)
        )
        if reason is not None:
            skipped.append(SelectionSkip(id=member.id, reason=reason))
        elif len(picked) < spec.count:
            picked.append(member.id)
    read = SelectionRead(
        pool=name,
        of=spec.of,
        strategy=spec.strategy,
        requested=spec.count,
        picked=picked,
        skipped=skipped,
        shortfall=spec.count - len(picked),
    )
    if not picked:
        raise _none_eligible(read, capped, spec, now, retry)
    return Selection(read, pool, states)


def record(
    session: Session, selection: Selection, workspace_id: str, plan_id: str, content_id: str, now: datetime
) -> None:
    """The picks, each member's state and the pool's pointer: in the plan's transaction, under the pool's lock."""
    pool = selection.pool
    if pool is None:
        return
    for number, member_id in enumerate(selection.read.picked, start=pool.sequence + 1):
        state = selection.states.get(member_id) or SelectionMember(
            pool_id=pool.id, member_id=member_id, last_picked_at=now, last_sequence=number
        )
        state.last_picked_at, state.last_sequence, state.picks = now, number, state.picks + 1
        session.add(state)
    insert_rows(
        session,
        SelectionPick,
        [
            {
                "workspace_id": workspace_id,
                "pool_id": pool.id,
                "member_id": member_id,
                "content_id": content_id,
                "plan_id": plan_id,
                "picked_at": now,
            }
            for member_id in selection.read.picked
        ],
    )
    pool.sequence += len(selection.read.picked)
    pool.pointer += 1 if selection.read.strategy == SelectionStrategy.ROUND_ROBIN else 0
    pool.version += 1
    pool.updated_at = now
    session.add(pool)
    session.flush()


def _pool(
    session: Session, workspace_id: str, name: str, spec: SelectInput, now: datetime, *, create: bool
) -> SelectionPool | None:
    if create:
        _insert_if_absent(session, workspace_id, name, spec.of.value, now)
    query = select(SelectionPool).where(SelectionPool.workspace_id == workspace_id, SelectionPool.name == name)
    if create:
        query = query.with_for_update()  # rendered on PostgreSQL; SQLite's transaction already holds the writer lock
    pool = session.exec(query.execution_options(populate_existing=True)).first()
    if pool is not None and pool.of != spec.of:
        raise ValidationFailed(
            f"Pool {name!r} holds {pool.of}, not {spec.of.value}: name another pool (select.pool).",
            field="select.pool",
        )
    return pool


def _insert_if_absent(session: Session, workspace_id: str, name: str, of: str, now: datetime) -> None:
    """Create the pool's row unless it exists; a concurrent creator waits on the unique key, then does nothing."""
    table = SelectionPool.__table__  # type: ignore[attr-defined]
    insert = pg_insert(table) if session.get_bind().dialect.name == "postgresql" else sqlite_insert(table)
    row: dict[str, object] = {"id": new_id("selection_pool"), "workspace_id": workspace_id, "name": name, "of": of}
    row |= {"pointer": 0, "sequence": 0, "version": 0, "created_at": now, "updated_at": now}
    session.execute(insert.values(**row).on_conflict_do_nothing(index_elements=["workspace_id", "name"]))


def _states(session: Session, pool: SelectionPool | None, ids: list[str]) -> dict[str, SelectionMember]:
    if pool is None or not ids:
        return {}
    query = select(SelectionMember).where(SelectionMember.pool_id == pool.id, col(SelectionMember.member_id).in_(ids))
    return {state.member_id: state for state in session.exec(query).all()}


def _sequence(state: SelectionMember | None) -> int:
    return -1 if state is None else state.last_sequence


def _given(session: Session, workspace_id: str, content_id: str, ids: list[str]) -> dict[str, str]:
    """Member -> the plan that was already given this content id (by any pool of the workspace)."""
    rows = session.exec(
        select(SelectionPick.member_id, SelectionPick.plan_id).where(
            SelectionPick.workspace_id == workspace_id, SelectionPick.content_id == content_id
        )
    ).all()
    wanted = set(ids)
    return {member_id: plan_id for member_id, plan_id in rows if member_id in wanted}


def _given_reason(given: dict[str, str], member_id: str, content_id: str) -> str | None:
    plan_id = given.get(member_id)
    return None if plan_id is None else f"already given content {content_id} (plan {plan_id})"


@dataclass(frozen=True)
class _Window:
    picks: int
    oldest: datetime


def _capped(session: Session, pool: SelectionPool | None, spec: SelectInput, now: datetime) -> dict[str, _Window]:
    """Members at their cap within the period, with their oldest pick in it (when the cap frees)."""
    cap = spec.cap_per_period
    if pool is None or cap is None:
        return {}
    since = now - timedelta(seconds=cap.period_seconds)
    rows = session.exec(
        select(SelectionPick.member_id, func.count(), func.min(SelectionPick.picked_at))
        .where(SelectionPick.pool_id == pool.id, col(SelectionPick.picked_at) > since)
        .group_by(col(SelectionPick.member_id))
    ).all()
    return {member_id: _Window(count, oldest) for member_id, count, oldest in rows if count >= cap.count}


def _cap_reason(capped: dict[str, _Window], spec: SelectInput, member_id: str) -> str | None:
    window = capped.get(member_id)
    if window is None or spec.cap_per_period is None:
        return None
    return f"cap reached: {window.picks} pick(s) in the last {spec.cap_per_period.period_seconds}s"


def _none_eligible(
    read: SelectionRead, capped: dict[str, _Window], spec: SelectInput, now: datetime, retry: dict[str, Any]
) -> Conflict:
    reasons = "; ".join(f"{skip.id}: {skip.reason}" for skip in read.skipped[:10])
    more = f" and {len(read.skipped) - 10} more" if len(read.skipped) > 10 else ""
    if not read.skipped:
        return Conflict(
            f"Pool {read.pool!r} has no members: no {read.of.value} carry its labels.",
            field="select",
            next_action=hint(
                "list_distribution_targets" if read.of == SelectionOf.TARGETS else "list_recipients",
                "Check the labels of the pool's members.",
            ),
        )
    after = None
    if capped and spec.cap_per_period is not None:
        frees = min(w.oldest for w in capped.values()) + timedelta(seconds=spec.cap_per_period.period_seconds)
        after = max(1, int((frees - now).total_seconds()) + 1)
    return Conflict(
        f"No member of pool {read.pool!r} can be picked, so no plan was created: {reasons}{more}.",
        field="select",
        remediation="Resume or fix the skipped members, wait for a cap to free, or pick from another pool.",
        next_action=hint(
            "create_distribution_plan",
            "Try again when a member's cap frees." if after else "Fix a skipped member first, then try again.",
            after_seconds=after,
            **retry,
        ),
    )

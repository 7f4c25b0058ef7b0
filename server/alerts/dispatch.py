"""The alert tick: operational events become deliveries through Herald's own engine.

Every event is written with ``dispatched_at`` NULL in the transaction that records it (the partial
index ``ix_events_undispatched`` holds only those). Each worker's scheduler tick (``tick_alerts``)
locks a batch of them (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite serializes writers), matches
them against the workspace's active rules, makes one alert plan per (rule, event) that passes the
rate limit, and marks the batch dispatched, all in one transaction. A process that dies between
recording an event and sending its alert loses nothing: the event stays undispatched until a tick
commits its plan, and the plan's jobs are rows the sweeper re-sends if the message after commit is
lost. Worst-case latency from an event to the alert's first attempt: one tick interval
(``HERALD_SCHEDULER_TICK_SECONDS``, 5 s by default) plus the queue's own delay, or after a crash at
the wrong moment the sweeper's grace (two sweep intervals, 10 s by default).

Rate: at most one alert per ``minIntervalSeconds`` per (rule, subject), the subject being the event's
target, else plan, else job, else the workspace; events held back are counted and the next alert says
"N more since", or, when no event comes after the interval, an alert of their own ("N more about …").

Loops: alert plans carry ``origin = "alert"``; events about them (their jobs dead, the plan failed)
and about a target whose recent failed attempts were all alert deliveries (its circuit opened, a 429
pause) never alert.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from server.alerts import content as alert_content
from server.alerts.matching import rule_matches, subject_of
from server.context import OpContext, Principal
from server.db import one_of, retry_on_conflict, session_scope
from server.errors import HeraldError
from server.models import AlertRule, AlertSubjectState, Attempt, Job, OperationalEvent, Plan, Target
from server.operations import BY_TOOL
from server.plans.schemas import ContentInput, CreatePlanInput
from server.plans.service import create_plan
from server.runtime import Runtime

log = logging.getLogger(__name__)

ALERT_ORIGIN = "alert"
_GRAPHQL = {tool: op.graphql for tool, op in BY_TOOL.items()}


def tick_alerts(rt: Runtime, now: datetime | None = None, batch: int = 200) -> int:
    """Dispatch every undispatched event; returns how many alert plans were made."""
    now = now or rt.clock.now()
    made = 0
    contexts: list[OpContext] = []
    while True:
        count, seen = retry_on_conflict(lambda: _dispatch(rt, now, batch, contexts))
        for ctx in contexts:
            ctx.on_commit.run()
        made += count
        if seen < batch:
            break
    contexts.clear()
    made += retry_on_conflict(lambda: _flush_held(rt, now, contexts))
    for ctx in contexts:
        ctx.on_commit.run()
    return made


def _dispatch(rt: Runtime, now: datetime, batch: int, contexts: list[OpContext]) -> tuple[int, int]:
    contexts.clear()
    with session_scope(rt.engine) as session:
        events = session.exec(
            select(OperationalEvent)
            .where(col(OperationalEvent.dispatched_at).is_(None))
            .order_by(col(OperationalEvent.id))
            .limit(batch)
            .with_for_update(skip_locked=True)
        ).all()
        if not events:
            return 0, 0
        rules = _active_rules(session, {event.workspace_id for event in events})
        made = 0
        for event in events:
            matched = [rule for rule in rules[event.workspace_id] if _matches(session, rule, event)]
            if matched and not caused_by_alerts(session, rt, event):
                made += sum(_alert(rt, session, rule, event, now, contexts) for rule in matched)
        session.execute(
            update(OperationalEvent)
            .where(one_of(session, OperationalEvent.id, [event.id for event in events]))
            .values(dispatched_at=now)
            .execution_options(synchronize_session=False)
        )
        return made, len(events)


def _active_rules(session: Session, workspaces: set[str]) -> dict[str, list[AlertRule]]:
    rules: dict[str, list[AlertRule]] = defaultdict(list)
    query = select(AlertRule).where(col(AlertRule.workspace_id).in_(workspaces), col(AlertRule.active).is_(True))
    for rule in session.exec(query).all():
        rules[rule.workspace_id].append(rule)
    return rules


def _matches(session: Session, rule: AlertRule, event: OperationalEvent) -> bool:
    filters = rule.filters or {}
    labels: list[str] = []
    if filters.get("targetLabels") and event.target_id:
        target = session.get(Target, event.target_id)
        labels = list(target.labels) if target is not None else []
    plan_targets = None
    if event.plan_id and not event.target_id and (filters.get("targetIds") or filters.get("targetLabels")):
        plan = session.get(Plan, event.plan_id)
        plan_targets = list(plan.target_ids) if plan is not None else []
        if filters.get("targetLabels") and plan_targets:
            labels = [
                label
                for t in session.exec(select(Target.labels).where(col(Target.id).in_(plan_targets)))
                for label in t
            ]
    return rule_matches(rule, event, labels, plan_targets)


def caused_by_alerts(session: Session, rt: Runtime, event: OperationalEvent) -> bool:
    """The event is about an alert plan (or its job), or about a target only alert traffic failed on lately."""
    if event.plan_id:
        return session.exec(select(Plan.origin).where(Plan.id == event.plan_id)).first() == ALERT_ORIGIN
    if not event.target_id:
        return False
    since = event.created_at - timedelta(seconds=rt.settings.circuit_window_seconds)
    rows = session.exec(
        select(Plan.origin, func.count())
        .select_from(Attempt)
        .join(Job, col(Job.id) == Attempt.job_id)
        .join(Plan, col(Plan.id) == Job.plan_id)
        .where(
            Attempt.target_id == event.target_id,
            Attempt.outcome != "delivered",
            col(Attempt.started_at) >= since,
            col(Attempt.started_at) <= event.created_at,
        )
        .group_by(col(Plan.origin))
    ).all()
    by_alerts = sum(count for origin, count in rows if origin == ALERT_ORIGIN)
    return by_alerts > 0 and by_alerts == sum(count for _, count in rows)


def _alert(
    rt: Runtime, session: Session, rule: AlertRule, event: OperationalEvent, now: datetime, contexts: list[OpContext]
) -> int:
    """One alert plan for ``event`` unless the rule alerted about its subject too recently (then counted)."""
    subject = subject_of(event)
    state = session.exec(
        select(AlertSubjectState)
        .where(AlertSubjectState.rule_id == rule.id, AlertSubjectState.subject == subject)
        .with_for_update()
    ).first()
    if state is not None and (now - state.last_sent_at).total_seconds() < rule.min_interval_seconds:
        state.suppressed += 1
        session.add(state)
        return 0
    more = (state.suppressed, state.last_sent_at) if state is not None and state.suppressed else None
    content = alert_content.build(rule, event, more, _GRAPHQL)
    if not _make_plan(rt, session, rule, content, f"req_{event.id}", contexts):
        return 0
    if state is None:
        state = AlertSubjectState(rule_id=rule.id, subject=subject, last_sent_at=now)
    state.last_sent_at, state.suppressed = now, 0
    session.add(state)
    session.flush()
    return 1


def _make_plan(
    rt: Runtime,
    session: Session,
    rule: AlertRule,
    content: ContentInput,
    request_id: str,
    contexts: list[OpContext],
) -> bool:
    principal = Principal(workspace_id=rule.workspace_id, key_id=rule.created_by or rule.id, name=f"alert {rule.name}")
    ctx = OpContext(runtime=rt, principal=principal, request_id=request_id)
    data = CreatePlanInput(content=content, target_ids=[rule.target_id])
    try:
        with session.begin_nested():
            payload = create_plan(ctx, session, data)
    except HeraldError as exc:  # the target was deleted, a quota: the event is dispatched without an alert
        ctx.on_commit.drop()
        log.warning("alert rule %s could not deliver %s: %s", rule.id, content.id, exc.message)
        return False
    except Exception:  # never let one event block the events behind it (its savepoint rolled back)
        ctx.on_commit.drop()
        log.exception("alert rule %s failed on %s", rule.id, content.id)
        return False
    assert payload.plan is not None
    session.execute(
        update(Plan)
        .where(col(Plan.id) == payload.plan.id)
        .values(origin=ALERT_ORIGIN)
        .execution_options(synchronize_session=False)
    )
    contexts.append(ctx)
    return True


def _flush_held(rt: Runtime, now: datetime, contexts: list[OpContext]) -> int:
    """A subject whose interval passed with events held back and none since: one "N more" alert of its own."""
    contexts.clear()
    made = 0
    with session_scope(rt.engine) as session:
        rows = session.exec(
            select(AlertSubjectState, AlertRule)
            .join(AlertRule, col(AlertRule.id) == AlertSubjectState.rule_id)
            .where(col(AlertSubjectState.suppressed) > 0, col(AlertRule.active).is_(True))
            .with_for_update(skip_locked=True, of=AlertSubjectState)
        ).all()
        for state, rule in rows:
            if (now - state.last_sent_at).total_seconds() < rule.min_interval_seconds:
                continue
            content = alert_content.held(rule, state.subject, state.suppressed, state.last_sent_at, _GRAPHQL)
            if _make_plan(rt, session, rule, content, f"req_{rule.id}", contexts):
                state.last_sent_at, state.suppressed = now, 0
                session.add(state)
                made += 1
    return made

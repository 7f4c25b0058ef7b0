"""Alert rule operations: create (checked against the event types and the destination target), list, delete."""

from __future__ import annotations

from sqlmodel import Session, col, delete, select

from server.alerts import matching
from server.alerts.schemas import (
    AlertFilters,
    AlertRuleList,
    AlertRulePayload,
    AlertRuleRead,
    CreateAlertRuleInput,
    DeleteAlertRuleInput,
    ListAlertRulesInput,
)
from server.context import OpContext
from server.errors import NotFound
from server.hints import for_real, hint
from server.ids import check_id, new_id
from server.models import AlertRule, AlertSubjectState
from server.models.base import utcnow
from server.pagination import page
from server.targets.repository import load_target


def rule_read(rule: AlertRule) -> AlertRuleRead:
    return AlertRuleRead(
        id=rule.id,
        name=rule.name,
        event_types=rule.event_types,
        target_id=rule.target_id,
        filters=AlertFilters.model_validate(rule.filters or {}),
        min_interval_seconds=rule.min_interval_seconds,
        active=rule.active,
        created_at=rule.created_at,
    )


def create_alert_rule(ctx: OpContext, session: Session, data: CreateAlertRuleInput) -> AlertRulePayload:
    patterns = matching.check_patterns(data.event_types)
    target = load_target(session, ctx.workspace_id, data.target_id, "targetId")
    filters = data.filters.model_dump(mode="json", by_alias=True) if data.filters else {}
    rule = AlertRule(
        id=new_id("alert_rule"),
        workspace_id=ctx.workspace_id,
        name=data.name,
        event_types=patterns,
        filters=filters,
        target_id=target.id,
        min_interval_seconds=data.min_interval_seconds,
        active=data.active,
        created_by=ctx.principal.key_id,
        created_at=utcnow(),
    )
    session.add(rule)
    session.flush()
    read = rule_read(rule)
    if data.dry_run:
        return AlertRulePayload(rule=read, dry_run=True, recommended_next_action=for_real())
    return AlertRulePayload(
        rule=read,
        recommended_next_action=hint(
            "test_distribution_target",
            f"Matching events are now delivered to {target.name}; send it a test delivery to see that alerts arrive.",
            id=target.id,
        ),
    )


def list_alert_rules(ctx: OpContext, session: Session, data: ListAlertRulesInput) -> AlertRuleList:
    query = select(AlertRule).where(AlertRule.workspace_id == ctx.workspace_id)
    rows, next_cursor = page(session, query, AlertRule.id, data.limit, data.cursor, newest_first=False)
    action = (
        hint("list_alert_rules", "More rules follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint("list_operational_events", "Every rule listed; the events they match are here.")
    )
    return AlertRuleList(
        items=[rule_read(row) for row in rows], next_cursor=next_cursor, recommended_next_action=action
    )


def delete_alert_rule(ctx: OpContext, session: Session, data: DeleteAlertRuleInput) -> AlertRulePayload:
    check_id("alert_rule", data.id)
    query = select(AlertRule).where(AlertRule.id == data.id, AlertRule.workspace_id == ctx.workspace_id)
    rule = session.exec(query.with_for_update()).first()
    if rule is None:
        raise NotFound(
            f"No alert rule {data.id} in this workspace.",
            field="id",
            next_action=hint("list_alert_rules", "List the alert rules to find the right id."),
        )
    read = rule_read(rule)
    if data.dry_run:
        return AlertRulePayload(rule=read, dry_run=True, recommended_next_action=for_real("Delete the rule for real."))
    session.execute(delete(AlertSubjectState).where(col(AlertSubjectState.rule_id) == rule.id))
    session.delete(rule)
    return AlertRulePayload(
        rule=read,
        recommended_next_action=hint("list_alert_rules", "The rule is deleted; alerts it made stay as plans."),
    )

"""What an alert says: the event's type, message, ids and the call an operator should make next."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from server.hints import NextAction
from server.models import AlertRule, OperationalEvent
from server.plans.schemas import ContentInput

# event type (or its prefix) -> (tool, reason, which id the call takes and as what argument)
_NEXT: dict[str, tuple[str, str, str, str]] = {
    "target.paused": (
        "get_distribution_target",
        "The target is paused; its jobs wait and go on when the pause ends. Check its rate limit, "
        "or resume_distribution_target.",
        "target_id",
        "id",
    ),
    "target.circuit_opened": (
        "get_distribution_target",
        "The target's circuit is open: its jobs wait. Check the receiver, its config and credentials; "
        "update_distribution_target or resume_distribution_target once it is healthy.",
        "target_id",
        "id",
    ),
    "target.": ("get_distribution_target", "See the target's pause and circuit state.", "target_id", "id"),
    "job.": (
        "list_dead_letters",
        "Inspect the failed deliveries' requests and responses, fix the cause, then replay_dead_letters.",
        "target_id",
        "targetId",
    ),
    "plan.": (
        "get_plan_report",
        "See which deliveries failed or were slow; retry_failed_jobs once the cause is fixed.",
        "plan_id",
        "id",
    ),
    "deliveries.halted": ("resume_deliveries", "Resume deliveries once the reason for the halt is resolved.", "", ""),
}


def next_action(event: OperationalEvent, graphql: dict[str, str]) -> NextAction:
    key = next((k for k in _NEXT if event.type == k or (k.endswith(".") and event.type.startswith(k))), None)
    if key is None:
        return NextAction(
            tool="list_operational_events",
            graphql=graphql.get("list_operational_events"),
            arguments={"type": event.type},
            reason="See the events of this type.",
        )
    tool, reason, attribute, argument = _NEXT[key]
    value = getattr(event, attribute) if attribute else None
    return NextAction(tool=tool, graphql=graphql.get(tool), arguments={argument: value} if value else {}, reason=reason)


def _zulu(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _plain(text: str) -> str:
    """Content fields are templates; an event's text is sent as it is."""
    return text.replace("{{", "{ {").replace("{%", "{ %").replace("{#", "{ #")


def build(
    rule: AlertRule, event: OperationalEvent, more: tuple[int, datetime] | None, graphql: dict[str, str]
) -> ContentInput:
    """``more``: how many matching events about the same subject were held back since the last alert (and when)."""
    action = next_action(event, graphql)
    occurred = _zulu(event.created_at)
    since = None if more is None else _zulu(more[1])
    lines = [event.message]
    if more is not None:
        lines.append(f"{more[0]} more since {since} (at most one alert every {rule.min_interval_seconds}s).")
    lines.append(f"Next: {action.reason}")
    metadata: dict[str, Any] = {
        "alert": {
            "ruleId": rule.id,
            "ruleName": rule.name,
            "eventId": event.id,
            "eventType": event.type,
            "occurredAt": occurred,
            "workspaceId": event.workspace_id,
            "targetId": event.target_id,
            "planId": event.plan_id,
            "jobId": event.job_id,
            "data": event.data,
            "moreSince": None if more is None else {"count": more[0], "since": since},
            "recommendedNextAction": action.wire(),
        }
    }
    return ContentInput(
        id=f"alert-{event.id}",
        version=rule.id,
        title=_plain(f"Herald alert ({rule.name}): {event.type}")[:500],
        body=_plain("\n".join(lines)),
        metadata=metadata,
    )


def held(rule: AlertRule, subject: str, count: int, since: datetime, graphql: dict[str, str]) -> ContentInput:
    """The alert for events held back about ``subject`` when no new one came after the interval."""
    where = {"tgt": "targetId", "pln": "planId"}.get(subject.split("_", 1)[0])
    action = NextAction(
        tool="list_operational_events",
        graphql=graphql.get("list_operational_events"),
        arguments={where: subject} if where else {},
        reason="See the events held back.",
    )
    about = "the workspace" if where is None else subject
    text = (
        f"{count} more event(s) matching {', '.join(rule.event_types)} about {about} since {_zulu(since)} "
        f"(at most one alert every {rule.min_interval_seconds}s)."
    )
    metadata = {
        "alert": {
            "ruleId": rule.id,
            "ruleName": rule.name,
            "workspaceId": rule.workspace_id,
            "subject": subject,
            "moreSince": {"count": count, "since": _zulu(since)},
            "recommendedNextAction": action.wire(),
        }
    }
    return ContentInput(
        id=f"alert-held-{subject}-{_zulu(since)}",
        version=rule.id,
        title=_plain(f"Herald alert ({rule.name}): {count} more about {about}")[:500],
        body=_plain(f"{text}\nNext: {action.reason}"),
        metadata=metadata,
    )

"""Which rules an operational event matches, and what its subject is (what rate limiting counts per)."""

from __future__ import annotations

from server.activity.recorder import EVENT_TYPES
from server.errors import ValidationFailed
from server.models import AlertRule, OperationalEvent

WORKSPACE = "workspace"


def pattern_matches(pattern: str, event_type: str) -> bool:
    """``job.dead`` matches itself; ``target.*`` every ``target.`` event; ``*`` every event."""
    if pattern.endswith("*"):
        return event_type.startswith(pattern[:-1])
    return pattern == event_type


def check_patterns(patterns: list[str]) -> list[str]:
    """The patterns, each matching at least one known event type, without repeats; else VALIDATION_ERROR."""
    for index, pattern in enumerate(patterns):
        if not any(pattern_matches(pattern, known) for known in EVENT_TYPES):
            raise ValidationFailed(
                f"{pattern!r} matches no operational event type; known types: {', '.join(EVENT_TYPES)} "
                "(or a prefix pattern such as 'target.*').",
                field=f"eventTypes.{index}",
            )
    return list(dict.fromkeys(patterns))


def subject_of(event: OperationalEvent) -> str:
    """The target an event is about, else its plan, else its job, else the workspace (a halt, a schedule run)."""
    return event.target_id or event.plan_id or event.job_id or WORKSPACE


def rule_matches(
    rule: AlertRule, event: OperationalEvent, labels: list[str], plan_targets: list[str] | None = None
) -> bool:
    """``labels``: the event's target's labels; ``plan_targets``: for an event about a plan, its targets."""
    if not rule.active or event.created_at < rule.created_at:
        return False
    if not any(pattern_matches(pattern, event.type) for pattern in rule.event_types):
        return False
    filters = rule.filters or {}
    targets = {event.target_id} if event.target_id else set(plan_targets or ())
    if filters.get("targetIds") and not targets & set(filters["targetIds"]):
        return False
    if filters.get("targetLabels") and not set(labels) & set(filters["targetLabels"]):
        return False
    return not (filters.get("planIds") and event.plan_id not in filters["planIds"])

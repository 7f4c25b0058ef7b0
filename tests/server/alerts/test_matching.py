"""Which events a rule matches: types and patterns, filters, events before the rule; the subject."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.alerts.matching import check_patterns, rule_matches, subject_of
from server.errors import ValidationFailed
from server.models import AlertRule, OperationalEvent

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


def rule(*types: str, active: bool = True, **filters: list[str]) -> AlertRule:
    return AlertRule(
        id="alr_1",
        workspace_id="ws",
        name="r",
        event_types=list(types),
        filters=filters,
        target_id="tgt_hook",
        active=active,
        created_at=T0,
    )


def event(type_: str, at: datetime = T0, **ids: str) -> OperationalEvent:
    return OperationalEvent(id="evt_1", workspace_id="ws", type=type_, message="m", data={}, created_at=at, **ids)


def test_types_and_patterns() -> None:
    assert rule_matches(rule("job.dead"), event("job.dead"), [])
    assert not rule_matches(rule("job.dead"), event("job.failed_late"), [])
    assert rule_matches(rule("target.*"), event("target.circuit_opened"), [])
    assert not rule_matches(rule("target.*"), event("plan.failed"), [])
    assert rule_matches(rule("*"), event("deliveries.halted"), [])
    assert not rule_matches(rule("*", active=False), event("deliveries.halted"), [])


def test_events_before_the_rule_never_match() -> None:
    assert not rule_matches(rule("job.dead"), event("job.dead", T0 - timedelta(seconds=1)), [])


def test_filters() -> None:
    by_target = rule("*", targetIds=["tgt_a"])
    assert rule_matches(by_target, event("target.paused", target_id="tgt_a"), [])
    assert not rule_matches(by_target, event("target.paused", target_id="tgt_b"), [])
    assert rule_matches(by_target, event("plan.failed", plan_id="pln_1"), [], plan_targets=["tgt_b", "tgt_a"])
    assert not rule_matches(by_target, event("plan.failed", plan_id="pln_1"), [], plan_targets=["tgt_b"])
    by_label = rule("*", targetLabels=["partners"])
    assert rule_matches(by_label, event("target.paused", target_id="tgt_a"), ["partners", "eu"])
    assert not rule_matches(by_label, event("target.paused", target_id="tgt_a"), ["eu"])
    by_plan = rule("plan.*", planIds=["pln_1"])
    assert rule_matches(by_plan, event("plan.kpi_missed", plan_id="pln_1"), [])
    assert not rule_matches(by_plan, event("plan.kpi_missed", plan_id="pln_2"), [])


def test_subject_is_the_target_else_the_plan_else_the_job_else_the_workspace() -> None:
    assert subject_of(event("job.dead", target_id="tgt_a", plan_id="pln_1", job_id="job_1")) == "tgt_a"
    assert subject_of(event("plan.failed", plan_id="pln_1")) == "pln_1"
    assert subject_of(event("deliveries.halted")) == "workspace"


def test_patterns_are_checked_and_deduplicated() -> None:
    assert check_patterns(["job.dead", "target.*", "job.dead"]) == ["job.dead", "target.*"]
    with pytest.raises(ValidationFailed) as refused:
        check_patterns(["job.dead", "jobs.*"])
    assert refused.value.field == "eventTypes.1"
    with pytest.raises(ValidationFailed):
        check_patterns(["plan.kpi"])

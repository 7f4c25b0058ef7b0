"""Data models of the alert rule operations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from server.common import CURSOR, LIMIT, MutationInput, MutationResult
from server.hints import NextAction
from server.wire import FILTER_MAX, Id, Label, WireModel

EventType = Annotated[str, StringConstraints(min_length=1, max_length=FILTER_MAX)]
EventPattern = Field(
    min_length=1,
    max_length=20,
    description="Event types (target.circuit_opened, job.dead, plan.kpi_missed, …) or patterns: 'target.*', '*'.",
)


class AlertFilters(WireModel):
    target_ids: list[Id] = Field(
        default_factory=list, max_length=100, description="Only events about these targets (or their plans)."
    )
    target_labels: list[Label] = Field(
        default_factory=list, max_length=20, description="Only events about targets carrying any of these labels."
    )
    plan_ids: list[Id] = Field(default_factory=list, max_length=100, description="Only events about these plans.")


class CreateAlertRuleInput(MutationInput):
    name: str = Field(min_length=1, max_length=200, description="What the rule is for, shown in each alert.")
    event_types: list[EventType] = EventPattern
    target_id: Id = Field(description="Where alerts are delivered (tgt_…): any channel, e.g. Slack or a webhook.")
    filters: AlertFilters | None = None
    min_interval_seconds: int = Field(
        300,
        ge=0,
        le=604_800,
        description="At most one alert per subject (a target, plan, or the workspace) this often; events in "
        "between are counted and the next alert says how many.",
    )
    active: bool = True


class AlertRuleRead(WireModel):
    id: Id
    name: str
    event_types: list[str]
    target_id: Id
    filters: AlertFilters
    min_interval_seconds: int
    active: bool
    created_at: datetime


class AlertRulePayload(MutationResult):
    rule: AlertRuleRead | None = Field(
        description="The rule: as made, as it would be (dry run), or as it was (delete)."
    )


class ListAlertRulesInput(WireModel):
    limit: int = LIMIT
    cursor: str | None = CURSOR


class AlertRuleList(WireModel):
    items: list[AlertRuleRead]
    next_cursor: str | None
    recommended_next_action: NextAction


class DeleteAlertRuleInput(MutationInput):
    id: Id = Field(description="Alert rule id (alr_…).")

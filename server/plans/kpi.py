"""A plan's KPI thresholds and how a finished plan measured against them (pure: the report's figures in)."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from server.wire import WireModel


class PlanKpiInput(WireModel):
    """Thresholds a finished plan is held to; a miss records the event plan.kpi_missed (alert rules send it)."""

    first_attempt_success_rate: float | None = Field(
        None, ge=0, le=1, description="At least this share of jobs delivered on their first attempt (0.99)."
    )
    delivery_rate: float | None = Field(
        None, ge=0, le=1, description="At least this share of deliveries landed, directly or via fallback (0.9999)."
    )
    average_delivery_seconds: float | None = Field(
        None, gt=0, le=86_400, description="Mean time from due to delivered at most this (2.5)."
    )
    completion_within_seconds: float | None = Field(
        None, gt=0, le=604_800, description="Every job final within this many seconds of the plan's due time (300)."
    )

    @model_validator(mode="after")
    def _some_threshold(self) -> PlanKpiInput:
        if all(value is None for value in self.model_dump().values()):
            raise ValueError("give at least one threshold")
        return self


class KpiCheck(WireModel):
    name: str = Field(description="The threshold's field name, e.g. firstAttemptSuccessRate.")
    threshold: float
    measured: float | None = Field(description="What the plan achieved (null: nothing to measure, e.g. no delivery).")
    met: bool | None = Field(description="Null while the plan runs or when there is nothing to measure.")


class KpiResult(WireModel):
    checks: list[KpiCheck]
    missed: list[str] = Field(description="Names of the thresholds missed (only once the plan has ended).")


# name -> (report figure, True when higher is better)
_MEASURES = {
    "firstAttemptSuccessRate": ("first_attempt_success_rate", True),
    "deliveryRate": ("delivery_rate", True),
    "averageDeliverySeconds": ("avg_delivery_seconds", False),
    "completionWithinSeconds": ("completion_seconds", False),
}


def evaluate(kpi: dict[str, Any], measured: dict[str, float | None], ended: bool) -> KpiResult:
    """``kpi`` as stored (camelCase); ``measured``: the report's figures by their snake_case names."""
    checks = []
    for name, (figure, higher) in _MEASURES.items():
        threshold = kpi.get(name)
        if threshold is None:
            continue
        value = measured.get(figure)
        met = None if value is None or not ended else (value >= threshold if higher else value <= threshold)
        checks.append(KpiCheck(name=name, threshold=threshold, measured=value, met=met))
    return KpiResult(checks=checks, missed=[check.name for check in checks if check.met is False])

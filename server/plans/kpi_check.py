"""When a plan ends: hold it to its KPI thresholds and record ``plan.kpi_missed`` for a miss.

Called in the transaction that ends the plan, once per plan; a plan without a ``kpi`` costs one
indexed read of that column, the report is built only for plans that have thresholds.
"""

from __future__ import annotations

from sqlmodel import Session, select

from server.activity.recorder import record_event
from server.models import Plan
from server.plans.report import build_report


def check_kpi(session: Session, workspace_id: str, plan_id: str) -> bool:
    """Record ``plan.kpi_missed`` if the ended plan ``plan_id`` missed a threshold; returns whether it did."""
    if session.exec(select(Plan.kpi).where(Plan.id == plan_id)).first() is None:
        return False
    plan = session.exec(select(Plan).where(Plan.id == plan_id).execution_options(populate_existing=True)).one()
    report = build_report(session, plan)
    if report.kpi is None or not report.kpi.missed:
        return False
    misses = [check for check in report.kpi.checks if check.met is False]
    described = ", ".join(f"{check.name} {check.measured:g} (threshold {check.threshold:g})" for check in misses)
    record_event(
        session,
        workspace_id,
        "plan.kpi_missed",
        f"Plan {plan_id} ended {plan.status} and missed its KPIs: {described}.",
        plan_id=plan_id,
        status=plan.status,
        missed=report.kpi.missed,
        checks=[check.wire() for check in report.kpi.checks],
    )
    return True

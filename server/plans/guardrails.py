"""Agent guardrails on plans: large fan-outs need a confirmation from a dry run; per-key quotas."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlmodel import Session, col, func, select

from server.context import OpContext
from server.errors import HeraldError
from server.hints import hint
from server.idempotency import request_hash
from server.models import Plan
from server.models.base import utcnow
from server.plans.schemas import CreatePlanInput

CONFIRMATION_SECONDS = 600


def _message(ctx: OpContext, data: CreatePlanInput, expires: int) -> str:
    digest = request_hash("create_distribution_plan", data.model_dump(mode="json", by_alias=True))
    return f"{ctx.workspace_id}|{digest}|{expires}"


def confirmation_token(ctx: OpContext, data: CreatePlanInput) -> str:
    """Issued by a dry run; valid 10 minutes for exactly the same request."""
    expires = int(time.time()) + CONFIRMATION_SECONDS
    return f"{expires}.{ctx.runtime.box.sign(_message(ctx, data, expires))}"


def needs_confirmation(ctx: OpContext, target_count: int) -> bool:
    return target_count > ctx.runtime.settings.confirm_above_targets


def check_confirmation(ctx: OpContext, data: CreatePlanInput, target_count: int) -> None:
    token = data.confirmation_token or ""
    expires, _, signature = token.partition(".")
    valid = (
        expires.isdigit()
        and int(expires) >= time.time()
        and ctx.runtime.box.verify(_message(ctx, data, int(expires)), signature)
    )
    if not valid:
        arguments = data.model_dump(
            mode="json", by_alias=True, exclude={"dry_run", "confirmation_token"}, exclude_none=True
        )
        raise HeraldError(
            f"This plan reaches {target_count} targets (more than {ctx.runtime.settings.confirm_above_targets}); "
            + ("the confirmationToken is invalid or expired." if token else "it needs a confirmationToken."),
            code="CONFIRMATION_REQUIRED",
            field="confirmationToken",
            remediation="Dry-run the same request; its result carries a confirmationToken valid for 10 minutes.",
            next_action=hint(
                "create_distribution_plan", "Preview the plan; the dry run issues the token.", dryRun=True, **arguments
            ),
        )


def check_quotas(ctx: OpContext, session: Session, target_count: int) -> None:
    settings = ctx.runtime.settings
    if target_count > settings.quota_targets_per_plan:
        raise HeraldError(
            f"A plan may reach at most {settings.quota_targets_per_plan} targets; this one selects {target_count}.",
            code="QUOTA_EXCEEDED",
            field="targetLabels",
            remediation="Split the distribution into several plans.",
        )
    since = utcnow() - timedelta(hours=1)
    recent = session.exec(
        select(func.count(), func.min(Plan.created_at)).where(
            Plan.created_by == ctx.principal.key_id, col(Plan.created_at) >= since
        )
    ).one()
    count, oldest = recent
    if count >= settings.quota_plans_per_hour:
        wait = max((oldest + timedelta(hours=1) - utcnow()).total_seconds(), 1.0)
        raise HeraldError(
            f"This API key created {count} plans in the last hour (quota {settings.quota_plans_per_hour}).",
            code="QUOTA_EXCEEDED",
            remediation="Wait, or use a key with its own quota.",
            next_action=hint(
                "create_distribution_plan",
                "Try again when the hourly window frees a slot.",
                after_seconds=round(wait, 1),
            ),
        )

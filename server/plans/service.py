"""Plan operations: create (with preview and fan-out), read, list, cancel, retry, replay."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime

from sqlalchemy import or_
from sqlmodel import Session, col, select

from adapters import Content, Policy, get_channel
from server import idempotency
from server.context import OpContext
from server.db import insert_rows
from server.errors import Conflict, NotFound, ValidationFailed
from server.hints import for_real, hint
from server.ids import check_id, new_id
from server.jobs import plan_state, transitions
from server.jobs.queue import enqueue_at
from server.jobs.status import HOLDS_CONTENT, PLAN_FINAL, RETRYABLE, WAITING, JobStatus, PlanStatus
from server.models import Job, Plan, Target
from server.models.base import utcnow
from server.pagination import page
from server.plans import guardrails
from server.plans import repository as repo
from server.plans.hints import plan_hint
from server.plans.schemas import (
    CreatePlanInput,
    JobsRequeuedPayload,
    ListPlansInput,
    PlanIdInput,
    PlanList,
    PlanMutationInput,
    PlanPayload,
    PlanPreview,
    PlanResult,
    RetryFailedJobsInput,
    TargetPreview,
)
from server.policy import channel_refusal, effective_policy
from server.targets.repository import check_labels, has_label, is_paused, target_view

# A plan needs only these of each target; a dry run's preview renders the whole target.
_PLAN_COLUMNS = (Target.id, Target.active, Target.channel, Target.policy)


def _resolve_targets(ctx: OpContext, session: Session, data: CreatePlanInput) -> list[Target]:
    ids = [check_id("target", tid, "targetIds") for tid in dict.fromkeys(data.target_ids)]
    labels = check_labels(data.target_labels, "targetLabels")
    if not ids and not labels:
        raise ValidationFailed(
            "Name at least one target: targetIds or targetLabels.",
            field="targetIds",
            next_action=hint("list_distribution_targets", "List targets to pick ids."),
        )
    columns = (Target,) if data.dry_run else _PLAN_COLUMNS
    query = select(*columns).where(Target.workspace_id == ctx.workspace_id, col(Target.id).in_(ids))
    found = {t.id: t for t in session.exec(query).all()}
    missing = [tid for tid in ids if tid not in found]
    if missing:
        raise NotFound(
            f"Unknown target id(s) in this workspace: {', '.join(missing)}.",
            field="targetIds",
            next_action=hint("list_distribution_targets", "List targets to find the right ids."),
        )
    inactive = [t.id for t in found.values() if not t.active]
    if inactive:
        raise ValidationFailed(
            f"Target(s) {', '.join(inactive)} are inactive.",
            field="targetIds",
            next_action=hint("update_distribution_target", "Activate the target first.", id=inactive[0], active=True),
        )
    targets = [found[tid] for tid in ids]
    if labels:
        targets += _labelled(session, ctx.workspace_id, labels, set(ids), columns)
    if not targets:
        raise ValidationFailed(f"No active target carries any of the labels {labels}.", field="targetLabels")
    return targets


def _labelled(
    session: Session, workspace_id: str, labels: list[str], exclude: set[str], columns: tuple
) -> list[Target]:
    query = select(*columns).where(
        Target.workspace_id == workspace_id, col(Target.active).is_(True), or_(*map(has_label, labels))
    )
    return [t for t in session.exec(query.order_by(col(Target.id))).all() if t.id not in exclude]


def _already_delivered(session: Session, workspace_id: str, content_key: str, target_ids: list[str]) -> dict[str, str]:
    # By content key alone (indexed): a list of 10,000 target ids as parameters costs more than it filters.
    rows = session.exec(
        select(Job.target_id, Job.plan_id).where(
            Job.workspace_id == workspace_id, Job.content_key == content_key, col(Job.status).in_(HOLDS_CONTENT)
        )
    ).all()
    wanted = set(target_ids)
    return {target_id: plan_id for target_id, plan_id in rows if target_id in wanted}


def content_hash(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def create_plan(ctx: OpContext, session: Session, data: CreatePlanInput) -> PlanPayload:
    now = utcnow()
    scheduled_at = _scheduled_at(data.scheduled_at, now)
    targets = _resolve_targets(ctx, session, data)
    guardrails.check_quotas(ctx, session, len(targets))
    if guardrails.needs_confirmation(ctx, len(targets)) and not data.dry_run:
        guardrails.check_confirmation(ctx, data, len(targets))
    content_key = f"{data.content.id}@{data.content.version}"
    duplicates = (
        {} if data.redistribute else _already_delivered(session, ctx.workspace_id, content_key, [t.id for t in targets])
    )
    skips = _skips(data, targets, duplicates)
    if data.dry_run:
        return _dry_run(ctx, data, targets, skips, scheduled_at)
    plan, due, queued_for = _insert_plan(ctx, session, data, targets, skips, scheduled_at, now)
    read = repo.plan_read(session, plan, ctx.runtime.settings)
    if queued_for is not None:  # else the scheduler tick sends them as they come due
        ctx.after_commit(lambda: enqueue_at(ctx.runtime, due, scheduled_at))
    return (
        PlanPayload(plan=read, recommended_next_action=plan_hint(read))
        if due
        else PlanPayload(
            plan=read,
            recommended_next_action=hint(
                "create_distribution_plan",
                "Every target was skipped (already received this version, or refused by policy); "
                "set redistribute=true to send it again.",
                **{**data.model_dump(mode="json", by_alias=True, exclude_none=True), "redistribute": True},
            ),
        )
    )


def _skips(data: CreatePlanInput, targets: list[Target], duplicates: dict[str, str]) -> dict[str, str]:
    """Targets that get no delivery, with the reason: already distributed, or refused by policy."""
    plan_policy = data.policy.model_dump(mode="json") if data.policy else None
    skips = {tid: f"already distributed to this target by {plan_id}" for tid, plan_id in duplicates.items()}
    for target in targets:
        refusal = channel_refusal(effective_policy(plan_policy, target.policy), target.channel)
        if refusal and target.id not in skips:
            skips[target.id] = refusal
    return skips


def _scheduled_at(value: datetime | None, now: datetime) -> datetime | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValidationFailed("scheduledAt needs a time zone, e.g. 2026-12-01T09:00:00Z.", field="scheduledAt")
    return value.astimezone(UTC) if value > now else None


def _insert_plan(
    ctx: OpContext,
    session: Session,
    data: CreatePlanInput,
    targets: list[Target],
    skips: dict[str, str],
    scheduled_at: datetime | None,
    now: datetime,
) -> tuple[Plan, list[str], datetime | None]:
    """The plan and its job rows (one INSERT); the ids to send, and the due time their message goes for
    now (None: beyond the enqueue horizon)."""
    content = data.content.model_dump(mode="json")
    plan = Plan(
        id=new_id("plan"),
        workspace_id=ctx.workspace_id,
        content=content,
        content_hash=content_hash(content),
        target_ids=[t.id for t in targets],
        policy=(data.policy.model_dump(mode="json") if data.policy else {}),
        scheduled_at=scheduled_at,
        status=plan_state.created(scheduled_at is not None),
        total_jobs=len(targets),
        skipped_count=len(skips),
        idempotency_key=data.idempotency_key,
        created_by=ctx.principal.key_id,
    )
    session.add(plan)
    session.flush()
    content_key = f"{content['id']}@{content['version']}"
    due = scheduled_at or now
    queued_for = transitions.message_due(due, now, ctx.runtime.settings.enqueue_horizon_seconds)
    waiting = transitions.created(None, due, queued_for, now)  # the same for every job not skipped
    rows = [
        _job_row(
            ctx,
            plan,
            content_key,
            target,
            waiting if target.id not in skips else transitions.created(skips[target.id], due, None, now),
            now,
        )
        for target in targets
    ]
    insert_rows(session, Job, rows)
    if len(skips) == len(targets):
        plan_state.finish_if_done(session, plan.id, plan.total_jobs, 0, 0, 0, 0, len(skips), plan.status)
        session.refresh(plan)
    return plan, [row["id"] for row in rows if row["status"] != JobStatus.SKIPPED], queued_for


def _job_row(ctx: OpContext, plan: Plan, content_key: str, target: Target, state: dict, now: datetime) -> dict:
    return {
        "id": new_id("job"),
        "workspace_id": ctx.workspace_id,
        "plan_id": plan.id,
        "target_id": target.id,
        "content_key": content_key,
        "attempts": 0,
        "retries_used": 0,
        "created_at": now,
        "updated_at": now,
        **state,
    }


def _dry_run(
    ctx: OpContext, data: CreatePlanInput, targets: list[Target], skips: dict[str, str], scheduled_at: datetime | None
) -> PlanPayload:
    content = Content.model_validate(data.content.model_dump(mode="json"))
    plan_policy = data.policy.model_dump(mode="json") if data.policy else None
    previews = [
        _preview(ctx, target, content, effective_policy(plan_policy, target.policy), skips.get(target.id))
        for target in targets
    ]
    preview = PlanPreview(
        targets=previews, scheduled_at=scheduled_at, jobs_to_create=sum(p.verdict != "skip" for p in previews)
    )
    token = guardrails.confirmation_token(ctx, data) if guardrails.needs_confirmation(ctx, len(targets)) else None
    extra: dict[str, object] = {"confirmationToken": token} if token else {}
    return PlanPayload(
        plan=None,
        preview=preview,
        confirmation_token=token,
        dry_run=True,
        recommended_next_action=for_real(
            "If the preview looks right, create the plan, keeping the idempotency key so a retry cannot deliver twice.",
            **extra,
            idempotencyKey=data.idempotency_key or _derived_key(data),
            awaitDelivery=True,
        ),
    )


def _derived_key(data: CreatePlanInput) -> str:
    """The content edition and a digest of the whole request: the same send gets the same key, any other another."""
    digest = idempotency.request_hash("create_distribution_plan", data.model_dump(mode="json", by_alias=True))
    return idempotency.derived_key(f"{data.content.id}@{data.content.version}", digest)


def _preview(
    ctx: OpContext, target: Target, content: Content, policy: Policy, skip_reason: str | None
) -> TargetPreview:
    rendered = get_channel(target.channel).render(content, policy, target_view(target, ctx.runtime.box))
    paused = is_paused(target)
    verdict, reason = "deliver", None
    if skip_reason:
        verdict, reason = "skip", skip_reason
    elif paused:
        verdict, reason = "wait", f"target paused: {target.pause_reason}"
    return TargetPreview(
        target_id=target.id,
        target_name=target.name,
        channel=target.channel,
        verdict=verdict,
        reason=reason,
        paused_until=target.paused_until if paused else None,
        content_type=rendered.content_type,
        payload=rendered.body,
    )


def get_plan(ctx: OpContext, session: Session, data: PlanIdInput) -> PlanResult:
    read = repo.plan_read(session, repo.load_plan(session, ctx.workspace_id, data.id), ctx.runtime.settings)
    return PlanResult(plan=read, recommended_next_action=plan_hint(read))


def list_plans(ctx: OpContext, session: Session, data: ListPlansInput) -> PlanList:
    query = select(Plan).where(Plan.workspace_id == ctx.workspace_id)
    if data.status:
        query = query.where(Plan.status == data.status)
    rows, next_cursor = page(session, query, Plan.id, data.limit, data.cursor, newest_first=True)
    action = (
        hint("list_distribution_plans", "Older plans follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint("create_distribution_plan", "All plans listed.")
    )
    return PlanList(items=[repo.plan_summary(p) for p in rows], next_cursor=next_cursor, recommended_next_action=action)


def cancel_plan(ctx: OpContext, session: Session, data: PlanMutationInput) -> PlanPayload:
    plan = repo.load_plan(session, ctx.workspace_id, data.id)
    _refuse_ended(plan)
    # Jobs first, then the plan: the order in which workers lock them, so a cancel never deadlocks with them.
    waiting = select(Job.id).where(Job.plan_id == plan.id, col(Job.status).in_(WAITING))
    ids = list(session.exec(waiting.with_for_update()).all())
    plan = session.exec(
        select(Plan).where(Plan.id == plan.id).with_for_update().execution_options(populate_existing=True)
    ).one()
    _refuse_ended(plan)
    if data.dry_run:
        return PlanPayload(
            plan=repo.plan_read(session, plan),
            dry_run=True,
            recommended_next_action=for_real(f"Cancel for real: {len(ids)} waiting job(s) would stop."),
        )
    now = utcnow()
    plan_state.cancel(plan)
    session.add(plan)
    cancelled = transitions.cancel(session, ids, now)
    session.flush()
    plan_state.record_terminal(session, plan.id, JobStatus.CANCELLED, cancelled)
    session.refresh(plan)
    read = repo.plan_read(session, plan)
    plan_id = plan.id
    ctx.after_commit(lambda: ctx.runtime.events.publish(plan_id, {"type": "plan.cancelled", "planId": plan_id}))
    return PlanPayload(
        plan=read,
        recommended_next_action=hint(
            "get_distribution_plan", "In-flight attempts finish; check the final state.", after_seconds=2, id=plan.id
        ),
    )


def _refuse_ended(plan: Plan) -> None:
    if plan.status in PLAN_FINAL:
        raise Conflict(
            f"Plan {plan.id} already ended ({plan.status}); nothing to cancel.",
            field="id",
            next_action=hint("get_distribution_plan", "Read the plan's outcome.", id=plan.id),
        )


def retry_failed_jobs(ctx: OpContext, session: Session, data: RetryFailedJobsInput) -> JobsRequeuedPayload:
    plan = repo.load_plan(session, ctx.workspace_id, data.plan_id, "planId", lock=True)
    if plan.status == PlanStatus.CANCELLED:
        raise Conflict(f"Plan {plan.id} was cancelled; create a new plan instead.", field="planId")
    jobs = list(session.exec(select(Job).where(Job.plan_id == plan.id, col(Job.status).in_(RETRYABLE))).all())
    return requeue_jobs(ctx, session, jobs, data.dry_run)


def requeue_jobs(ctx: OpContext, session: Session, jobs: list[Job], dry_run: bool) -> JobsRequeuedPayload:
    ids = [job.id for job in jobs]
    plan_ids = sorted({job.plan_id for job in jobs})
    if not jobs:
        return JobsRequeuedPayload(
            job_ids=[],
            plan_ids=[],
            dry_run=dry_run,
            recommended_next_action=hint(
                "list_distribution_plans", "Nothing to retry: no failed or dead jobs matched."
            ),
        )
    if dry_run:
        return JobsRequeuedPayload(
            job_ids=ids,
            plan_ids=plan_ids,
            dry_run=True,
            recommended_next_action=for_real(f"Requeue {len(ids)} job(s) for real."),
        )
    now = utcnow()
    for plan_id in plan_ids:
        _reopen_plan(session, plan_id, [job for job in jobs if job.plan_id == plan_id], now)
    transitions.requeue(session, ids, now)
    ctx.after_commit(lambda: enqueue_at(ctx.runtime, ids, None))
    return JobsRequeuedPayload(
        job_ids=ids,
        plan_ids=plan_ids,
        recommended_next_action=hint(
            "get_distribution_plan", "Jobs are queued again; check the plan.", after_seconds=2, id=plan_ids[0]
        ),
    )


def _reopen_plan(session: Session, plan_id: str, jobs: list[Job], now: datetime) -> None:
    failed = sum(job.status == JobStatus.FAILED for job in jobs)
    dead = sum(job.status == JobStatus.DEAD for job in jobs)
    plan_state.reopen(session, plan_id, failed, dead, now)

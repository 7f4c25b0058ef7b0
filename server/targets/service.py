"""Target operations: create, read, list, update, pause, resume, rotate (test: ``server.targets.testing``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from sqlmodel import Session, col, select

from adapters import ChannelName, ConfigError, RotatesSecret, Validated, get_channel
from adapters.http_client import check_url
from server.activity.recorder import record_event
from server.context import OpContext
from server.errors import Conflict, ValidationFailed
from server.hints import MAX_WAIT_SECONDS, NextAction, for_real, hint, wait_until
from server.ids import new_id
from server.jobs.queue import requeue_target_jobs
from server.jobs.status import RATE_LIMIT_PAUSE, RETRYABLE
from server.models import Job, Target, Workspace
from server.models.base import utcnow
from server.pagination import page
from server.targets import circuit
from server.targets import repository as repo
from server.targets.fallback import check_fallback
from server.targets.schemas import (
    CreateTargetInput,
    GetTargetInput,
    ListTargetsInput,
    PauseTargetInput,
    RotateSecretInput,
    TargetIdInput,
    TargetList,
    TargetPayload,
    TargetResult,
    UpdateTargetInput,
)


def _validated(ctx: OpContext, channel: str, config: dict, credentials: dict | None) -> Validated[Any, Any]:
    """The channel's validation, then the SSRF guard on every endpoint the target will reach."""
    try:
        validated = get_channel(channel).validate(config, credentials)
        for endpoint in validated.endpoints:
            check_url(endpoint.url, ctx.runtime.settings.allowed_network_list, endpoint.field)
    except ConfigError as exc:
        raise repo.config_error(exc) from exc
    return validated


def _check_name_free(session: Session, workspace_id: str, name: str, exclude_id: str | None = None) -> None:
    query = select(Target.id).where(Target.workspace_id == workspace_id, Target.name == name)
    existing = session.exec(query).first()
    if existing and existing != exclude_id:
        raise Conflict(
            f"A target named {name!r} already exists ({existing}).",
            field="name",
            remediation="Choose another name, or update the existing target.",
            next_action=hint("get_distribution_target", "Inspect the existing target.", id=existing),
        )


def _store_credentials(ctx: OpContext, target: Target, credentials: BaseModel | None) -> None:
    if credentials is None:
        target.credentials_blob = None
        return
    dumped = credentials.model_dump(mode="json", by_alias=True)
    target.credentials_blob = ctx.runtime.box.encrypt_json(dumped, f"target:{target.id}")


def create_target(ctx: OpContext, session: Session, data: CreateTargetInput) -> TargetPayload:
    labels = repo.check_labels(data.labels)
    validated = _validated(ctx, data.channel, data.config, data.credentials)
    _check_name_free(session, ctx.workspace_id, data.name)
    target_id = new_id("target")
    check_fallback(session, ctx.workspace_id, target_id, data.name, data.fallback_target_id)
    target = Target(
        id=target_id,
        workspace_id=ctx.workspace_id,
        name=data.name,
        channel=data.channel,
        config=validated.config.model_dump(mode="json", by_alias=True),
        labels=labels,
        active=data.active,
        retry_policy=data.retry_policy.wire() if data.retry_policy else None,
        rate_limit=data.rate_limit.wire() if data.rate_limit else None,
        max_concurrency=data.max_concurrency,
        policy=data.policy.model_dump(mode="json", by_alias=True, exclude_unset=True) if data.policy else None,
        fallback_target_id=data.fallback_target_id,
    )
    if data.dry_run:
        return TargetPayload(
            target=repo.to_read(target, ctx.runtime.settings, persisted=False),
            dry_run=True,
            recommended_next_action=for_real(),
        )
    _store_credentials(ctx, target, validated.credentials)
    session.add(target)
    session.flush()
    return TargetPayload(
        target=repo.to_read(target, ctx.runtime.settings),
        revealed_secrets=validated.revealed or None,
        recommended_next_action=confirm_hint(target),
    )


# What a dry run of a plan shows a new target, when a test would reach a real receiver; the caller's own goes in.
SAMPLE_CONTENT = {"id": "sample", "version": "1", "title": "Sample title", "body": "Sample body."}


def confirm_hint(target: Target) -> NextAction:
    """How to confirm a target works without surprising its receiver: a test only where it reaches no one."""
    if target.channel == ChannelName.STUB:
        return hint(
            "test_distribution_target",
            "A stub target reaches no receiver, so send it a test delivery to confirm it works.",
            id=target.id,
        )
    return hint(
        "create_distribution_plan",
        "A test would send one real event to this receiver, so preview a plan instead: the dry run renders what "
        "the target would receive and sends nothing (put your own content in place of the sample).",
        content=SAMPLE_CONTENT,
        targetIds=[target.id],
        dryRun=True,
    )


def get_target(ctx: OpContext, session: Session, data: GetTargetInput) -> TargetResult:
    target = repo.load_target(session, ctx.workspace_id, data.id)
    workspace = session.get(Workspace, ctx.workspace_id)
    halted = workspace is not None and workspace.halted
    return TargetResult(
        target=repo.to_read(target, ctx.runtime.settings), recommended_next_action=health_hint(target, halted, utcnow())
    )


def health_hint(target: Target, halted: bool, now: datetime) -> NextAction:
    """What stands between the target and its next delivery, and the call that lifts it (or when to look again)."""
    if halted:
        return hint(
            "resume_deliveries",
            "Deliveries are halted in this workspace; resume them once the reason for the halt is resolved.",
        )
    if target.paused_until is not None and repo.is_paused(target, now):
        return _pause_hint(target, target.paused_until, now)
    if target.circuit_state == "open" and target.circuit_until is not None and target.circuit_until > now:
        return _circuit_hint(target, target.circuit_until, now)
    if not target.active:
        return hint(
            "update_distribution_target", "The target is inactive; activate it to deliver.", id=target.id, active=True
        )
    return hint("create_distribution_plan", "The target is ready for plans.", targetIds=[target.id])


def _pause_hint(target: Target, until: datetime, now: datetime) -> NextAction:
    wait = wait_until(until, now)
    reason = target.pause_reason or "paused"
    if reason.startswith(RATE_LIMIT_PAUSE) or wait is not None:
        return hint(
            "get_distribution_target",
            f"Paused until {until:%Y-%m-%dT%H:%M:%SZ} ({reason}); it resumes by itself, so look again then.",
            after_seconds=wait if wait is not None else MAX_WAIT_SECONDS,
            id=target.id,
        )
    return hint(
        "resume_distribution_target",
        f"Paused until {until:%Y-%m-%dT%H:%M:%SZ} ({reason}); resume it now only if the cause is fixed.",
        id=target.id,
    )


def _circuit_hint(target: Target, until: datetime, now: datetime) -> NextAction:
    wait = wait_until(until, now)
    if wait is not None:
        return hint(
            "get_distribution_target",
            f"The circuit is open ({target.circuit_reason}); a probe delivery may go at {until:%H:%M:%SZ}, "
            "so look again then.",
            after_seconds=wait,
            id=target.id,
        )
    return hint(
        "resume_distribution_target",
        f"The circuit is open ({target.circuit_reason}) until {until:%Y-%m-%dT%H:%M:%SZ}; resuming closes the "
        "circuit, so do it only if the receiver is fixed.",
        id=target.id,
    )


def list_targets(ctx: OpContext, session: Session, data: ListTargetsInput) -> TargetList:
    query = select(Target).where(Target.workspace_id == ctx.workspace_id)
    if data.channel:
        query = query.where(Target.channel == data.channel)
    if data.label:
        query = query.where(repo.has_label(data.label))
    rows, next_cursor = page(session, query, Target.id, data.limit, data.cursor, newest_first=False)
    action = (
        hint("list_distribution_targets", "More targets follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint("create_distribution_target", "All targets listed; create one if a destination is missing.")
    )
    items = [repo.to_read(row, ctx.runtime.settings) for row in rows]
    return TargetList(items=items, next_cursor=next_cursor, recommended_next_action=action)


def update_target(ctx: OpContext, session: Session, data: UpdateTargetInput) -> TargetPayload:
    target = repo.load_target(session, ctx.workspace_id, data.id, lock=True)
    revealed: dict[str, str] = {}
    if data.name is not None and data.name != target.name:
        _check_name_free(session, ctx.workspace_id, data.name, exclude_id=target.id)
        target.name = data.name
    if data.config is not None or data.credentials is not None:
        config = data.config if data.config is not None else target.config
        credentials = data.credentials if data.credentials is not None else repo.credentials_of(target, ctx.runtime.box)
        validated = _validated(ctx, target.channel, config, credentials)
        target.config = validated.config.model_dump(mode="json", by_alias=True)
        revealed = validated.revealed
        if not data.dry_run:
            _store_credentials(ctx, target, validated.credentials)
            if circuit.after_fix(session, target, utcnow()):
                target_id = target.id
                ctx.after_commit(lambda: requeue_target_jobs(ctx.runtime, target_id))
    if data.labels is not None:
        target.labels = repo.check_labels(data.labels)
    if data.retry_policy is not None:
        target.retry_policy = data.retry_policy.wire()
    if data.rate_limit is not None:
        target.rate_limit = data.rate_limit.wire()
    if data.max_concurrency is not None:
        target.max_concurrency = data.max_concurrency
    if data.policy is not None:
        target.policy = data.policy.model_dump(mode="json", by_alias=True, exclude_unset=True)
    if data.fallback_target_id is not None:
        fallback = data.fallback_target_id or None
        check_fallback(session, ctx.workspace_id, target.id, target.name, fallback)
        target.fallback_target_id = fallback
    if data.active is not None:
        target.active = data.active
    target.updated_at = utcnow()
    read = repo.to_read(target, ctx.runtime.settings)
    if data.dry_run:
        return TargetPayload(target=read, dry_run=True, recommended_next_action=for_real())
    session.add(target)
    return TargetPayload(
        target=read, revealed_secrets=revealed or None, recommended_next_action=_after_fix_hint(session, target)
    )


def _after_fix_hint(session: Session, target: Target) -> NextAction:
    """After a fix, the jobs that failed on this target are what to retry; else confirm with a test."""
    failed = session.exec(
        select(Job.plan_id)
        .where(Job.target_id == target.id, col(Job.status).in_(RETRYABLE))
        .order_by(col(Job.id).desc())
        .limit(1)
    ).first()
    if failed:
        return hint(
            "retry_failed_jobs", f"Target updated; retry the jobs that failed on it in plan {failed}.", planId=failed
        )
    return confirm_hint(target)


def pause_target(ctx: OpContext, session: Session, data: PauseTargetInput) -> TargetPayload:
    target = repo.load_target(session, ctx.workspace_id, data.id, lock=True)
    seconds = data.seconds if data.seconds is not None else 100 * 365 * 86400
    target.paused_until = utcnow() + timedelta(seconds=seconds)
    target.pause_reason = data.reason or f"paused by {ctx.principal.name}"
    if not data.dry_run:
        record_event(
            session,
            ctx.workspace_id,
            "target.paused",
            f"{target.name} paused by {ctx.principal.name}: {target.pause_reason}.",
            target_id=target.id,
            until=target.paused_until.isoformat(),
        )
    return _finish_pause_change(
        ctx, session, target, data.dry_run, "resume_distribution_target", "Resume it when ready."
    )


def resume_target(ctx: OpContext, session: Session, data: TargetIdInput) -> TargetPayload:
    target = repo.load_target(session, ctx.workspace_id, data.id, lock=True)
    target.paused_until = None
    target.pause_reason = None
    target.consecutive_rate_limits = 0
    if not data.dry_run:
        circuit.reset(session, target, utcnow())
        record_event(
            session,
            ctx.workspace_id,
            "target.resumed",
            f"{target.name} resumed by {ctx.principal.name}.",
            target_id=target.id,
        )
        ctx.after_commit(lambda: _requeue_waiting(ctx, target.id))
    return _finish_pause_change(ctx, session, target, data.dry_run, "get_distribution_target", "Check its state.")


def _finish_pause_change(
    ctx: OpContext, session: Session, target: Target, dry_run: bool, tool: str, reason: str
) -> TargetPayload:
    read = repo.to_read(target, ctx.runtime.settings)
    if dry_run:
        return TargetPayload(target=read, dry_run=True, recommended_next_action=for_real())
    target.updated_at = utcnow()
    session.add(target)
    return TargetPayload(target=read, recommended_next_action=hint(tool, reason, id=target.id))


def _requeue_waiting(ctx: OpContext, target_id: str) -> None:
    ctx.runtime.limiter.clear_pause(target_id)
    requeue_target_jobs(ctx.runtime, target_id)


def rotate_signing_secret(ctx: OpContext, session: Session, data: RotateSecretInput) -> TargetPayload:
    target = repo.load_target(session, ctx.workspace_id, data.id, lock=True)
    channel = get_channel(target.channel)
    if not isinstance(channel, RotatesSecret):
        raise ValidationFailed(
            f"Target {target.id} is a {target.channel} target; only webhook targets sign deliveries.", field="id"
        )
    hours = data.overlap_hours if data.overlap_hours is not None else ctx.runtime.settings.signing_overlap_hours
    read = repo.to_read(target, ctx.runtime.settings)
    if data.dry_run:
        return TargetPayload(
            target=read,
            dry_run=True,
            recommended_next_action=for_real(
                f"Rotate for real; the old secret keeps signing for {hours:g} h.", overlapHours=hours
            ),
        )
    config = channel.config_model.model_validate(target.config)
    rotated, revealed = channel.rotate_secret(
        config, repo.credentials_of(target, ctx.runtime.box) or {}, utcnow() + timedelta(hours=hours)
    )
    target.credentials_blob = ctx.runtime.box.encrypt_json(rotated, f"target:{target.id}")
    target.updated_at = utcnow()
    session.add(target)
    return TargetPayload(
        target=read,
        revealed_secrets=revealed,
        recommended_next_action=hint(
            "test_distribution_target",
            f"Give the receiver the new secret (both sign deliveries for {hours:g} h), then test the target.",
            id=target.id,
        ),
    )

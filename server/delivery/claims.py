"""Claiming a batch of jobs in one transaction: lock what is free, hold what must wait, lease the rest.

A claimed job is ``delivering`` with a lease; a held one waits (no attempt spent) for a pause, a halt,
its turn, a closed circuit or its target's limits. A job that is finished, leased by another worker
or not yet due is left alone, so a duplicate message does nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row
from sqlalchemy import select as sa_select
from sqlmodel import Session, SQLModel, col

from adapters import Attachment, Content, Policy, RecipientView, TargetView
from server.db import one_of, retry_on_conflict, session_scope, table_of
from server.delivery.effects import Effects
from server.delivery.holds import Hold, find_hold, target_limits
from server.delivery.limits import Limits
from server.jobs import plan_state, transitions
from server.jobs.status import HELD_BY_PLAN_PAUSE, PLAN_NOT_STARTED, WAITING, JobStatus, PlanStatus
from server.models import Job, Plan, PlanRecipientContent, Recipient, Target, Workspace
from server.models.base import utcnow
from server.plans import attachments, personalise
from server.plans import audience as audience_mod
from server.policy import effective_policy
from server.recipients.unsubscribe import unsubscribe_url
from server.runtime import Runtime
from server.targets.repository import effective_retry_policy
from server.targets.schemas import RetryPolicy

EARLY_TOLERANCE = timedelta(milliseconds=5)


@dataclass
class Claim:
    job_id: str
    plan_id: str
    workspace_id: str
    attempt: int
    content: Content
    policy: Policy
    view: TargetView[Any, Any]
    retry_policy: RetryPolicy
    secrets: list[str]
    ordered: bool = False  # the target takes one delivery at a time, in order (maxConcurrency 1)
    rate: Limits | None = None  # the target's own rate limit, taken when the request leaves
    limit_token: str | None = None
    previous_outcome_unknown: bool = False  # the last attempt may have landed: reconcile before sending
    recipient: RecipientView | None = None  # set on a job of an addressed target
    address_key: str | None = None  # the recipient's address key it reaches (bounces are marked under it)


@dataclass
class _Batch:
    """The rows a batch needs, read once (a query per table), and each plan's content and each
    target's decrypted view built once."""

    rt: Runtime
    targets: dict[str, Row]  # rows of Target, Plan and Workspace: read, never written here
    plans: dict[str, Row]
    workspaces: dict[str, Row]
    recipients: dict[str, Row] = field(default_factory=dict)
    overrides: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    contents: dict[str, Content] = field(default_factory=dict)
    files: dict[str, tuple[Attachment, ...]] = field(default_factory=dict)
    views: dict[str, tuple[TargetView[Any, Any], list[str]]] = field(default_factory=dict)
    templated: dict[str, bool] = field(default_factory=dict)  # plan id → its content has a template
    default_retry: RetryPolicy | None = None  # the settings' policy, for every target without its own

    def attachments(self, session: Session, plan: Row) -> tuple[Attachment, ...]:
        if plan.id not in self.files:
            self.files[plan.id] = attachments.load(session, plan.id) if plan.content.get("attachments") else ()
        return self.files[plan.id]

    def content(self, session: Session, plan: Row) -> Content:
        """The plan's own content (no variation, override or recipient): built once per batch."""
        if plan.id not in self.contents:
            self.contents[plan.id] = personalise.build_content(
                plan.content, target={}, attachments=self.attachments(session, plan)
            )
        return self.contents[plan.id]

    def job_content(
        self, session: Session, plan: Row, target: Row, job: Row, recipient: RecipientView | None
    ) -> Content:
        """The content this job sends: the plan's when nothing personalises it, else rendered for it."""
        override = self.overrides.get((plan.id, job.recipient_id)) if job.recipient_id else None
        if plan.id not in self.templated:
            self.templated[plan.id] = personalise.is_templated(plan.content)
        if job.variation is None and override is None and not self.templated[plan.id]:
            return self.content(session, plan)
        return personalise.build_content(
            plan.content,
            target={"id": target.id, "name": target.name, "channel": target.channel},
            recipient=recipient,
            variation=job.variation,
            override=override,
            attachments=self.attachments(session, plan),
        )

    def retry_policy(self, target: Row) -> RetryPolicy:
        """The target's retry policy; the settings' one is built once per batch (read-only, shared)."""
        if target.retry_policy:
            return effective_retry_policy(target, self.rt.settings)
        if self.default_retry is None:
            self.default_retry = effective_retry_policy(None, self.rt.settings)
        return self.default_retry

    def view(self, target: Row) -> tuple[TargetView[Any, Any], list[str]]:
        if target.id not in self.views:
            self.views[target.id] = self.rt.target_views.get(target, self.rt.box)
        return self.views[target.id]


def claim_batch(rt: Runtime, job_ids: list[str]) -> list[Claim]:
    def transaction() -> tuple[list[Claim], Effects]:
        effects = Effects(rt)
        with session_scope(rt.engine) as session:
            claims = _claim_all(rt, session, job_ids, effects)
            effects.settle(session)
        return claims, effects

    claims, effects = retry_on_conflict(transaction)
    effects.run()
    return claims


# Jobs are read and leased as plain rows: building and flushing ORM objects cost more than the send.
# What identifies a job, its owners and its attempt (recording reads these too).
JOB_STATE_COLUMNS = (
    col(Job.id),
    col(Job.plan_id),
    col(Job.workspace_id),
    col(Job.target_id),
    col(Job.status),
    col(Job.attempts),
)
_JOB_COLUMNS = (
    *JOB_STATE_COLUMNS,
    col(Job.next_attempt_at),
    col(Job.lease_expires_at),
    col(Job.recipient_id),
    col(Job.variation),
    col(Job.outcome_unknown),
)


def _claim_all(rt: Runtime, session: Session, job_ids: list[str], effects: Effects) -> list[Claim]:
    now = utcnow()
    query = (
        sa_select(*_JOB_COLUMNS)
        .where(one_of(session, Job.id, job_ids))
        .order_by(col(Job.id))
        .with_for_update(skip_locked=True)
    )
    jobs = [job for job in session.execute(query).all() if _claimable(job, now)]
    if not jobs:
        return []
    batch = _Batch(
        rt,
        targets=_load(session, Target, {job.target_id for job in jobs}, skip=("labels",)),
        plans=_load(session, Plan, {job.plan_id for job in jobs}, skip=("target_ids",)),
        workspaces=_load(session, Workspace, {job.workspace_id for job in jobs}),
    )
    _load_recipients(session, batch, jobs)
    claims = [claim for job in jobs if (claim := _claim(rt, session, job, now, effects, batch)) is not None]
    if claims:
        transitions.lease(session, [claim.job_id for claim in claims], now, rt.settings.lease_seconds)
    for plan_id in sorted({claim.plan_id for claim in claims}):
        if batch.plans[plan_id].status in PLAN_NOT_STARTED:
            plan_state.mark_running(session, plan_id)
    return claims


def _load(session: Session, model: type[SQLModel], ids: set[str], skip: tuple[str, ...] = ()) -> dict[str, Row]:
    """The rows as plain read-only tuples (named like the model's fields): no ORM objects to build or track."""
    table = table_of(model)
    columns = [column for column in table.columns if column.name not in skip]
    query = sa_select(*columns).where(one_of(session, table.c.id, sorted(ids)))
    return {row.id: row for row in session.execute(query)}


def _load_recipients(session: Session, batch: _Batch, jobs: list[Row]) -> None:
    """The recipients of the batch's recipient jobs and their plans' overrides: one query each."""
    ids = sorted({job.recipient_id for job in jobs if job.recipient_id})
    if not ids:
        return
    query = sa_select(*audience_mod.COLUMNS).where(one_of(session, Recipient.id, ids))
    batch.recipients = {row.id: row for row in session.execute(query)}
    plan_ids = sorted({job.plan_id for job in jobs if job.recipient_id})
    overrides = sa_select(
        col(PlanRecipientContent.plan_id), col(PlanRecipientContent.recipient_id), col(PlanRecipientContent.content)
    ).where(
        one_of(session, PlanRecipientContent.plan_id, plan_ids), one_of(session, PlanRecipientContent.recipient_id, ids)
    )
    batch.overrides = {(row.plan_id, row.recipient_id): row.content for row in session.execute(overrides)}


def _recipient_view(rt: Runtime, batch: _Batch, job: Row, target: Row, plan: Row) -> RecipientView | str:
    """The job's recipient as its channel sees it, or why it cannot be reached any more."""
    row = batch.recipients.get(job.recipient_id)
    if row is None:
        return "The recipient was deleted after the plan was made."
    how = audience_mod.reach(target.channel, target.config)
    reason = audience_mod.skip_reason(row, how)
    if reason is not None:
        return f"Not sent: {reason} (changed after the plan was made)."
    labels = (plan.recipients or {}).get("labels") or []
    via_label = bool(set(labels) & set(row.labels or ()))
    url = unsubscribe_url(rt, job.workspace_id, row.id, how.key) if via_label else None
    return audience_mod.view(row, how, url)


def _claim(rt: Runtime, session: Session, job: Row, now: datetime, effects: Effects, batch: _Batch) -> Claim | None:
    """The claim for ``job`` (leased by the caller), or None when it must wait or is finished."""
    if (
        job.status != JobStatus.DELIVERING
        and job.next_attempt_at is not None
        and job.next_attempt_at > now + EARLY_TOLERANCE
    ):
        effects.enqueue(job.id, job.next_attempt_at)  # the message came early (clock skew, a stale duplicate)
        return None
    target, plan, workspace = batch.targets[job.target_id], batch.plans[job.plan_id], batch.workspaces[job.workspace_id]
    if not target.active:
        effects.finish(
            session, _orm(session, job), JobStatus.FAILED, error="Target is inactive; activate it and retry the job."
        )
        return None
    hold = (
        Hold(None, f"{HELD_BY_PLAN_PAUSE}{plan.paused_reason or 'paused'}")
        if plan.status == PlanStatus.PAUSED
        else find_hold(session, workspace, target, job, now, rt.settings)
    )
    token = None
    limits = target_limits(target)
    if hold is None and limits.max_concurrency:
        # The concurrency cap is taken here; the rate window just before the request leaves (engine).
        token, wait = rt.limiter.acquire(
            target.id, Limits(max_concurrency=limits.max_concurrency), rt.settings.lease_seconds
        )
        if token is None:
            hold = Hold(
                now + timedelta(seconds=max(wait, rt.settings.limit_recheck_seconds)),
                "held by the target's concurrency limit",
            )
    if hold is not None:
        _hold(rt, _orm(session, job), hold, now, effects)
        return None
    recipient = None
    if job.recipient_id:
        found = _recipient_view(rt, batch, job, target, plan)
        if isinstance(found, str):
            effects.finish(session, _orm(session, job), JobStatus.FAILED, error=found)
            _release_token(rt, target.id, token)
            return None
        recipient = found
    try:
        content = batch.job_content(session, plan, target, job, recipient)
    except personalise.TemplateFailure as exc:
        effects.finish(
            session, _orm(session, job), JobStatus.FAILED, error=f"Template error in {exc.field}: {exc.message}"
        )
        _release_token(rt, target.id, token)
        return None
    view, secrets = batch.view(target)
    return Claim(
        job_id=job.id,
        plan_id=plan.id,
        workspace_id=job.workspace_id,
        attempt=job.attempts + 1,
        content=content,
        policy=effective_policy(plan.policy, target.policy),
        view=view,
        retry_policy=batch.retry_policy(target),
        secrets=secrets,
        ordered=target.max_concurrency == 1,
        rate=replace(limits, max_concurrency=None) if limits.requests else None,
        limit_token=token,
        previous_outcome_unknown=bool(job.outcome_unknown),
        recipient=recipient,
        address_key=audience_mod.reach(target.channel, target.config).key if recipient else None,
    )


def _release_token(rt: Runtime, target_id: str, token: str | None) -> None:
    if token:
        rt.limiter.release(target_id, token)


def _orm(session: Session, row: Row) -> Job:
    job = session.get(Job, row.id)
    assert job is not None
    return job


def extend_leases(rt: Runtime, claims: list[Claim]) -> None:
    """Renew the leases of claimed jobs still in flight (never one another worker has since reclaimed)."""
    until = utcnow() + timedelta(seconds=rt.settings.lease_seconds)
    with session_scope(rt.engine) as session:
        transitions.renew_leases(session, [(claim.job_id, claim.attempt) for claim in claims], until)


def _hold(rt: Runtime, job: Job, hold: Hold, now: datetime, effects: Effects) -> None:
    """The job waits (no attempt spent) until ``hold.until``; None means until an operator resumes."""
    due = transitions.hold(job, hold.until, hold.reason, now, rt.settings.enqueue_horizon_seconds)
    if due is not None:
        effects.enqueue(job.id, due)


def _claimable(job: Row, now: datetime) -> bool:
    if job.status == JobStatus.DELIVERING:
        return job.lease_expires_at is not None and job.lease_expires_at <= now
    return job.status in WAITING

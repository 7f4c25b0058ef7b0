"""Plan operations: create (with preview and fan-out), read, list, cancel, retry, replay."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Row, or_
from sqlmodel import Session, col, select

from adapters import ChannelPayload, Content, DeliveryError, RecipientView, get_channel
from server import idempotency
from server.context import OpContext
from server.db import insert_rows
from server.errors import Conflict, NotFound, ValidationFailed
from server.hints import for_real, hint
from server.ids import check_id, new_id, new_ids
from server.jobs import plan_state, transitions
from server.jobs.queue import enqueue_at
from server.jobs.status import HOLDS_CONTENT, PLAN_FINAL, RETRYABLE, WAITING, JobStatus, PlanStatus
from server.models import Job, Plan, PlanRecipientContent, Target
from server.models.base import utcnow
from server.pagination import page
from server.plans import attachments, guardrails, personalise, staggering
from server.plans import audience as audience_mod
from server.plans import repository as repo
from server.plans import selection as plan_selection
from server.plans.hints import plan_hint
from server.plans.schemas import (
    CreatePlanInput,
    JobsRequeuedPayload,
    ListPlansInput,
    PlanIdInput,
    PlanList,
    PlanMutationInput,
    PlannedTime,
    PlanPayload,
    PlanPreview,
    PlanResult,
    RecipientPreview,
    RetryFailedJobsInput,
    SkipCount,
    TargetPreview,
)
from server.policy import channel_refusal, effective_policy
from server.recipients.unsubscribe import unsubscribe_url
from server.selection.schemas import SelectionOf
from server.targets.repository import check_labels, has_label, is_paused, target_view

# A plan needs only these of each target; a dry run's preview renders the whole target.
_PLAN_COLUMNS = (Target.id, Target.name, Target.active, Target.channel, Target.config, Target.policy)


def _resolve_targets(
    ctx: OpContext, session: Session, data: CreatePlanInput, choice: plan_selection.Choice | None = None
) -> list[Target]:
    """The plan's targets; ``select`` picks them into ``choice`` (without one, a schedule's check: only the
    select is checked, its pool is picked from at each run)."""
    plan_selection.check(data)
    if data.select is not None and data.select.of == SelectionOf.TARGETS:
        return plan_selection.pick_targets(ctx, session, data, choice) if choice is not None else []
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


def _already_delivered(
    session: Session, workspace_id: str, content_key: str, target_ids: list[str]
) -> dict[tuple[str, str | None], str]:
    """(target, recipient) -> the plan that already delivered (or is delivering) this edition there."""
    # By content key alone (indexed): a list of 10,000 target ids as parameters costs more than it filters.
    rows = session.exec(
        select(Job.target_id, Job.recipient_id, Job.plan_id).where(
            Job.workspace_id == workspace_id, Job.content_key == content_key, col(Job.status).in_(HOLDS_CONTENT)
        )
    ).all()
    wanted = set(target_ids)
    return {(target_id, rid): plan_id for target_id, rid, plan_id in rows if target_id in wanted}


def content_hash(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


@dataclass
class _Job:
    """One job a plan makes: a target, maybe a recipient, a variation, and a skip reason when none is sent."""

    target: Target
    recipient: Row | None
    skip: str | None
    variation: int | None = None
    due: datetime | None = None  # its own due time (stagger); else the plan's
    zone: str | None = None  # the zone its stagger read peak hours in


def create_plan(ctx: OpContext, session: Session, data: CreatePlanInput) -> PlanPayload:
    # Attachments are fetched before the transaction touches the database: no lock waits on a remote server.
    resolved = attachments.resolve(ctx.runtime.settings, data.content.attachments)
    now = ctx.runtime.clock.now()
    scheduled_at = _scheduled_at(data.scheduled_at, now)
    choice = plan_selection.Choice()  # what select picks (nothing without select)
    targets = _resolve_targets(ctx, session, data, choice)
    guardrails.check_quotas(ctx, session, len(targets))
    if guardrails.needs_confirmation(ctx, len(targets)) and not data.dry_run:
        guardrails.check_confirmation(ctx, data, len(targets))
    audience = _audience(ctx, session, data, targets, choice)
    addressed = {t.id for t in targets if audience_mod.is_addressed(t.channel, bool(audience))}
    _check_addressing(data, targets, addressed, audience)
    overrides = audience_mod.overrides(data.recipient_content, audience)
    content = _stored_content(data)
    _check_templates(content)
    _check_attachment_limits(targets, resolved)
    content_key = f"{data.content.id}@{data.content.version}"
    duplicates = (
        {} if data.redistribute else _already_delivered(session, ctx.workspace_id, content_key, [t.id for t in targets])
    )
    jobs = _jobs(data, targets, addressed, audience, duplicates, len(content.get("variations") or ()))
    _stagger(session, ctx.workspace_id, data, jobs, scheduled_at or now)
    if data.dry_run:
        samples = _samples(ctx, session, data, content, jobs, overrides, resolved)
        return choice.shown(_dry_run(ctx, data, targets, jobs, samples, scheduled_at))
    # A template may fail for one target or recipient: rendering the first jobs of each refuses the plan. Content
    # without one renders as stored (overrides are verbatim), so 10,000 renders would prove nothing.
    if personalise.has_templates(content):
        _samples(ctx, session, data, content, jobs, overrides, resolved)
    plan, due, sends = _insert_plan(ctx, session, data, content, targets, jobs, audience, scheduled_at)
    choice.record(ctx, session, plan)
    if resolved:
        attachments.store(session, plan.id, resolved)
    if overrides:
        insert_rows(
            session,
            PlanRecipientContent,
            [{"plan_id": plan.id, "recipient_id": rid, "content": o} for rid, o in overrides.items()],
        )
    # Its counters are its jobs' counts: every job was written just now, in this transaction.
    read = repo.plan_read(session, plan, ctx.runtime.settings, repo.counter_counts(plan))
    _keep_for_eager_delivery(ctx, data, sends)
    if sends:  # jobs due beyond the enqueue horizon are sent by the scheduler tick as they come due
        ctx.after_commit(lambda: _send(ctx, sends))
    return choice.hinted(
        PlanPayload(plan=read, recommended_next_action=plan_hint(read))
        if due
        else PlanPayload(
            plan=read,
            recommended_next_action=hint(
                "create_distribution_plan",
                "Every job was skipped (already received this version, refused by policy, or no recipient "
                "reachable); set redistribute=true to send it again.",
                **{**data.model_dump(mode="json", by_alias=True, exclude_none=True), "redistribute": True},
            ),
        )
    )


def _stagger(session: Session, workspace_id: str, data: CreatePlanInput, jobs: list[_Job], start: datetime) -> None:
    """With a stagger, each deliverable job's own due time, and its variation in time order."""
    if data.stagger is None:
        return
    deliverable = [job for job in jobs if job.skip is None]
    slots = staggering.plan(
        session,
        workspace_id,
        data.stagger,
        data.content.id,
        [job.recipient.id if job.recipient is not None else None for job in deliverable],
        len(data.content.variations),
        start,
        data.idempotency_key or _derived_key(data),
    )
    for slot in slots:
        job = deliverable[slot.job]
        job.due, job.variation, job.zone = slot.at, slot.variation, slot.zone


def _keep_for_eager_delivery(ctx: OpContext, data: CreatePlanInput, sends: dict[datetime | None, list[str]]) -> None:
    """An awaitDelivery call of a few jobs, all due now, claims them itself after commit, then sends their
    messages (server/delivery/eager.py): not here, so no worker races it for the claim."""
    if not data.await_delivery or list(sends) != [None]:  # nothing due now, or some jobs due later
        return
    if len(sends[None]) <= ctx.runtime.settings.eager_delivery_max_jobs:
        ctx.due_jobs = sends.pop(None)


def _send(ctx: OpContext, sends: dict[datetime | None, list[str]]) -> None:
    for eta, ids in sorted(sends.items(), key=lambda item: item[0] or datetime.min.replace(tzinfo=UTC)):
        enqueue_at(ctx.runtime, ids, eta)


def _audience(
    ctx: OpContext, session: Session, data: CreatePlanInput, targets: list[Target], choice: plan_selection.Choice
) -> audience_mod.Audience:
    if data.select is not None and data.select.of == SelectionOf.RECIPIENTS:
        return plan_selection.pick_recipients(ctx, session, data, targets, choice)
    if not data.recipient_ids and not data.recipient_labels:
        if data.recipient_content:
            raise ValidationFailed(
                "recipientContent needs recipients: name them with recipientIds or recipientLabels.",
                field="recipientContent",
            )
        return audience_mod.Audience()
    return audience_mod.resolve(
        session,
        ctx.workspace_id,
        data.recipient_ids,
        data.recipient_labels,
        ctx.runtime.settings.max_recipients_per_plan,
    )


def _check_addressing(
    data: CreatePlanInput, targets: list[Target], addressed: set[str], audience: audience_mod.Audience
) -> None:
    if audience and not addressed:
        raise ValidationFailed(
            "The plan names recipients but none of its targets is addressed (email, whatsapp, telegram, stub); "
            "a broadcast target reaches its one destination.",
            field="recipientIds",
            next_action=hint("list_distribution_targets", "Pick an addressed target (its channel reaches recipients)."),
        )
    if not audience:
        lonely = [t.id for t in targets if t.id in addressed]
        if lonely:
            raise ValidationFailed(
                f"Target(s) {', '.join(lonely)} reach recipients: name them with recipientIds or recipientLabels.",
                field="recipientIds",
                next_action=hint("list_recipients", "List recipients to address."),
            )


def _stored_content(data: CreatePlanInput) -> dict:
    """The content as the plan keeps it: attachments without their bytes (those are in plan_attachments)."""
    content = data.content.model_dump(mode="json")
    content["attachments"] = [{**a, "data_base64": None} for a in content["attachments"]]
    return content


def _check_templates(content: dict) -> None:
    try:
        personalise.check_sources(content)
    except personalise.TemplateFailure as exc:
        raise _template_error(exc) from None


def _template_error(exc: personalise.TemplateFailure) -> ValidationFailed:
    return ValidationFailed(
        f"{exc.field}: {exc.message}. Fix the template (sandboxed Jinja2 over content, recipient, target).",
        field=exc.field,
        next_action=hint("create_distribution_plan", "Correct the template and dry-run again."),
    )


def _check_attachment_limits(targets: list[Target], resolved: list[attachments.Resolved]) -> None:
    if not resolved:
        return
    for channel in sorted({t.channel for t in targets}):
        limits = get_channel(channel).limits
        if limits.max_attachments is not None and len(resolved) > limits.max_attachments:
            raise ValidationFailed(
                f"The {channel} channel takes at most {limits.max_attachments} attachment(s); "
                f"the content has {len(resolved)}.",
                field="content.attachments",
            )
        for index, item in enumerate(resolved):
            if limits.max_attachment_bytes is not None and len(item.data) > limits.max_attachment_bytes:
                raise ValidationFailed(
                    f"content.attachments[{index}] ({item.filename}, {len(item.data)} bytes) is larger than the "
                    f"{channel} channel takes ({limits.max_attachment_bytes} bytes).",
                    field=f"content.attachments[{index}]",
                )


def _target_skips(data: CreatePlanInput, targets: list[Target]) -> dict[str, str]:
    plan_policy = data.policy.model_dump(mode="json") if data.policy else None
    skips = {}
    for target in targets:
        refusal = channel_refusal(effective_policy(plan_policy, target.policy), target.channel)
        if refusal:
            skips[target.id] = refusal
    return skips


def _jobs(
    data: CreatePlanInput,
    targets: list[Target],
    addressed: set[str],
    audience: audience_mod.Audience,
    duplicates: dict[tuple[str, str | None], str],
    variations: int,
) -> list[_Job]:
    """Every job of the plan in creation order: a broadcast target's one job, an addressed target's one per
    recipient; skipped ones carry the reason (already distributed, policy, or the recipient's state)."""
    refused = _target_skips(data, targets)
    jobs: list[_Job] = []
    turn = 0
    for target in targets:
        how = _reach(target)
        reached = audience.recipients if target.id in addressed else [None]
        for recipient in reached:
            rid = recipient.id if recipient is not None else None
            already = duplicates.get((target.id, rid))
            skip = (
                f"already distributed to this target by {already}"
                if already
                else refused.get(target.id)
                or (audience_mod.skip_reason(recipient, how) if recipient is not None else None)
            )
            job = _Job(target, recipient, skip)
            if variations and skip is None:
                job.variation, turn = turn % variations, turn + 1
            jobs.append(job)
    return jobs


@dataclass
class _Sample:
    job: _Job
    content: Content | None
    error: str | None = None


def _samples(
    ctx: OpContext,
    session: Session,
    data: CreatePlanInput,
    content: dict,
    jobs: list[_Job],
    overrides: dict[str, dict],
    resolved: list[attachments.Resolved],
) -> list[_Sample]:
    """The first N deliverable jobs of each target with their content rendered exactly (templates,
    variation, override): a template error is refused here, at dry run and at create."""
    limit = data.preview_limit or ctx.runtime.settings.dry_run_render_limit
    files = attachments.as_attachments(resolved)
    shown: dict[str, int] = {}
    picked = []
    for job in jobs:
        if shown.get(job.target.id, 0) < limit:
            shown[job.target.id] = shown.get(job.target.id, 0) + 1
            picked.append(job)
    rows = audience_mod.full(session, sorted({job.recipient.id for job in picked if job.recipient is not None}))
    samples = []
    for job in picked:
        if job.recipient is not None:
            job = _Job(job.target, rows[job.recipient.id], job.skip, job.variation)
        if job.skip is not None:
            samples.append(_Sample(job, None))
            continue
        rview = _recipient_view(ctx, data, job)
        try:
            rendered = personalise.build_content(
                content,
                target={"id": job.target.id, "name": job.target.name, "channel": job.target.channel},
                recipient=rview,
                variation=job.variation,
                override=overrides.get(job.recipient.id) if job.recipient is not None else None,
                attachments=files,
            )
        except personalise.TemplateFailure as exc:
            raise _template_error(exc) from None
        samples.append(_Sample(job, rendered))
    return samples


def _recipient_view(ctx: OpContext, data: CreatePlanInput, job: _Job) -> RecipientView | None:
    """As the engine builds it: with an unsubscribe link when the recipient was reached through a label."""
    if job.recipient is None:
        return None
    via_label = bool(set(data.recipient_labels) & set(job.recipient.labels or ()))
    how = _reach(job.target)
    url = unsubscribe_url(ctx.runtime, ctx.workspace_id, job.recipient.id, how.key) if via_label else None
    return audience_mod.view(job.recipient, how, url)


def _reach(target: Target) -> audience_mod.Reach:
    return audience_mod.reach(target.channel, target.config)


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
    content: dict,
    targets: list[Target],
    jobs: list[_Job],
    audience: audience_mod.Audience,
    scheduled_at: datetime | None,
) -> tuple[Plan, list[str], dict[datetime | None, list[str]]]:
    """The plan and its job rows (one INSERT, COPY on PostgreSQL); the ids to send, and those whose message
    goes now, by due time (jobs beyond the enqueue horizon are not among them: the scheduler tick sends them).

    The runtime's clock decided ``scheduled_at`` and the staggered times; a job without its own time is due
    at ``scheduled_at`` or now on the wall clock the queue and the workers run on (as is the rows' state)."""
    skipped = sum(job.skip is not None for job in jobs)
    wall = utcnow()
    start = scheduled_at or wall
    first_due = min((job.due or start for job in jobs if job.skip is None), default=start)
    recipient_jobs = [job for job in jobs if job.recipient is not None]
    plan = Plan(
        id=new_id("plan"),
        workspace_id=ctx.workspace_id,
        content=content,
        content_hash=content_hash(content),
        target_ids=[t.id for t in targets],
        policy=(data.policy.model_dump(mode="json") if data.policy else {}),
        recipients={
            "ids": audience.named_ids,
            "labels": audience.labels,
            "reached": len(audience.recipients),
            "jobs": len(recipient_jobs),
            "skipped": dict(Counter(job.skip for job in recipient_jobs if job.skip is not None)),
        }
        if audience
        else None,
        scheduled_at=scheduled_at,
        status=plan_state.created(scheduled_at is not None or first_due > wall),
        total_jobs=len(jobs),
        skipped_count=skipped,
        idempotency_key=data.idempotency_key,
        created_by=ctx.principal.key_id,
        halt_when=data.halt_when.model_dump(mode="json", by_alias=True) if data.halt_when else None,
        stagger=data.stagger.model_dump(mode="json", by_alias=True) if data.stagger else None,
        kpi=data.kpi.model_dump(mode="json", by_alias=True, exclude_none=True) if data.kpi else None,
    )
    session.add(plan)
    session.flush()
    content_key = f"{content['id']}@{content['version']}"
    horizon = ctx.runtime.settings.enqueue_horizon_seconds
    waiting: dict[datetime, dict] = {}  # one state per due time (without a stagger, one for every job)
    rows: list[dict] = []
    sends: dict[datetime | None, list[str]] = {}
    common = _job_common(plan, content_key, wall)
    for job, job_id in zip(jobs, new_ids("job", len(jobs)), strict=True):
        if job.skip is not None:
            rows.append(_job_row(job_id, common, job, transitions.created(job.skip, start, None, wall)))
            continue
        due = job.due or start
        if due not in waiting:
            waiting[due] = transitions.created(None, due, transitions.message_due(due, wall, horizon), wall)
        rows.append(_job_row(job_id, common, job, waiting[due]))
        if waiting[due]["queued_for"] is not None:
            sends.setdefault(None if scheduled_at is None and job.due is None else due, []).append(job_id)
    insert_rows(session, Job, rows)
    if skipped == len(jobs):
        plan_state.finish_if_done(session, plan.id, plan.total_jobs, 0, 0, 0, 0, skipped, plan.status)
        session.refresh(plan)
    return plan, [row["id"] for row in rows if row["status"] != JobStatus.SKIPPED], sends


def _job_common(plan: Plan, content_key: str, now: datetime) -> dict:
    """The columns every job of the plan starts with."""
    return {
        "workspace_id": plan.workspace_id,
        "plan_id": plan.id,
        "content_key": content_key,
        "attempts": 0,
        "retries_used": 0,
        "created_at": now,
        "updated_at": now,
    }


def _job_row(job_id: str, common: dict, job: _Job, state: dict) -> dict:
    return {
        "id": job_id,
        "target_id": job.target.id,
        "recipient_id": job.recipient.id if job.recipient is not None else None,
        "variation": job.variation,
        **common,
        **state,
    }


def _dry_run(
    ctx: OpContext,
    data: CreatePlanInput,
    targets: list[Target],
    jobs: list[_Job],
    samples: list[_Sample],
    scheduled_at: datetime | None,
) -> PlanPayload:
    plan_policy = data.policy.model_dump(mode="json") if data.policy else None
    views = {t.id: target_view(t, ctx.runtime.box) for t in targets}
    rendered: dict[int, ChannelPayload] = {}
    refused: dict[int, str] = {}  # a render the channel refuses (an address it cannot send to, a message too big)
    for sample in samples:
        if sample.content is not None:
            target = sample.job.target
            rview = _recipient_view(ctx, data, sample.job)
            try:
                rendered[id(sample)] = get_channel(target.channel).render(
                    sample.content, effective_policy(plan_policy, target.policy), views[target.id], rview
                )
            except DeliveryError as exc:
                refused[id(sample)] = exc.message
    previews = []
    for target in targets:
        first = next((s for s in samples if s.job.target.id == target.id), None)
        payload = rendered.get(id(first)) if first is not None else None
        own = [job for job in jobs if job.target.id == target.id]
        previews.append(_preview(target, payload, own))
    recipients = [
        RecipientPreview(
            target_id=s.job.target.id,
            recipient_id=s.job.recipient.id,
            external_id=s.job.recipient.external_id,
            address=audience_mod.address_for(_reach(s.job.target), s.job.recipient.addresses or {}),
            verdict="skip" if s.job.skip else ("fail" if id(s) in refused else "deliver"),
            reason=s.job.skip or refused.get(id(s)),
            variation=s.job.variation,
            content_type=rendered[id(s)].content_type if id(s) in rendered else None,
            payload=rendered[id(s)].body if id(s) in rendered else None,
        )
        for s in samples
        if s.job.recipient is not None
    ]
    skipped = Counter(job.skip for job in jobs if job.skip is not None)
    preview = PlanPreview(
        targets=previews,
        scheduled_at=scheduled_at,
        jobs_to_create=sum(job.skip is None for job in jobs),
        recipients=recipients,
        recipient_jobs=sum(job.recipient is not None for job in jobs),
        skipped=[SkipCount(reason=reason, count=count) for reason, count in sorted(skipped.items())],
        **_planned_times(jobs),
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


PLANNED_TIMES_SHOWN = 1_000


def _planned_times(jobs: list[_Job]) -> dict[str, Any]:
    """With a stagger: each deliverable job's due time, earliest first, in UTC and in its zone."""
    timed = sorted((job for job in jobs if job.due is not None), key=lambda job: job.due or datetime.min)
    if not timed:
        return {}
    return {
        "planned_first": timed[0].due,
        "planned_last": timed[-1].due,
        "planned_times": [
            PlannedTime(
                target_id=job.target.id,
                recipient_id=job.recipient.id if job.recipient is not None else None,
                at=job.due,
                local_time=job.due.astimezone(ZoneInfo(job.zone or "UTC")).isoformat(),
                timezone=job.zone or "UTC",
                variation=job.variation,
            )
            for job in timed[:PLANNED_TIMES_SHOWN]
            if job.due is not None
        ],
    }


def _derived_key(data: CreatePlanInput) -> str:
    """The content edition and a digest of the whole request: the same send gets the same key, any other another."""
    digest = idempotency.request_hash("create_distribution_plan", data.model_dump(mode="json", by_alias=True))
    return idempotency.derived_key(f"{data.content.id}@{data.content.version}", digest)


def _preview(target: Target, rendered: ChannelPayload | None, jobs: list[_Job]) -> TargetPreview:
    paused = is_paused(target)
    verdict, reason = "deliver", None
    if all(job.skip for job in jobs):
        verdict, reason = "skip", jobs[0].skip if len(jobs) == 1 else "every recipient is skipped"
    elif paused:
        verdict, reason = "wait", f"target paused: {target.pause_reason}"
    return TargetPreview(
        target_id=target.id,
        target_name=target.name,
        channel=target.channel,
        verdict=verdict,
        reason=reason,
        paused_until=target.paused_until if paused else None,
        content_type=rendered.content_type if rendered else "application/json",
        payload=rendered.body if rendered else None,
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
    ids = [job.id for job in jobs]
    handed_over = len(set(session.exec(select(Job.fallback_of).where(col(Job.fallback_of).in_(ids))).all()))
    plan_state.reopen(session, plan_id, failed, dead, now, handed_over)

"""Recording a batch of attempts in one transaction: every attempt, receipt and job change is durable
before anything is announced.

Rows are locked in id order (jobs, then the targets whose state may change, then plans when the
counters settle), so two workers recording at once wait for each other instead of deadlocking; a
deadlock the database reports anyway is retried with the same results.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import Row, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from adapters import (
    ChannelPayload,
    ConfigError,
    DeliveryError,
    Receipt,
    RecipientUnreachableError,
    TargetView,
    get_channel,
)
from server.activity.recorder import record_event
from server.db import insert_rows, one_of, retry_on_conflict, session_scope
from server.delivery.claims import JOB_STATE_COLUMNS, Claim
from server.delivery.effects import Effects
from server.delivery.reporting import attempt_outcome, http_status, report_attempts
from server.delivery.retry import pause_seconds, retry_delay
from server.ids import new_id
from server.jobs import transitions
from server.jobs.queue import requeue_target_jobs
from server.jobs.status import RATE_LIMIT_PAUSE, JobStatus, PlanStatus
from server.models import Attempt, DeadLetter, Job, Plan, Recipient, Target
from server.models import Receipt as ReceiptRow
from server.models.base import utcnow
from server.plans.pausing import check_halt_when
from server.redaction import redact
from server.runtime import Runtime
from server.targets import circuit


@dataclass
class Result:
    started_at: datetime
    duration_ms: float
    receipt: Receipt | None = None
    error: DeliveryError | None = None
    payload: ChannelPayload | None = None
    held_until: datetime | None = None  # not sent: the target was flagged paused or its rate window was full
    held_reason: str | None = None  # set with held_until
    reconciled: str | None = None  # what an outcome-unknown lookup found first: "found" or "not_found"

    @property
    def error_class(self) -> str | None:
        return self.error.error_class if self.error else None


def record_batch(rt: Runtime, done: list[tuple[Claim, Result]]) -> None:
    def transaction() -> Effects:
        effects = Effects(rt)
        with session_scope(rt.engine) as session:
            _record_all(rt, session, done, effects)
            effects.settle(session)
        return effects

    effects = retry_on_conflict(transaction)
    report_attempts(rt, done)  # committed: counted even if sending the messages fails
    effects.run()


def _record_all(rt: Runtime, session: Session, done: list[tuple[Claim, Result]], effects: Effects) -> None:
    now = utcnow()
    sent = [(claim, result) for claim, result in done if result.held_until is None]
    insert_rows(session, Attempt, [_attempt_row(claim, result) for claim, result in sent])
    ids = sorted(claim.job_id for claim, _ in done)
    query = sa_select(*JOB_STATE_COLUMNS).where(one_of(session, Job.id, ids)).order_by(col(Job.id)).with_for_update()
    rows = {row.id: row for row in session.execute(query)}
    # A job another worker reclaimed after our lease expired is left alone: its result wins.
    ours = [(claim, result) for claim, result in done if _still_ours(rows.get(claim.job_id), claim)]
    for claim, result in ours:
        if result.held_until is not None:
            _unsent(rt, session, claim, result, effects)
    current = [(claim, result) for claim, result in ours if result.held_until is None]
    targets = _load_targets(session, current)
    for claim, result in current:
        _update_circuit(rt, session, targets.get(claim.view.id), claim, result, effects)
    _delivered(session, [(c, r) for c, r in current if r.error is None], targets, rows, effects, now)
    limited: set[str] = set()
    for claim, result in current:
        if result.error is None:
            continue
        job, target = session.get(Job, claim.job_id), targets[claim.view.id]
        assert job is not None
        if result.error.error_class == "rate_limited":
            _rate_limited(rt, session, job, target, claim, result.error, effects)
            limited.add(job.plan_id)
        elif result.error.error_class == "transient":
            _transient(rt, session, job, claim, result, effects)
        else:
            if isinstance(result.error, RecipientUnreachableError) and claim.recipient is not None:
                _bounced(session, claim, now)
            effects.finish(
                session,
                job,
                JobStatus.FAILED,
                error=_error_text(claim, result.error),
                error_class=result.error.error_class,
            )
    if limited:
        check_halt_when(session, limited, now)  # a plan whose haltWhen tripped pauses itself


def _bounced(session: Session, claim: Claim, now: datetime) -> None:
    """A hard bounce: the recipient's address on this channel is marked, so later plans skip it there."""
    assert claim.recipient is not None
    recipient = session.get(Recipient, claim.recipient.id, with_for_update=True)
    if recipient is None:
        return
    channel = claim.address_key or claim.view.channel
    recipient.bounced_at = {**recipient.bounced_at, channel: now.isoformat()}
    recipient.updated_at = now
    session.add(recipient)
    record_event(
        session,
        recipient.workspace_id,
        "recipient.bounced",
        f"Recipient {recipient.id}'s {channel} address bounced; later plans skip it there.",
        plan_id=claim.plan_id,
        job_id=claim.job_id,
        target_id=claim.view.id,
        recipient_id=recipient.id,
        channel=channel,
    )


def _unsent(rt: Runtime, session: Session, claim: Claim, result: Result, effects: Effects) -> None:
    """A claim held back at the last moment: it waits for the pause or its rate window, attempt given back."""
    job = session.get(Job, claim.job_id)
    assert job is not None and result.held_reason is not None
    horizon = rt.settings.enqueue_horizon_seconds
    due = transitions.hold(job, result.held_until, result.held_reason, utcnow(), horizon, give_back_attempt=True)
    if due is not None:
        effects.enqueue(job.id, due)


def _still_ours(row: Row | None, claim: Claim) -> bool:
    return row is not None and row.status == JobStatus.DELIVERING and row.attempts == claim.attempt


def _load_targets(session: Session, done: list[tuple[Claim, Result]]) -> dict[str, Target]:
    """Lock and read, in id order, the targets whose state this batch may change: those that failed,
    whose circuit is not closed or that were rate-limited before. A healthy target is not even read."""
    ids = sorted({claim.view.id for claim, _ in done})
    failing = {claim.view.id for claim, result in done if result.error is not None}
    light = select(Target.id).where(
        one_of(session, Target.id, ids),
        or_(col(Target.circuit_state) != "closed", col(Target.consecutive_rate_limits) > 0),
    )
    changing = sorted(failing | set(session.exec(light)))
    if not changing:
        return {}
    query = select(Target).where(one_of(session, Target.id, changing)).order_by(col(Target.id)).with_for_update()
    return {t.id: t for t in session.exec(query.execution_options(populate_existing=True))}


def _update_circuit(
    rt: Runtime, session: Session, target: Target | None, claim: Claim, result: Result, effects: Effects
) -> None:
    if target is None or (target.circuit_state == "closed" and result.error_class not in circuit.FAILURE_CLASSES):
        return  # a healthy target (not loaded) with a closed circuit stays as it is
    if circuit.after_attempt(session, target, claim.job_id, result.error_class, utcnow(), rt.settings) == "closed":
        target_id = target.id
        effects.later(lambda: requeue_target_jobs(rt, target_id))


def _attempt_row(claim: Claim, result: Result) -> dict:
    error = result.error
    return {
        "id": new_id("attempt"),
        "workspace_id": claim.workspace_id,
        "job_id": claim.job_id,
        "target_id": claim.view.id,
        "number": claim.attempt,
        "started_at": result.started_at,
        "duration_ms": result.duration_ms,
        "outcome": attempt_outcome(error),
        "status_code": http_status(error, result.receipt),
        "error_class": error.error_class if error else None,
        "error_code": error.code if error else None,
        "error": _error_text(claim, error) if error else None,
        "reconciled": result.reconciled,
    }


def _error_text(claim: Claim, error: DeliveryError) -> str:
    text = error.message
    if error.response_excerpt:
        text = f"{text} Response: {error.response_excerpt}"
    return (redact(text, claim.secrets) or "")[:1000]


def _delivered(
    session: Session,
    done: list[tuple[Claim, Result]],
    targets: dict[str, Target],
    rows: dict[str, Row],
    effects: Effects,
    now: datetime,
) -> None:
    """Receipts in one insert, the jobs in one update: the path nearly every delivery takes."""
    if not done:
        return
    receipts = []
    for claim, result in done:
        receipt = result.receipt
        assert receipt is not None
        receipts.append(
            {
                "id": new_id("receipt"),
                "workspace_id": claim.workspace_id,
                "job_id": claim.job_id,
                "plan_id": claim.plan_id,
                "target_id": claim.view.id,
                "external_id": receipt.external_id,
                "delivered_at": now,
                "response_meta": receipt.meta,
            }
        )
        target = targets.get(claim.view.id)
        if target is not None and target.consecutive_rate_limits:
            target.consecutive_rate_limits = 0
    insert_rows(session, ReceiptRow, receipts)
    transitions.finish_delivered(session, [claim.job_id for claim, _ in done], now)
    for claim, _ in done:
        effects.finished(session, rows[claim.job_id], JobStatus.DELIVERED, now, ordered=claim.ordered)


def _rate_limited(
    rt: Runtime, session: Session, job: Job, target: Target, claim: Claim, error: DeliveryError, effects: Effects
) -> None:
    """``target`` was locked by ``_load_targets``."""
    paused_until = pause_rate_limited(rt, session, target, error)
    job.last_error, job.error_class = _error_text(claim, error), "rate_limited"
    job.outcome_unknown = error.outcome_unknown
    _wait_or_cancel(rt, session, job, paused_until, effects)


def pause_rate_limited(rt: Runtime, session: Session, target: Target, error: DeliveryError) -> datetime:
    """Pause a (locked) target that answered 429: until the provider's reset, longer after repeated 429s.

    A 429 that lands while the target is still paused by an earlier one came from a request sent before
    that pause was known (the same burst, or another worker's batch): it keeps the pause at least as long
    as its own reset asks, but does not count as one more 429 in a row, so a burst of them pauses once.
    """
    still_paused = target.paused_until is not None and target.paused_until > utcnow()
    if not still_paused or not target.consecutive_rate_limits:
        target.consecutive_rate_limits += 1
    seconds = pause_seconds(
        error.retry_after_seconds,
        target.consecutive_rate_limits,
        rt.settings.default_pause_seconds,
        rt.settings.max_pause_seconds,
    )
    until = utcnow() + timedelta(seconds=seconds)
    if target.paused_until is None or target.paused_until < until:
        target.paused_until = until
    target.pause_reason = f"{RATE_LIMIT_PAUSE} (HTTP {error.status_code or 429}); resumes automatically"
    record_event(
        session,
        target.workspace_id,
        "target.paused",
        f"{target.name} paused for {seconds:g}s: {target.pause_reason}.",
        target_id=target.id,
        until=target.paused_until.isoformat(),
        retryAfterSeconds=error.retry_after_seconds,
    )
    return target.paused_until


def _transient(rt: Runtime, session: Session, job: Job, claim: Claim, result: Result, effects: Effects) -> None:
    error = result.error
    assert error is not None
    job.retries_used += 1
    job.outcome_unknown = error.outcome_unknown  # a timeout after the write: the next attempt reconciles first
    text = _error_text(claim, error)
    if job.retries_used >= claim.retry_policy.max_attempts:
        _dead_letter(session, job, claim, result, text)
        effects.finish(session, job, JobStatus.DEAD, error=text, error_class="transient")
        return
    job.last_error, job.error_class = text, "transient"
    delay = retry_delay(job.retries_used, claim.retry_policy, error.retry_after_seconds)
    _wait_or_cancel(rt, session, job, utcnow() + timedelta(seconds=delay), effects)


def _dead_letter(session: Session, job: Job, claim: Claim, result: Result, text: str) -> None:
    error = result.error
    assert error is not None
    existing = session.exec(select(DeadLetter).where(DeadLetter.job_id == job.id)).first()
    if existing is not None:
        session.delete(existing)
        session.flush()
    response = {"statusCode": error.status_code, "errorCode": error.code, "error": text}
    session.add(
        DeadLetter(
            id=new_id("dead_letter"),
            workspace_id=job.workspace_id,
            job_id=job.id,
            plan_id=job.plan_id,
            target_id=job.target_id,
            error_class=error.error_class,
            error=text,
            attempts=job.attempts,
            request=request_snapshot(claim, result.payload),
            response=response,
        )
    )


def request_snapshot(claim: Claim, payload: ChannelPayload | None) -> dict:
    """The request as stored with a dead letter (built only for dead letters, never on the hot path)."""
    request: dict = {"channel": claim.view.channel, "destination": _destination(claim.view)}
    if payload is not None:
        request.update(contentType=payload.content_type, body=_snapshot(payload.body))
    return request


def _destination(view: TargetView[Any, Any]) -> str | None:
    """Where the target sends: the first endpoint its channel's ``validate`` names (None: no network)."""
    credentials = view.credentials.model_dump(mode="json", by_alias=True) if view.credentials else None
    try:
        validated = get_channel(view.channel).validate(view.config.model_dump(mode="json", by_alias=True), credentials)
    except ConfigError:
        return None
    return validated.endpoints[0].url if validated.endpoints else None


def _snapshot(body: object, limit: int = 16_384) -> object:
    """The payload: whole when small, else a truncated text."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    if len(text) <= limit:
        return body
    return text[:limit] + "…(truncated)"


def _wait_or_cancel(rt: Runtime, session: Session, job: Job, due: datetime, effects: Effects) -> None:
    plan = session.get(Plan, job.plan_id)
    if plan is not None and plan.status == PlanStatus.CANCELLED:
        effects.finish(session, job, JobStatus.CANCELLED)
        return
    queued = transitions.retry_at(job, due, utcnow(), rt.settings.enqueue_horizon_seconds)
    effects.later(partial(rt.metrics.retry, job.error_class or "transient"))
    if queued is not None:
        effects.enqueue(job.id, queued)

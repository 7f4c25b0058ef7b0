"""The delivery state machine, broker-agnostic: claim → pause check → adapter call → classify → record.

Actors call ``process_job(runtime, job_id)``; tests call it directly. Every step is idempotent:
a duplicate message for a job that is finished, in flight or not yet due does nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, select

from adapters import Content, DeliveryContext, DeliveryError, DeliveryOutcome, Policy, TargetView, get_adapter
from adapters.base import TransientDeliveryError
from server.activity.recorder import PLAN_EVENTS, record_event
from server.db import session_scope
from server.delivery import circuit
from server.delivery.holds import Hold, find_hold, next_in_line, target_limits
from server.delivery.retry import pause_seconds, retry_delay
from server.delivery.scheduling import enqueue_at, requeue_target_jobs
from server.ids import new_id
from server.models import Attempt, DeadLetter, Job, Plan, Receipt, Target, Workspace
from server.models.base import utcnow
from server.plans.progress import mark_running, record_terminal
from server.policy import effective_policy
from server.redaction import redact
from server.runtime import Runtime
from server.targets.repository import effective_retry_policy, target_view, view_secrets
from server.targets.schemas import RetryPolicy

log = logging.getLogger(__name__)
EARLY_TOLERANCE = timedelta(milliseconds=5)


@dataclass
class Claim:
    job_id: str
    plan_id: str
    workspace_id: str
    attempt: int
    content: Content
    policy: Policy
    view: TargetView
    retry_policy: RetryPolicy
    secrets: list[str]
    limit_token: str | None = None


@dataclass
class Result:
    started_at: datetime
    duration_ms: float
    outcome: DeliveryOutcome | None = None
    error: DeliveryError | None = None
    request: dict = field(default_factory=dict)


@dataclass
class _AfterCommit:
    actions: list[Callable[[], None]] = field(default_factory=list)

    def add(self, action: Callable[[], None]) -> None:
        self.actions.append(action)

    def run(self) -> None:
        for action in self.actions:
            action()


def process_job(rt: Runtime, job_id: str) -> None:
    claim = claim_job(rt, job_id)
    if claim is None:
        return
    try:
        result = attempt_delivery(rt, claim)
        record_result(rt, claim, result)
    finally:
        if claim.limit_token:
            rt.limiter.release(claim.view.id, claim.limit_token)


def claim_job(rt: Runtime, job_id: str) -> Claim | None:
    later = _AfterCommit()
    with session_scope(rt.engine) as session:
        claim = _claim(rt, session, job_id, later)
    later.run()
    return claim


def _claim(rt: Runtime, session: Session, job_id: str, later: _AfterCommit) -> Claim | None:
    now = utcnow()
    job = session.exec(select(Job).where(Job.id == job_id).with_for_update(skip_locked=True)).first()
    if job is None or not _claimable(job, now):
        return None
    if job.status != "delivering" and job.next_attempt_at is not None and job.next_attempt_at > now + EARLY_TOLERANCE:
        due = job.next_attempt_at  # the message came early (clock skew, a stale duplicate): come back when due
        later.add(lambda: enqueue_at(rt, [job_id], due))
        return None
    target = session.get(Target, job.target_id)
    plan = session.get(Plan, job.plan_id)
    workspace = session.get(Workspace, job.workspace_id)
    assert target is not None and plan is not None and workspace is not None
    if not target.active:
        _finish(rt, session, job, "failed", later, error="Target is inactive; activate it and retry the job.")
        return None
    hold = find_hold(session, workspace, target, job, now, rt.settings)
    token = None
    if hold is None and target_limits(target).any:
        token, wait = rt.limiter.acquire(target.id, target_limits(target), rt.settings.lease_seconds)
        if token is None:
            hold = Hold(now + timedelta(seconds=max(wait, rt.settings.limit_recheck_seconds)), "held by the target's rate or concurrency limit")
    if hold is not None:
        _hold(rt, job, hold, now, later)
        return None
    job.status, job.attempts, job.updated_at, job.held_reason = "delivering", job.attempts + 1, now, None
    job.lease_expires_at = now + timedelta(seconds=rt.settings.lease_seconds)
    mark_running(session, plan.id)
    return Claim(
        job_id=job.id,
        plan_id=plan.id,
        workspace_id=job.workspace_id,
        attempt=job.attempts,
        content=Content.model_validate(plan.content),
        policy=effective_policy(plan.policy, target.policy),
        view=(view := target_view(target, rt.box)),
        retry_policy=effective_retry_policy(target, rt.settings),
        secrets=view_secrets(view),
        limit_token=token,
    )


def _hold(rt: Runtime, job: Job, hold: Hold, now: datetime, later: _AfterCommit) -> None:
    """The job waits (no attempt spent) until ``hold.until``; None means until an operator resumes."""
    job.status, job.next_attempt_at, job.held_reason, job.updated_at = "scheduled", hold.until, hold.reason, now
    job.lease_expires_at = None
    if hold.until is not None:
        job_id, until = job.id, hold.until
        later.add(lambda: enqueue_at(rt, [job_id], until))


def _claimable(job: Job, now: datetime) -> bool:
    if job.status == "delivering":
        return job.lease_expires_at is not None and job.lease_expires_at <= now
    return job.status in ("pending", "scheduled")


def attempt_delivery(rt: Runtime, claim: Claim) -> Result:
    adapter = get_adapter(claim.view.channel)
    delivery = DeliveryContext(delivery_id=claim.job_id, attempt=claim.attempt, plan_id=claim.plan_id, timestamp=utcnow())
    started_at, started = utcnow(), time.perf_counter()
    request: dict = {"channel": claim.view.channel, "destination": adapter.destination(claim.view.config)}
    try:
        payload = adapter.transform(claim.content, claim.policy, claim.view)
        request.update(contentType=payload.content_type, body=_snapshot(payload.body))
        outcome = adapter.deliver(payload, claim.view, rt.http, delivery)
        return Result(started_at, _elapsed_ms(started), outcome=outcome, request=request)
    except DeliveryError as exc:
        return Result(started_at, _elapsed_ms(started), error=exc, request=request)
    except Exception:
        log.exception("adapter %s crashed delivering job %s", claim.view.channel, claim.job_id)
        error = TransientDeliveryError("Internal error in the channel adapter; it will be retried.", code="ADAPTER_CRASH")
        return Result(started_at, _elapsed_ms(started), error=error, request=request)


def _snapshot(body: object, limit: int = 16_384) -> object:
    """The payload as stored with a dead letter: whole when small, else a truncated text."""
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False)
    if len(text) <= limit:
        return body
    return text[:limit] + "…(truncated)"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def record_result(rt: Runtime, claim: Claim, result: Result) -> None:
    later = _AfterCommit()
    with session_scope(rt.engine) as session:
        _record(rt, session, claim, result, later)
    later.run()


def _record(rt: Runtime, session: Session, claim: Claim, result: Result, later: _AfterCommit) -> None:
    session.add(_attempt_row(claim, result))
    job = session.exec(select(Job).where(Job.id == claim.job_id).with_for_update()).one()
    if job.status != "delivering" or job.attempts != claim.attempt:
        return  # another worker reclaimed this job after our lease expired; its result wins
    _update_circuit(rt, session, claim, result, later)
    if result.error is None:
        _delivered(rt, session, job, claim, result, later)
    elif result.error.error_class == "rate_limited":
        _rate_limited(rt, session, job, claim, result.error, later)
    elif result.error.error_class == "transient":
        _transient(rt, session, job, claim, result.error, later, result.request)
    else:
        _finish(rt, session, job, "failed", later, error=_error_text(claim, result.error), error_class=result.error.error_class)


def _update_circuit(rt: Runtime, session: Session, claim: Claim, result: Result, later: _AfterCommit) -> None:
    error_class = result.error.error_class if result.error else None
    target = session.get(Target, claim.view.id)
    assert target is not None
    if target.circuit_state == "closed" and error_class not in circuit.FAILURE_CLASSES:
        return
    session.flush()
    locked = session.exec(
        select(Target).where(Target.id == target.id).with_for_update().execution_options(populate_existing=True)
    ).one()
    if circuit.after_attempt(session, locked, claim.job_id, error_class, utcnow(), rt.settings) == "closed":
        target_id = target.id
        later.add(lambda: requeue_target_jobs(rt, target_id))


def _attempt_row(claim: Claim, result: Result) -> Attempt:
    error = result.error
    status = error.status_code if error else (result.outcome.status_code if result.outcome else None)
    return Attempt(
        id=new_id("attempt"),
        workspace_id=claim.workspace_id,
        job_id=claim.job_id,
        target_id=claim.view.id,
        number=claim.attempt,
        started_at=result.started_at,
        duration_ms=result.duration_ms,
        outcome="delivered" if error is None else error.error_class,
        status_code=status,
        error_class=error.error_class if error else None,
        error_code=error.code if error else None,
        error=_error_text(claim, error) if error else None,
    )


def _error_text(claim: Claim, error: DeliveryError) -> str:
    text = error.message
    if error.response_excerpt:
        text = f"{text} Response: {error.response_excerpt}"
    return (redact(text, claim.secrets) or "")[:1000]


def _delivered(rt: Runtime, session: Session, job: Job, claim: Claim, result: Result, later: _AfterCommit) -> None:
    assert result.outcome is not None
    delivery = DeliveryContext(delivery_id=claim.job_id, attempt=claim.attempt, plan_id=claim.plan_id, timestamp=result.started_at)
    receipt = get_adapter(claim.view.channel).normalize_receipt(result.outcome, delivery)
    session.add(
        Receipt(
            id=new_id("receipt"),
            workspace_id=claim.workspace_id,
            job_id=job.id,
            plan_id=claim.plan_id,
            target_id=claim.view.id,
            external_id=receipt.external_id,
            response_meta=receipt.meta,
        )
    )
    target = session.get(Target, claim.view.id)
    if target is not None and target.consecutive_rate_limits:
        target.consecutive_rate_limits = 0
    job.last_error, job.error_class = None, None
    _finish(rt, session, job, "delivered", later)


def _rate_limited(
    rt: Runtime, session: Session, job: Job, claim: Claim, error: DeliveryError, later: _AfterCommit
) -> None:
    target = session.exec(select(Target).where(Target.id == claim.view.id).with_for_update()).one()
    target.consecutive_rate_limits += 1
    seconds = pause_seconds(
        error.retry_after_seconds, target.consecutive_rate_limits,
        rt.settings.default_pause_seconds, rt.settings.max_pause_seconds,
    )
    until = utcnow() + timedelta(seconds=seconds)
    if target.paused_until is None or target.paused_until < until:
        target.paused_until = until
    target.pause_reason = f"rate limited by the provider (HTTP {error.status_code or 429}); resumes automatically"
    record_event(session, target.workspace_id, "target.paused", f"{target.name} paused for {seconds:g}s: {target.pause_reason}.",
                 target_id=target.id, until=target.paused_until.isoformat(), retryAfterSeconds=error.retry_after_seconds)
    job.last_error, job.error_class = _error_text(claim, error), "rate_limited"
    _wait_or_cancel(rt, session, job, target.paused_until, later)


def _transient(
    rt: Runtime, session: Session, job: Job, claim: Claim, error: DeliveryError, later: _AfterCommit, result_request: dict
) -> None:
    job.retries_used += 1
    text = _error_text(claim, error)
    if job.retries_used >= claim.retry_policy.max_attempts:
        _dead_letter(session, job, claim, error, text, result_request)
        _finish(rt, session, job, "dead", later, error=text, error_class="transient")
        return
    job.last_error, job.error_class = text, "transient"
    delay = retry_delay(job.retries_used, claim.retry_policy, error.retry_after_seconds)
    _wait_or_cancel(rt, session, job, utcnow() + timedelta(seconds=delay), later)


def _dead_letter(session: Session, job: Job, claim: Claim, error: DeliveryError, text: str, request: dict) -> None:
    existing = session.exec(select(DeadLetter).where(DeadLetter.job_id == job.id)).first()
    if existing is not None:
        session.delete(existing)
        session.flush()
    response = {"statusCode": error.status_code, "errorCode": error.code, "error": text}
    session.add(
        DeadLetter(
            id=new_id("dead_letter"), workspace_id=job.workspace_id, job_id=job.id, plan_id=job.plan_id,
            target_id=job.target_id, error_class=error.error_class, error=text, attempts=job.attempts,
            request=request, response=response,
        )
    )


def _wait_or_cancel(rt: Runtime, session: Session, job: Job, due: datetime, later: _AfterCommit) -> None:
    plan = session.get(Plan, job.plan_id)
    if plan is not None and plan.status == "cancelled":
        _finish(rt, session, job, "cancelled", later)
        return
    job.status, job.next_attempt_at, job.lease_expires_at, job.updated_at = "scheduled", due, None, utcnow()
    job_id = job.id
    later.add(lambda: enqueue_at(rt, [job_id], due))


def _finish(
    rt: Runtime, session: Session, job: Job, status: str, later: _AfterCommit,
    *, error: str | None = None, error_class: str | None = None,
) -> None:
    now = utcnow()
    job.status, job.finished_at, job.updated_at, job.lease_expires_at = status, now, now, None
    job.next_attempt_at = None
    if error is not None:
        job.last_error, job.error_class = error, error_class or "permanent"
    session.add(job)
    session.flush()
    plan_final = record_terminal(session, job.plan_id, status)
    if status == "dead":
        record_event(session, job.workspace_id, "job.dead", f"Job {job.id} exhausted its attempts: {job.last_error}",
                     job_id=job.id, plan_id=job.plan_id, target_id=job.target_id)
    if plan_final in PLAN_EVENTS:
        record_event(session, job.workspace_id, PLAN_EVENTS[plan_final], f"Plan {job.plan_id} ended {plan_final}.",
                     plan_id=job.plan_id)
    event = {"type": "job.finished", "planId": job.plan_id, "jobId": job.id, "status": status, "planStatus": plan_final}
    plan_id = job.plan_id
    later.add(lambda: rt.events.publish(plan_id, event))
    following = next_in_line(session, job, now)
    if following:
        later.add(lambda: enqueue_at(rt, [following], None))

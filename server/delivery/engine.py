"""The delivery engine, broker-agnostic: claim a batch → send it concurrently → record it.

Actors call ``process_jobs(runtime, job_ids)``; tests call it directly. A batch costs two
transactions however many jobs it holds, and its requests go out together on the runtime's
delivery loop (``rt.delivery_loop``), each ``channel.send`` with the loop's ``ChannelIO``. Every step
is idempotent: a duplicate message for a job that is finished, in flight or not yet due does nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from functools import partial
from typing import Any

from adapters import (
    ChannelIO,
    Content,
    DeliveryContext,
    DeliveryError,
    ErrorClass,
    Policy,
    Receipt,
    RecipientView,
    Reconciles,
    TargetView,
    TransientDeliveryError,
    get_channel,
)
from adapters.io import last_look
from server.delivery.claims import Claim, claim_batch, extend_leases
from server.delivery.limits import Limiter
from server.delivery.recording import Result, record_batch
from server.models.base import utcnow
from server.runtime import Runtime

log = logging.getLogger(__name__)
FLAGGED = "target paused: it answered 429 to another delivery"


class PausedMeanwhile(Exception):
    """Raised by a delivery's last look: its target answered 429 while the request waited to leave."""

    def __init__(self, until: float) -> None:
        super().__init__(FLAGGED)
        self.until = until


def process_jobs(rt: Runtime, job_ids: list[str]) -> None:
    started = time.perf_counter()
    claims = claim_batch(rt, job_ids)
    if not claims:
        log.debug("batch of %d job(s): none to claim (finished, in flight or not due)", len(job_ids))
        return
    finished = deliver_claims(rt, claims)
    _log_batch(len(job_ids), len(claims), finished, started)


def _log_batch(asked: int, claimed: int, finished: list[tuple[Claim, Result]], started: float) -> None:
    """One INFO line per batch (JSON fields with HERALD_LOG_FORMAT=json)."""
    delivered = sum(1 for _, result in finished if result.receipt is not None)
    held = sum(1 for _, result in finished if result.held_until is not None)
    failed = len(finished) - delivered - held
    fields = {
        "jobs": asked,
        "claimed": claimed,
        "delivered": delivered,
        "failed": failed,
        "held": held,
        "still_sending": claimed - len(finished),
        "duration_ms": _elapsed_ms(started),
    }
    log.info(
        "batch of %d job(s): %d claimed, %d delivered, %d failed, %d held, %d still sending, in %.0f ms",
        *fields.values(),
        extra={"batch": fields},
    )


def deliver_claims(rt: Runtime, claims: list[Claim]) -> list[tuple[Claim, Result]]:
    """Send claimed jobs and record them; requests slower than the batch's patience are recorded
    when they end, from the delivery loop, while this thread moves on. Returns what was recorded now."""
    patience = min(rt.settings.batch_patience_seconds, rt.settings.lease_seconds / 3)
    # The flags and the rate windows are read here, just before the loop sends: one Redis call for the
    # flags, and the windows only when a target of the batch has a rate limit (no thread hop for either).
    flagged = rt.limiter.flagged({claim.view.id for claim in claims})
    rated = [claim for claim in claims if claim.rate is not None and claim.view.id not in flagged]
    waits = _take_rate(rt, rated) if rated else {}
    finished, stragglers = rt.delivery_loop.run(lambda io: _attempt_all(rt, io, claims, patience, flagged, waits))
    try:
        record_batch(rt, finished)
    finally:
        _release(rt, [claim for claim, _ in finished])
        if stragglers:
            rt.delivery_loop.submit(lambda _: _finish_stragglers(rt, stragglers))
    return finished


def process_job(rt: Runtime, job_id: str) -> None:
    process_jobs(rt, [job_id])


def _release(rt: Runtime, claims: list[Claim]) -> None:
    for claim in claims:
        if claim.limit_token:
            rt.limiter.release(claim.view.id, claim.limit_token)


Sending = list[tuple[Claim, "asyncio.Task[Result]"]]


async def _attempt_all(
    rt: Runtime,
    io: ChannelIO,
    claims: list[Claim],
    patience: float,
    flagged: dict[str, float],
    waits: dict[str, float],
) -> tuple[list[tuple[Claim, Result]], Sending]:
    """Send every claim at once, except to targets another worker has just seen answer 429 (``flagged``:
    target id → end of the flag) and jobs whose target's rate window is full (``waits``: job id → seconds).

    Returns what finished within ``patience`` seconds, and the requests still running: a receiver
    that hangs until the timeout must not hold back the receipts of the rest of its batch, nor the
    worker thread.
    """
    loop = asyncio.get_running_loop()

    def flag(target_id: str, seconds: float | None) -> None:
        # From the 429 on, no worker sends to the target, though the pause is recorded only with the batch:
        # this process's requests still waiting for a connection see it at once, the others through Redis.
        seconds = seconds or rt.settings.default_pause_seconds
        rt.limiter.note_pause(target_id, time.time() + seconds)
        loop.run_in_executor(None, rt.limiter.flag_pause, target_id, seconds)

    def start(claim: Claim) -> Coroutine[Any, Any, Result]:
        if claim.view.id in flagged:
            return _held(flagged[claim.view.id], FLAGGED)
        if claim.job_id in waits:
            return _held(time.time() + waits[claim.job_id], "held by the target's rate limit")
        return _looking(partial(_last_look, rt.limiter, claim.view.id), attempt(io, claim, flag))

    tasks = [(claim, asyncio.ensure_future(start(claim))) for claim in claims]
    await asyncio.wait([task for _, task in tasks], timeout=patience)
    finished = [(claim, task.result()) for claim, task in tasks if task.done()]
    return finished, [(claim, task) for claim, task in tasks if not task.done()]


async def _finish_stragglers(rt: Runtime, stragglers: Sending) -> None:
    """Wait for a batch's slow requests here, renewing their leases (so no sweeper hands a job
    still in flight to another worker; a dead worker's leases do expire), then record them."""
    loop = asyncio.get_running_loop()
    pending = {task for _, task in stragglers}
    while pending:
        _, pending = await asyncio.wait(pending, timeout=rt.settings.lease_seconds / 3)
        if pending:
            still = [claim for claim, task in stragglers if task in pending]
            await loop.run_in_executor(None, extend_leases, rt, still)
    done = [(claim, task.result()) for claim, task in stragglers]
    try:
        await loop.run_in_executor(None, record_batch, rt, done)
    except Exception:
        log.exception(
            "recording %d slow deliveries failed; their leases expire and the sweeper retries them", len(done)
        )
    finally:
        await loop.run_in_executor(None, _release, rt, [claim for claim, _ in done])


def _take_rate(rt: Runtime, claims: list[Claim]) -> dict[str, float]:
    """Take a slot of each rate-limited target's window; the jobs that found none, with the wait."""
    waits = {}
    for claim in claims:
        if claim.rate is None:
            continue
        token, wait = rt.limiter.acquire(claim.view.id, claim.rate, rt.settings.lease_seconds)
        if token is None:
            waits[claim.job_id] = max(wait, rt.settings.limit_recheck_seconds)
        else:
            rt.limiter.release(claim.view.id, token)  # only the window counts; the cap was taken at claim
    return waits


async def _looking(look: Callable[[], None], sending: Coroutine[Any, Any, Result]) -> Result:
    last_look.set(look)  # this task's own context: only its requests look
    return await sending


def _last_look(limiter: Limiter, target_id: str) -> None:
    until = limiter.noted(target_id)
    if until is not None:
        raise PausedMeanwhile(until)


def _held_result(until: float, reason: str, started_at: datetime | None = None, duration_ms: float = 0.0) -> Result:
    """Not sent: held until the epoch second ``until`` (no attempt spent)."""
    held_until = datetime.fromtimestamp(until, UTC)
    return Result(started_at or utcnow(), duration_ms, held_until=held_until, held_reason=reason)


async def _held(until: float, reason: str) -> Result:
    return _held_result(until, reason)


async def attempt(io: ChannelIO, claim: Claim, flag: Callable[[str, float | None], None] | None = None) -> Result:
    """One delivery attempt of a claimed job; never raises."""
    delivery = DeliveryContext(
        delivery_id=claim.job_id,
        attempt=claim.attempt,
        plan_id=claim.plan_id,
        timestamp=utcnow(),
        previous_outcome_unknown=claim.previous_outcome_unknown,
        recipient_id=claim.recipient.id if claim.recipient else None,
    )
    result = await send_one(io, claim.view, claim.content, claim.policy, delivery, flag, claim.recipient)
    if log.isEnabledFor(logging.DEBUG):
        outcome = "delivered" if result.receipt else (result.held_reason or f"{result.error_class}: {result.error}")
        log.debug(
            "attempt %d of job %s to target %s: %s in %.0f ms",
            claim.attempt,
            claim.job_id,
            claim.view.id,
            outcome,
            result.duration_ms,
            extra={"job_id": claim.job_id, "target_id": claim.view.id, "attempt": claim.attempt},
        )
    return result


async def send_one(
    io: ChannelIO,
    view: TargetView[Any, Any],
    content: Content,
    policy: Policy,
    delivery: DeliveryContext,
    flag: Callable[[str, float | None], None] | None = None,
    recipient: RecipientView | None = None,
) -> Result:
    """Render and send one delivery through its channel; a crash becomes a transient error, retried like any other.

    After an attempt whose outcome is unknown, a channel that ``Reconciles`` first looks its post up:
    found, the job is delivered with that receipt (``reconciled: true``) and nothing is sent again.
    """
    channel = get_channel(view.channel)
    started_at, started = delivery.timestamp, time.perf_counter()
    payload, reconciled = None, None
    try:
        payload = channel.render(content, policy, view, recipient)
        if delivery.previous_outcome_unknown and isinstance(channel, Reconciles):
            found = await _reconcile(channel, payload, view, delivery, io)
            if found is not None:
                receipt = Receipt(found.external_id, {**found.meta, "reconciled": True})
                return Result(started_at, _elapsed_ms(started), receipt=receipt, payload=payload, reconciled="found")
            reconciled = "not_found"
        receipt = await channel.send(payload, view, delivery, io)
        return Result(started_at, _elapsed_ms(started), receipt=receipt, payload=payload, reconciled=reconciled)
    except PausedMeanwhile as paused:
        return _held_result(paused.until, FLAGGED, started_at, _elapsed_ms(started))
    except DeliveryError as exc:
        if exc.error_class == ErrorClass.RATE_LIMITED and flag is not None:
            flag(view.id, exc.retry_after_seconds)
        return Result(started_at, _elapsed_ms(started), error=exc, payload=payload, reconciled=reconciled)
    except Exception:
        log.exception("channel %s crashed delivering %s", view.channel, delivery.delivery_id)
        error = TransientDeliveryError(
            "Internal error in the channel adapter; it will be retried.", code="ADAPTER_CRASH"
        )
        return Result(started_at, _elapsed_ms(started), error=error, payload=payload)


async def _reconcile(
    channel: Reconciles, payload: Any, view: TargetView[Any, Any], delivery: DeliveryContext, io: ChannelIO
) -> Receipt | None:
    """The channel's lookup; a lookup that fails leaves the earlier attempt's outcome unknown (still to check)."""
    try:
        return await channel.reconcile(payload, view, delivery, io)
    except DeliveryError as exc:
        exc.outcome_unknown = True
        raise


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

"""The delivery engine, broker-agnostic: claim a batch → send it concurrently → record it.

Actors call ``process_jobs(runtime, job_ids)``; tests call it directly. A batch costs two
transactions however many jobs it holds, and its requests go out together on the runtime's
event loop. Every step is idempotent: a duplicate message for a job that is finished, in flight
or not yet due does nothing.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from adapters import DeliveryContext, DeliveryError, get_adapter
from adapters.base import TransientDeliveryError
from server.delivery.claims import Claim, claim_batch, extend_leases
from server.delivery.recording import Result, record_batch
from server.models.base import utcnow
from server.runtime import Runtime

log = logging.getLogger(__name__)


def process_jobs(rt: Runtime, job_ids: list[str]) -> None:
    claims = claim_batch(rt, job_ids)
    if not claims:
        return
    try:
        results = send_batch(rt, claims)
        record_batch(rt, list(zip(claims, results, strict=True)))
    finally:
        for claim in claims:
            if claim.limit_token:
                rt.limiter.release(claim.view.id, claim.limit_token)


def process_job(rt: Runtime, job_id: str) -> None:
    process_jobs(rt, [job_id])


def send_batch(rt: Runtime, claims: list[Claim]) -> list[Result]:
    """Send the batch on the delivery loop; while it runs, keep its leases alive so no sweeper
    hands a job that is still in flight to another worker (a dead worker's leases do expire)."""
    sending = rt.delivery_loop.submit(_attempt_all(rt, claims))
    while True:
        try:
            return sending.result(timeout=rt.settings.lease_seconds / 3)
        except concurrent.futures.TimeoutError:
            extend_leases(rt, claims)


async def _attempt_all(rt: Runtime, claims: list[Claim]) -> list[Result]:
    """Send every claim at once, except to targets another worker has just seen answer 429."""
    loop = asyncio.get_running_loop()
    flagged = await loop.run_in_executor(None, rt.limiter.flagged, {claim.view.id for claim in claims})

    def flag(target_id: str, seconds: float | None) -> None:
        # From the 429 on, no worker sends to the target, though the pause is recorded only with the batch.
        loop.run_in_executor(None, rt.limiter.flag_pause, target_id, seconds or rt.settings.default_pause_seconds)

    client = rt.delivery_loop.client
    return list(await asyncio.gather(*(
        _held(claim, flagged[claim.view.id]) if claim.view.id in flagged else attempt(client, claim, flag)
        for claim in claims
    )))


async def _held(claim: Claim, until: float) -> Result:
    now = utcnow()
    return Result(now, 0.0, held_until=datetime.fromtimestamp(until, UTC))


async def attempt(client: object, claim: Claim, flag: Callable[[str, float | None], None] | None = None) -> Result:
    """One adapter call; never raises: a crash becomes a transient error, retried like any other."""
    adapter = get_adapter(claim.view.channel)
    delivery = DeliveryContext(delivery_id=claim.job_id, attempt=claim.attempt, plan_id=claim.plan_id, timestamp=utcnow())
    started_at, started = delivery.timestamp, time.perf_counter()
    payload = None
    try:
        payload = adapter.transform(claim.content, claim.policy, claim.view)
        outcome = await adapter.deliver_async(payload, claim.view, client, delivery)
        return Result(started_at, _elapsed_ms(started), outcome=outcome, payload=payload)
    except DeliveryError as exc:
        if exc.error_class == "rate_limited" and flag is not None:
            flag(claim.view.id, exc.retry_after_seconds)
        return Result(started_at, _elapsed_ms(started), error=exc, payload=payload)
    except Exception:
        log.exception("adapter %s crashed delivering job %s", claim.view.channel, claim.job_id)
        error = TransientDeliveryError("Internal error in the channel adapter; it will be retried.", code="ADAPTER_CRASH")
        return Result(started_at, _elapsed_ms(started), error=error, payload=payload)


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)

"""Eager delivery: an awaitDelivery call delivers its own small plan, right after the plan's commit.

The idea of Temporal's eager dispatch: the process serving the call runs the ordinary engine
(``process_jobs``) on the jobs it has just committed due now, instead of waiting for a worker to
poll the broker. Nothing else changes: the claim takes the same lease a worker's does (so the
worker that gets the queue message too finds nothing to claim, and a server dying mid-send
leaves a lease the sweeper recovers), and holds, limits, circuits, pauses and halts are decided
by the same claim. A plan of more than ``HERALD_EAGER_DELIVERY_MAX_JOBS`` jobs, or one not due
now (scheduledAt, stagger), is left to the workers.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from server.context import OpContext
from server.delivery.engine import process_jobs
from server.runtime import Runtime

log = logging.getLogger(__name__)

# Eager batches in flight at once in this process: each holds a thread of the server's pool for
# up to the batch patience, so beyond this many the workers deliver and the threads serve calls.
SLOTS = threading.BoundedSemaphore(8)


def eager_delivery(ctx: OpContext) -> Callable[[], None] | None:
    """What delivers the call's fresh jobs in this process, or None when they are left to the workers."""
    job_ids, limit = ctx.due_jobs, ctx.runtime.settings.eager_delivery_max_jobs
    if not job_ids or len(job_ids) > limit:
        return None
    return lambda: deliver(ctx.runtime, job_ids)


def deliver(rt: Runtime, job_ids: list[str]) -> None:
    """Claim and send ``job_ids`` here (blocking); a failure leaves them to the workers' messages."""
    if not SLOTS.acquire(blocking=False):
        log.debug("eager delivery of %d job(s) left to the workers: every slot is busy", len(job_ids))
        return
    try:
        process_jobs(rt, job_ids)
    except Exception:
        log.exception("eager delivery of %d job(s) failed; their queue messages or the sweeper deliver them", len(job_ids))
    finally:
        SLOTS.release()

"""Eager delivery: an awaitDelivery call delivers its own small plan, right after the plan's commit.

The idea of Temporal's eager dispatch: the process serving the call runs the ordinary engine
(``process_jobs``) on the jobs it has just committed due now, instead of waiting for a worker to
poll the broker. The claim takes the same lease a worker's does, and holds, limits, circuits,
pauses and halts are decided by that same claim. A plan of more than ``HERALD_EAGER_DELIVERY_MAX_JOBS``
jobs, or one not all due now (scheduledAt, stagger), is left to the workers.

Those jobs' normal queue messages are sent from here after the batch, not at commit:
a worker taking one then finds the job leased or finished and does nothing (a duplicate message is a
no-op by design), instead of racing this process for the claim. A claimed job is where a worker's is
after taking its message: a lease, which the sweeper recovers if this process dies mid-send. Should the
process die between the commit and the claim, the jobs are overdue without a message, which the
sweeper re-sends as it does any lost message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from server.context import OpContext
from server.delivery.engine import process_jobs
from server.jobs.queue import enqueue_at
from server.runtime import Runtime

log = logging.getLogger(__name__)

# Eager batches in flight at once in this process: each holds a thread of the server's pool for
# up to the batch patience, so beyond this many the workers deliver and the threads serve calls.
SLOTS = threading.BoundedSemaphore(8)


def eager_delivery(ctx: OpContext) -> Callable[[], None] | None:
    """What delivers the call's fresh jobs in this process (``ctx.due_jobs``, kept by create_plan), or None."""
    job_ids = ctx.due_jobs
    return (lambda: deliver(ctx.runtime, job_ids)) if job_ids else None


def deliver(rt: Runtime, job_ids: list[str]) -> None:
    """Claim and send ``job_ids`` here (blocking), then send their messages."""
    try:
        if not SLOTS.acquire(blocking=False):
            log.debug("eager delivery of %d job(s) left to the workers: every slot is busy", len(job_ids))
            return
        try:
            process_jobs(rt, job_ids)
        except Exception:
            log.exception("eager delivery of %d job(s) failed; the workers take them", len(job_ids))
        finally:
            SLOTS.release()
    finally:
        enqueue_at(rt, job_ids, None)

"""Live plan progress: one stream the GraphQL subscription, the SSE route and the console all read.

It is fed by the plan events awaitDelivery waits on (in process, or Redis pub/sub from any worker),
never by a polling loop: each event (or burst of events, coalesced) re-reads the plan's counters
once. A quiet stream re-reads every ``idle_seconds`` too, so a missed message cannot leave a watcher
stale, and the stream ends with the event that shows the plan final.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import datetime

import anyio
from pydantic import Field

from server.context import Principal
from server.db import session_scope
from server.errors import Unauthorized
from server.jobs.status import PLAN_FINAL, PlanStatus
from server.models.base import utcnow
from server.plans import repository as repo
from server.plans.schemas import PlanCounts
from server.runtime import Runtime
from server.wire import Id, WireModel

JOB_IDS_SHOWN = 100


class PlanProgressEvent(WireModel):
    plan_id: Id
    type: str = Field(
        description="snapshot (the first event, and after a quiet while), or the event that moved the plan "
        "(jobs.finished, plan.cancelled, …)."
    )
    status: PlanStatus
    counts: PlanCounts
    final: bool = Field(description="True on the last event: the plan ended and the stream closes.")
    job_ids: list[Id] = Field(
        default_factory=list, description=f"Jobs that became final since the last event (at most {JOB_IDS_SHOWN})."
    )
    at: datetime


def check_watch(runtime: Runtime, principal: Principal, plan_id: str) -> None:
    """Refuse a watcher before any stream opens: a key without the read scope (FORBIDDEN), then a plan that
    is not its workspace's (NOT_FOUND). Every live door (subscription, SSE, console) calls this first."""
    if "read" not in principal.scopes:
        raise Unauthorized(
            "This API key lacks the 'read' scope needed to watch a plan's progress.",
            code="FORBIDDEN",
            remediation="Use a key with the 'read' scope.",
        )
    check_plan(runtime, principal.workspace_id, plan_id)


def check_plan(runtime: Runtime, workspace_id: str, plan_id: str) -> None:
    """Refuse (``NotFound``) a plan id that is not this workspace's, before any stream opens."""
    with session_scope(runtime.engine) as session:
        repo.load_plan(session, workspace_id, plan_id)


def _read(runtime: Runtime, workspace_id: str, plan_id: str) -> tuple[PlanStatus, PlanCounts]:
    with session_scope(runtime.engine) as session:
        plan = repo.load_plan(session, workspace_id, plan_id)
        return PlanStatus(plan.status), repo.counter_counts(plan)


async def plan_progress(
    runtime: Runtime,
    workspace_id: str,
    plan_id: str,
    *,
    coalesce_seconds: float = 0.1,
    idle_seconds: float = 15.0,
) -> AsyncIterator[PlanProgressEvent]:
    """A snapshot now, then one event per burst of plan events, until (and including) the final one.

    Raises ``NotFound`` before yielding anything when the plan is not in the workspace.
    """
    async with runtime.events.subscribe(plan_id) as events:
        # Subscribed before the first read: an event between the read and the wait is not lost.
        status, counts = await anyio.to_thread.run_sync(_read, runtime, workspace_id, plan_id)
        final = status in PLAN_FINAL
        yield PlanProgressEvent(
            plan_id=plan_id, type="snapshot", status=status, counts=counts, final=final, at=utcnow()
        )
        while not final:
            kind, job_ids = "snapshot", list[str]()
            try:
                first = await asyncio.wait_for(events.get(), idle_seconds)
            except TimeoutError:
                first = None
            if first is not None:
                kind = str(first.get("type") or "event")
                job_ids.extend(first.get("jobIds") or ())
                deadline = time.monotonic() + coalesce_seconds
                while (left := deadline - time.monotonic()) > 0:
                    try:
                        more = await asyncio.wait_for(events.get(), left)
                    except TimeoutError:
                        break
                    job_ids.extend(more.get("jobIds") or ())
            status, counts = await anyio.to_thread.run_sync(_read, runtime, workspace_id, plan_id)
            final = status in PLAN_FINAL
            yield PlanProgressEvent(
                plan_id=plan_id,
                type=kind,
                status=status,
                counts=counts,
                final=final,
                job_ids=job_ids[:JOB_IDS_SHOWN],
                at=utcnow(),
            )


# A comment line alone, no blank line after it: a blank line would end an "event" of no data, which some
# clients (httpx-sse) hand on as an empty message carrying the last id.
SSE_KEEPALIVE = b": keep-alive\n"


def sse_frame(number: int, event: PlanProgressEvent) -> bytes:
    return f"id: {number}\nevent: progress\ndata: {event.model_dump_json(by_alias=True)}\n\n".encode()


def sse_frames(runtime: Runtime, workspace_id: str, plan_id: str, keepalive: float) -> AsyncIterator[bytes]:
    """The progress stream as server-sent events (``id``, ``event: progress``, ``data``), a keep-alive comment
    every ``keepalive`` seconds while nothing happens, ending after the final event. The stream is read by one
    task (its subscription lives there) and framed here; the task hands on every event it read and then an end
    marker, so an event read just as a keep-alive falls due is still sent."""
    return _frames(plan_progress(runtime, workspace_id, plan_id), keepalive)


async def _frames(stream: AsyncIterator[PlanProgressEvent], keepalive: float) -> AsyncIterator[bytes]:
    queue: asyncio.Queue[PlanProgressEvent | None] = asyncio.Queue()

    async def read() -> None:
        try:
            async for event in stream:
                queue.put_nowait(event)
        finally:
            queue.put_nowait(None)

    reader = asyncio.create_task(read())
    try:
        number = 0
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                yield SSE_KEEPALIVE
                continue
            if event is None:
                await reader  # a failed read ends the stream with its error (logged by the server)
                return
            number += 1
            yield sse_frame(number, event)
            if event.final:
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

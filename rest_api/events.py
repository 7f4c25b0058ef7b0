"""``GET /api/v1/plans/{id}/events``: a plan's live progress as server-sent events.

Each event is ``id: <n>``, ``event: progress`` and ``data: <PlanProgressEvent JSON, camelCase>``; the
first is a snapshot, the last has ``final: true`` and the stream ends after it. While nothing happens a
``: keep-alive`` comment goes out every HERALD_LIVE_KEEPALIVE_SECONDS so proxies keep the connection.
A key without the read scope or a plan of another workspace is refused with the error body before any
stream opens.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rest_api.errors import error_response
from server.errors import HeraldError
from server.plans.live import PlanProgressEvent, check_watch, plan_progress
from server.runtime import Runtime

# A comment line alone, no blank line after it: a blank line would end an "event" of no data, which some
# clients (httpx-sse) hand on as an empty message carrying the last id.
KEEPALIVE = b": keep-alive\n"


def frame(number: int, event: PlanProgressEvent) -> bytes:
    return f"id: {number}\nevent: progress\ndata: {event.model_dump_json(by_alias=True)}\n\n".encode()


async def plan_events(rt: Runtime, request: Request, request_id: str | None) -> Response:
    principal = request.scope["state"]["principal"]
    plan_id = request.path_params["id"]
    try:
        await anyio.to_thread.run_sync(check_watch, rt, principal, plan_id)
    except HeraldError as exc:
        return error_response(exc, request_id)
    stream = _frames(rt, principal.workspace_id, plan_id, rt.settings.live_keepalive_seconds)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)


async def _frames(rt: Runtime, workspace_id: str, plan_id: str, keepalive: float) -> AsyncIterator[bytes]:
    """The progress stream read by one task (its subscription lives there), framed here with keep-alives."""
    queue: asyncio.Queue[PlanProgressEvent] = asyncio.Queue()

    async def read() -> None:
        async for event in plan_progress(rt, workspace_id, plan_id):
            queue.put_nowait(event)

    reader = asyncio.create_task(read())
    try:
        number = 0
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), keepalive)
            except TimeoutError:
                if reader.done():
                    reader.result()  # a failed read ends the stream (logged by the server)
                    return
                yield KEEPALIVE
                continue
            number += 1
            yield frame(number, event)
            if event.final:
                return
    finally:
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader

"""``GET /api/v1/plans/{id}/events``: a plan's live progress as server-sent events.

Each event is ``id: <n>``, ``event: progress`` and ``data: <PlanProgressEvent JSON, camelCase>``; the
first is a snapshot, the last has ``final: true`` and the stream ends after it. While nothing happens a
``: keep-alive`` comment goes out every HERALD_LIVE_KEEPALIVE_SECONDS so proxies keep the connection.
A key without the read scope or a plan of another workspace is refused with the error body before any
stream opens.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from rest_api.errors import error_response
from server.errors import HeraldError
from server.plans.live import check_watch, sse_frames
from server.runtime import Runtime


async def plan_events(rt: Runtime, request: Request, request_id: str | None) -> Response:
    principal = request.scope["state"]["principal"]
    plan_id = request.path_params["id"]
    try:
        await anyio.to_thread.run_sync(check_watch, rt, principal, plan_id)
    except HeraldError as exc:
        return error_response(exc, request_id)
    stream = sse_frames(rt, principal.workspace_id, plan_id, rt.settings.live_keepalive_seconds)
    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream, media_type="text/event-stream", headers=headers)

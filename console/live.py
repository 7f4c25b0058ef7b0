"""Server-sent events of one plan's progress for the console's pages, over ``server.plans.live``.

The same stream the public SSE route and the GraphQL subscription read; this route authenticates by
the console's cookie instead of a bearer key; the events are framed as on the public route (keep-alives
included) and end when the plan is final.
"""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from console.web import Visitor, runtime
from server.plans.live import check_plan, sse_frames


async def plan_events(request: Request, who: Visitor) -> Response:
    rt, plan_id = runtime(request), request.path_params["plan_id"]
    await anyio.to_thread.run_sync(check_plan, rt, who.principal.workspace_id, plan_id)  # NotFound before streaming

    stream = sse_frames(rt, who.principal.workspace_id, plan_id, rt.settings.live_keepalive_seconds)
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
    )

"""Server-sent events of one plan's progress for the console's pages, over ``server.plans.live``.

The same stream the public SSE route and the GraphQL subscription read; this route authenticates by
the console's cookie instead of a bearer key, and ends when the plan is final.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import anyio
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from console.web import Visitor, runtime
from server.plans.live import check_plan, plan_progress


async def plan_events(request: Request, who: Visitor) -> Response:
    rt, plan_id = runtime(request), request.path_params["plan_id"]
    await anyio.to_thread.run_sync(check_plan, rt, who.principal.workspace_id, plan_id)  # NotFound before streaming

    async def stream() -> AsyncIterator[str]:
        async for event in plan_progress(rt, who.principal.workspace_id, plan_id):
            yield f"event: progress\ndata: {json.dumps(event.wire())}\n\n"

    return StreamingResponse(
        stream(), media_type="text/event-stream", headers={"cache-control": "no-store", "x-accel-buffering": "no"}
    )

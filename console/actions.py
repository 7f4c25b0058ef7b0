"""The console's form posts: one operation each, then back to the page (a refusal shows its message)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from console.web import Visitor, back_to, call


async def _note(request: Request) -> str | None:
    form = await request.form()
    value = form.get("reason")
    return value.strip() or None if isinstance(value, str) else None


async def pause_target(request: Request, who: Visitor) -> Response:
    reason = await _note(request)
    await call(request, who, "pause_distribution_target", id=request.path_params["target_id"], reason=reason)
    return back_to("/console/targets")


async def resume_target(request: Request, who: Visitor) -> Response:
    await call(request, who, "resume_distribution_target", id=request.path_params["target_id"])
    return back_to("/console/targets")


async def replay(request: Request, who: Visitor) -> Response:
    letter = (await call(request, who, "get_dead_letter", id=request.path_params["letter_id"]))["deadLetter"]
    await call(request, who, "replay_dead_letters", jobIds=[letter["jobId"]])
    return back_to(f"/console/plans/{letter['planId']}")


async def pause_schedule(request: Request, who: Visitor) -> Response:
    schedule_id = request.path_params["schedule_id"]
    await call(request, who, "pause_distribution_schedule", id=schedule_id, note=await _note(request))
    return back_to(f"/console/schedules/{schedule_id}")


async def resume_schedule(request: Request, who: Visitor) -> Response:
    schedule_id = request.path_params["schedule_id"]
    await call(request, who, "resume_distribution_schedule", id=schedule_id)
    return back_to(f"/console/schedules/{schedule_id}")


async def trigger_schedule(request: Request, who: Visitor) -> Response:
    schedule_id = request.path_params["schedule_id"]
    await call(request, who, "trigger_distribution_schedule", id=schedule_id)
    return back_to(f"/console/schedules/{schedule_id}")

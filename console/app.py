"""The console's routes, mounted at /console by server.app (it authenticates by its own session cookie)."""

from __future__ import annotations

from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from console import actions, pages
from console.live import plan_events
from console.signin import sign_in, sign_in_page, sign_out
from console.web import HERE, guarded, signed_in


async def home(_request: object) -> Response:
    return RedirectResponse("/console/plans", status_code=303)


ROUTES: list[BaseRoute] = [
    Route("/", home),
    Route("/sign-in", sign_in_page, methods=["GET"]),
    Route("/sign-in", sign_in, methods=["POST"]),
    Route("/sign-out", guarded(sign_out), methods=["POST"]),
    Route("/plans", signed_in(pages.plans)),
    Route("/plans/{plan_id}", signed_in(pages.plan)),
    Route("/plans/{plan_id}/events", signed_in(plan_events)),
    Route("/targets", signed_in(pages.targets)),
    Route("/targets/{target_id}/pause", guarded(actions.pause_target), methods=["POST"]),
    Route("/targets/{target_id}/resume", guarded(actions.resume_target), methods=["POST"]),
    Route("/dead-letters", signed_in(pages.dead_letters)),
    Route("/dead-letters/{letter_id}", signed_in(pages.dead_letter)),
    Route("/dead-letters/{letter_id}/replay", signed_in(pages.confirm_replay), methods=["GET"]),
    Route("/dead-letters/{letter_id}/replay", guarded(actions.replay), methods=["POST"]),
    Route("/schedules", signed_in(pages.schedules)),
    Route("/schedules/{schedule_id}", signed_in(pages.schedule)),
    Route("/schedules/{schedule_id}/pause", guarded(actions.pause_schedule), methods=["POST"]),
    Route("/schedules/{schedule_id}/resume", guarded(actions.resume_schedule), methods=["POST"]),
    Route("/schedules/{schedule_id}/trigger", guarded(actions.trigger_schedule), methods=["POST"]),
    Route("/events", signed_in(pages.events)),
    Route("/audit", signed_in(pages.audit)),
    Mount("/static", app=StaticFiles(directory=HERE / "static"), name="console-static"),
]


def console_routes() -> list[BaseRoute]:
    """``/console`` itself (which the catch-all /mcp mount would otherwise answer 404) and everything under it."""
    return [Route("/console", home), Mount("/console", routes=ROUTES)]

"""The console's pages: each reads through one or two operations and renders one template."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from console.charts import attempts_of
from console.web import Visitor, call, render

PAGE = 50


def _filters(request: Request, *names: str) -> dict[str, str]:
    """The page's query filters that are set (cursor, status, …), passed to the operation as they are."""
    return {name: value for name in names if (value := request.query_params.get(name))}


async def plans(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "list_distribution_plans", limit=PAGE, **_filters(request, "cursor", "status"))
    return render(request, who, "plans.html", plans=found)


async def plan(request: Request, who: Visitor) -> Response:
    plan_id = request.path_params["plan_id"]
    found = await call(
        request, who, "list_plan_jobs", planId=plan_id, limit=PAGE, **_filters(request, "cursor", "status")
    )
    return render(request, who, "plan.html", found=found, plan=found["plan"], chart=attempts_of(found["items"]))


async def targets(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "list_distribution_targets", limit=100, **_filters(request, "cursor"))
    return render(request, who, "targets.html", targets=found)


async def dead_letters(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "list_dead_letters", limit=PAGE, **_filters(request, "cursor", "planId"))
    return render(request, who, "dead_letters.html", letters=found)


async def dead_letter(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "get_dead_letter", id=request.path_params["letter_id"])
    return render(request, who, "dead_letter.html", letter=found["deadLetter"])


async def confirm_replay(request: Request, who: Visitor) -> Response:
    """The confirmation step: what a replay would requeue (a dry run), and the button that does it."""
    letter = (await call(request, who, "get_dead_letter", id=request.path_params["letter_id"]))["deadLetter"]
    preview = await call(request, who, "replay_dead_letters", jobIds=[letter["jobId"]], dryRun=True)
    return render(request, who, "confirm_replay.html", letter=letter, preview=preview)


async def schedules(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "list_distribution_schedules", limit=PAGE, **_filters(request, "cursor"))
    return render(request, who, "schedules.html", schedules=found)


async def schedule(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "get_distribution_schedule", id=request.path_params["schedule_id"], runs=10)
    return render(request, who, "schedule.html", schedule=found["schedule"])


async def events(request: Request, who: Visitor) -> Response:
    found = await call(
        request, who, "list_operational_events", limit=PAGE, **_filters(request, "cursor", "type", "planId")
    )
    return render(request, who, "events.html", events=found)


async def audit(request: Request, who: Visitor) -> Response:
    found = await call(request, who, "list_audit_events", limit=PAGE, **_filters(request, "cursor", "operation"))
    return render(request, who, "audit.html", audit=found)

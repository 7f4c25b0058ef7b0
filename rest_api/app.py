"""The REST routes: each path once, its methods dispatched to operations through ``server.dispatch``.

Every call takes the same pipeline as GraphQL and MCP (validation, scopes, idempotency, dry run,
audit); a success answers 200 with the operation's result, a refusal ``{"error": …}`` with a fitting
status (``rest_api.errors``). The bearer key was checked by ``server.auth_middleware``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from rest_api.arguments import arguments_of
from rest_api.errors import error_response
from rest_api.events import plan_events
from rest_api.openapi import document
from rest_api.routes import OPENAPI_PATH, PLAN_EVENTS_PATH, ROUTES, RestRoute
from server.dispatch import execute
from server.errors import HeraldError, NotFound
from server.runtime import Runtime

Endpoint = Callable[[Request], Awaitable[Response]]


def request_id_of(request: Request) -> str | None:
    return request.scope.get("state", {}).get("request_id")


def _endpoint(rt: Runtime, by_method: dict[str, RestRoute]) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        request_id = request_id_of(request)
        route = by_method.get(request.method)
        if route is None:
            allowed = ", ".join(sorted(by_method))
            refused = HeraldError(
                f"{request.method} is not allowed on {request.url.path}; use {allowed}.",
                code="METHOD_NOT_ALLOWED",
                remediation="See /api/v1/openapi.json for each route's method.",
            )
            return error_response(refused, request_id, headers={"Allow": allowed})
        try:
            arguments = await arguments_of(route, request)
            result = await execute(
                rt, request.scope["state"]["principal"], route.tool, arguments, request_id=request_id
            )
        except HeraldError as exc:
            return error_response(exc, request_id)
        return JSONResponse(result.wire())

    return endpoint


async def _unknown(request: Request) -> Response:
    refused = NotFound(
        f"No REST route {request.url.path}.", remediation="See /api/v1/openapi.json for every route and method."
    )
    return error_response(refused, request_id_of(request))


def _templated(path: str) -> int:
    return path.count("{")


def rest_routes(rt: Runtime) -> list[BaseRoute]:
    """Every REST route, the OpenAPI document and the plan event stream; an unknown /api path is a 404 error body."""
    by_path: dict[str, dict[str, RestRoute]] = defaultdict(dict)
    for route in ROUTES:
        by_path[route.path][route.method] = route

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document())  # built on first request (cached): it costs start-up half a second

    async def events(request: Request) -> Response:
        return await plan_events(rt, request, request_id_of(request))

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    return [
        Route(OPENAPI_PATH, openapi, methods=["GET"]),
        Route(PLAN_EVENTS_PATH, events, methods=["GET"]),
        # Fixed paths before templated ones: /recipients/delete is not /recipients/{id}.
        *(Route(path, _endpoint(rt, by_path[path]), methods=methods) for path in sorted(by_path, key=_templated)),
        Route("/api/{rest:path}", _unknown, methods=methods),
    ]

"""The ASGI GraphQL app (with GraphiQL); the principal comes from the auth middleware.

Every answer is in GraphQL's shape, refusals of the HTTP request included: a body that is not a
UTF-8 JSON object (``null``, a string, UTF-16, ``NaN``, 20,000 levels deep, a 5,000-digit number…)
gets 400 with ``{"errors": [{"message", "extensions": {"code": "MALFORMED_REQUEST"}}]}``. Each error
carries ``extensions.code``; only a genuine server fault is masked (``INTERNAL_ERROR``), with a
``requestId`` that finds its traceback in the log. A refusal is logged as one INFO line.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import anyio
from cross_web import HTTPException
from graphql import GraphQLEnumType, GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult

from graphql_schema.ide import ide_response
from graphql_schema.schema import LIMITS, MaskedError, configure_limits, schema
from server.errors import HeraldError, InternalError, Unauthorized
from server.http_errors import graphql_errors
from server.json_body import MalformedJson, parse_object
from server.keys.service import authenticate
from server.runtime import Runtime

log = logging.getLogger(__name__)

# An HTTP status strawberry refuses with → the code of that refusal.
_HTTP_CODES = {400: "MALFORMED_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class MalformedBody(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def strict_json(data: str | bytes) -> dict[str, Any]:
    """RFC 8259 JSON as a client must send it: UTF-8, finite numbers, an object at the top.

    ``data`` is the request body (bytes) or a GET request's ``variables`` / ``extensions`` (text)."""
    try:
        return parse_object(data, '{"query": "…", "variables": {…}}', " (batching is not enabled)")
    except MalformedJson as exc:
        raise MalformedBody(str(exc)) from None


_MALFORMED_FIX = 'POST a UTF-8 JSON object {"query": "...", "variables": {...}} with Content-Type: application/json.'


class HeraldGraphQL(GraphQL):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(schema, graphql_ide="graphiql", subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,))
        self.runtime = runtime

    async def on_ws_connect(self, context: dict[str, Any]) -> None:  # type: ignore[override]
        """A websocket authenticates with its upgrade's Authorization header (checked by the middleware) or,
        for browsers that cannot set one, ``{"Authorization": "Bearer <key>"}`` in connection_init; else the
        socket closes with 4403 before any operation runs."""
        if context["principal"] is not None:
            return
        params = context.get("connection_params") or {}
        authorization = params.get("Authorization") or params.get("authorization")
        try:
            context["principal"] = await anyio.to_thread.run_sync(
                authenticate, self.runtime, authorization if isinstance(authorization, str) else None
            )
        except Unauthorized as exc:
            log.info("request %s refused: %s on the /graphql websocket", context.get("request_id"), exc.code)
            raise ConnectionRejectionError() from None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request_id = scope.get("state", {}).get("request_id")
        try:
            response = await self.run(Request(scope=scope, receive=receive))
        except HTTPException as exc:
            code = _HTTP_CODES.get(exc.status_code, "BAD_REQUEST")
            log.info("request %s refused: %s (%s)", request_id, code, exc.reason)
            error = HeraldError(exc.reason, code=code, remediation=_MALFORMED_FIX)
            response = JSONResponse(graphql_errors(error, request_id), status_code=exc.status_code)
        except Exception:  # a bug: masked, its traceback in the log under the request id
            log.exception("request %s: unexpected error serving GraphQL", request_id)
            fault = InternalError(f"Internal error (request id {request_id}).")
            response = JSONResponse(graphql_errors(fault, request_id), status_code=500)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        return strict_json(data)

    async def render_graphql_ide(self, request: Request) -> Response:
        """Herald's own GraphiQL page: its assets come from this server, not a CDN (graphql_schema/ide)."""
        return ide_response()

    async def get_context(self, request: Request, response: Response | None = None) -> dict[str, Any]:  # type: ignore[override]
        state = request.scope.get("state", {})
        return {
            "request": request,
            "response": response,
            "runtime": self.runtime,
            "principal": state.get("principal"),
            "request_id": state.get("request_id"),
        }

    async def process_result(self, request: Request, result: ExecutionResult) -> GraphQLHTTPResponse:
        """Request-level refusals (depth, aliases, size, syntax, unknown fields) get a stable code too."""
        response = await super().process_result(request, result)
        request_id = request.scope.get("state", {}).get("request_id")
        refused: list[str] = []
        for error, formatted in zip(result.errors or [], response.get("errors") or [], strict=True):
            if isinstance(formatted, dict):
                code = _classify(error, formatted, request_id)
                if code != "INTERNAL_ERROR":
                    refused.append(f"{code} ({error.message.splitlines()[0][:200]})")
        if refused:  # one line per refused request, however many errors it has
            log.info("request %s refused: %s", request_id, "; ".join(refused))
        return response


def _classify(error: GraphQLError, formatted: dict[str, Any], request_id: str | None) -> str:
    """The code follows from where ``error`` came from (masked, parser, our limiters, graphql-core's
    validation), never from words found in its message, which may quote what the caller sent.

    A masked error is logged with its traceback and request id (the id is in its extensions too).
    Returns the code."""
    allowed = [] if isinstance(error, MaskedError) else _enum_values(error.message)
    if allowed:
        formatted["message"] += f" Allowed values: {', '.join(allowed)}."
    code = "VALIDATION_ERROR" if allowed else _code(error)
    extensions = formatted.setdefault("extensions", {})
    extensions["code"] = code
    if isinstance(error, MaskedError):
        extensions["requestId"] = request_id
        log.error("request %s: unexpected GraphQL error at %s", request_id, error.path, exc_info=error.original_error)
    return code


_BAD_ENUM = re.compile(r"(?:Enum '(\w+)' cannot represent)|(?:does not exist in '(\w+)' enum)")
# What graphql-core's parser says when it stops at a limit (tokens, comments, source length).
_PARSE_LIMIT = re.compile(r"(?:Document|Source) contains more than \d+ [a-z ]+\. Parsing aborted\.")


def _enum_values(message: str) -> list[str]:
    """A bad enum value is a VALIDATION_ERROR like on MCP, naming the values the enum allows."""
    match = _BAD_ENUM.search(message)
    enum = schema._schema.get_type(match.group(1) or match.group(2)) if match else None
    return list(enum.values) if isinstance(enum, GraphQLEnumType) else []


def _code(error: GraphQLError) -> str:
    if isinstance(error, MaskedError):
        return "INTERNAL_ERROR"
    if isinstance(error, GraphQLSyntaxError):
        return "QUERY_TOO_LARGE" if _PARSE_LIMIT.fullmatch(error.description) else "GRAPHQL_SYNTAX_ERROR"
    if error.path is None and error.original_error is None:
        limit = _limit_refused(error.message)
        if limit is not None:
            return limit
    return "GRAPHQL_VALIDATION_ERROR"


def _limit_refused(message: str) -> str | None:
    """The code of a refusal by our depth or alias limiter: their whole message, with the limit in force."""
    settings = LIMITS["settings"]
    if re.fullmatch(rf"'\w+' exceeds maximum operation depth of {settings.graphql_max_depth}", message):
        return "QUERY_TOO_DEEP"
    if re.fullmatch(rf"\d+ aliases found\. Allowed: {settings.graphql_max_aliases}", message):
        return "TOO_MANY_ALIASES"
    return None


def make_graphql_app(runtime: Runtime) -> HeraldGraphQL:
    configure_limits(runtime.settings)
    return HeraldGraphQL(runtime)

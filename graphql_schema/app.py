"""The ASGI GraphQL app (with GraphiQL); the principal comes from the auth middleware.

Every answer is in GraphQL's shape, refusals of the HTTP request included: a body that is not a
UTF-8 JSON object (``null``, a string, UTF-16, ``NaN``, 20,000 levels deep, a 5,000-digit number…)
gets 400 with ``{"errors": [{"message", "extensions": {"code": "MALFORMED_REQUEST"}}]}``. Each error
carries ``extensions.code``; only a genuine server fault is masked (``INTERNAL_ERROR``), with a
``requestId`` that finds its traceback in the log. A refusal is logged as one INFO line.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from cross_web import HTTPException
from graphql import GraphQLEnumType, GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graphql_schema.ide import ide_response
from graphql_schema.schema import LIMITS, MaskedError, configure_limits, schema
from server.errors import HeraldError, InternalError
from server.http_errors import graphql_errors
from server.runtime import Runtime

log = logging.getLogger(__name__)

# An HTTP status strawberry refuses with → the code of that refusal.
_HTTP_CODES = {400: "MALFORMED_REQUEST", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 413: "PAYLOAD_TOO_LARGE"}


class MalformedBody(HTTPException):
    def __init__(self, reason: str) -> None:
        super().__init__(400, reason)


def _refuse_constant(what: str, name: str) -> Any:
    raise MalformedBody(f"{what} is not valid JSON: {name} is not a JSON number; send finite numbers.")


def strict_json(data: str | bytes) -> dict[str, Any]:
    """RFC 8259 JSON as a client must send it: UTF-8, finite numbers, an object at the top.

    ``data`` is the request body (bytes) or a GET request's ``variables`` / ``extensions`` (text)."""
    what = "The request body" if isinstance(data, bytes) else "The JSON in the query string"
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedBody(
                f"{what} is not UTF-8 (invalid byte at position {exc.start}); send JSON encoded as UTF-8."
            ) from None
    if data.startswith("\ufeff"):
        raise MalformedBody(f"{what} starts with a byte order mark; send JSON encoded as UTF-8 without it.")
    try:
        parsed = json.loads(data, parse_constant=lambda name: _refuse_constant(what, name))
    except json.JSONDecodeError as exc:
        raise MalformedBody(f"{what} is not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}).") from None
    except RecursionError:
        raise MalformedBody(f"{what} is nested too deeply; send at most a few dozen levels.") from None
    except ValueError:  # an integer with more digits than Python converts (sys.get_int_max_str_digits)
        raise MalformedBody(f"{what} has a number with more than {sys.get_int_max_str_digits()} digits.") from None
    if not isinstance(parsed, dict):
        raise MalformedBody(
            f'{what} must be a JSON object such as {{"query": "…", "variables": {{…}}}}, '
            f"not {_json_kind(parsed)} (batching is not enabled)."
        )
    return parsed


def _json_kind(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "an array"}[type(value)]


_MALFORMED_FIX = 'POST a UTF-8 JSON object {"query": "...", "variables": {...}} with Content-Type: application/json.'


class HeraldGraphQL(GraphQL):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.runtime = runtime

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

"""The ASGI GraphQL app (with GraphiQL); the principal comes from the auth middleware."""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLEnumType, GraphQLError, GraphQLSyntaxError
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graphql_schema.ide import ide_response
from graphql_schema.schema import LIMITS, MaskedError, configure_limits, schema
from server.runtime import Runtime


class HeraldGraphQL(GraphQL):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.runtime = runtime

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
        for error, formatted in zip(result.errors or [], response.get("errors") or [], strict=True):
            if isinstance(formatted, dict):
                _classify(error, formatted)
        return response


def _classify(error: GraphQLError, formatted: dict[str, Any]) -> None:
    """The code follows from where ``error`` came from (masked, parser, our limiters, graphql-core's
    validation), never from words found in its message, which may quote what the caller sent."""
    allowed = [] if isinstance(error, MaskedError) else _enum_values(error.message)
    if allowed:
        formatted["message"] += f" Allowed values: {', '.join(allowed)}."
    formatted.setdefault("extensions", {})["code"] = "VALIDATION_ERROR" if allowed else _code(error)


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

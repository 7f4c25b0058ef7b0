"""The ASGI GraphQL app (with GraphiQL); the principal comes from the auth middleware."""

from __future__ import annotations

import re
from typing import Any

from graphql import GraphQLEnumType
from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from graphql_schema.schema import configure_limits, schema
from server.runtime import Runtime


class HeraldGraphQL(GraphQL):
    def __init__(self, runtime: Runtime) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.runtime = runtime

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
        for error in response.get("errors") or []:
            if isinstance(error, dict):
                _classify(error)
        return response


def _classify(error: dict[str, Any]) -> None:
    allowed = _enum_values(error["message"])
    if allowed:
        error["message"] += f" Allowed values: {', '.join(allowed)}."
    error.setdefault("extensions", {})["code"] = "VALIDATION_ERROR" if allowed else _code(error["message"])


_CODES = (
    ("maximum operation depth", "QUERY_TOO_DEEP"),
    ("aliases found", "TOO_MANY_ALIASES"),
    ("more than", "QUERY_TOO_LARGE"),
    ("Internal error", "INTERNAL_ERROR"),
    ("Syntax Error", "GRAPHQL_SYNTAX_ERROR"),
)


_BAD_ENUM = re.compile(r"(?:Enum '(\w+)' cannot represent)|(?:does not exist in '(\w+)' enum)")


def _enum_values(message: str) -> list[str]:
    """A bad enum value is a VALIDATION_ERROR like on MCP, naming the values the enum allows."""
    match = _BAD_ENUM.search(message)
    enum = schema._schema.get_type(match.group(1) or match.group(2)) if match else None
    return list(enum.values) if isinstance(enum, GraphQLEnumType) else []


def _code(message: str) -> str:
    return next((code for fragment, code in _CODES if fragment in message), "GRAPHQL_VALIDATION_ERROR")


def make_graphql_app(runtime: Runtime) -> HeraldGraphQL:
    configure_limits(runtime.settings)
    return HeraldGraphQL(runtime)

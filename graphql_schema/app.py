"""The ASGI GraphQL app (with GraphiQL); the principal comes from the auth middleware."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.asgi import GraphQL

from graphql_schema.schema import schema
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


def make_graphql_app(runtime: Runtime) -> HeraldGraphQL:
    return HeraldGraphQL(runtime)

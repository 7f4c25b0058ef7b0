"""Bearer-key authentication for /graphql, /mcp and /api (REST), as a pure ASGI middleware.

The principal goes on ``scope["state"]``, where the GraphQL context and MCP tools read it.
A missing or wrong key gets 401 with a body that says how to create a key (on /graphql in GraphQL's
``errors`` shape, the code in ``extensions``).
"""

from __future__ import annotations

import logging

import anyio
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from server.dispatch import new_request_id
from server.errors import Unauthorized
from server.http_errors import body_for
from server.keys.service import authenticate
from server.runtime import Runtime

log = logging.getLogger(__name__)
PROTECTED = ("/graphql", "/mcp", "/api/")
OPENAPI_DOCUMENT = "/api/v1/openapi.json"  # rest_api.routes.OPENAPI_PATH: public, like the GraphQL schema
GRAPHIQL_ASSETS = "/graphql/assets"  # graphql_schema.ide.ASSETS_PATH (the middleware imports no door)


class BearerAuthMiddleware:
    def __init__(self, app: ASGIApp, runtime: Runtime) -> None:
        self.app = app
        self.runtime = runtime

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or not scope["path"].startswith(PROTECTED):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        request_id = new_request_id()
        state = scope.setdefault("state", {})
        state["request_id"] = request_id
        if _is_public(scope, headers):
            await self.app(scope, receive, send)
            return
        try:
            state["principal"] = await anyio.to_thread.run_sync(
                authenticate, self.runtime, headers.get("authorization")
            )
        except Unauthorized as exc:
            await _deny(scope, send, exc, request_id)
            return
        await self.app(scope, receive, send)


def _is_public(scope: Scope, headers: Headers) -> bool:
    """The GraphiQL page, its static assets and the OpenAPI document are public; the calls they lead to carry
    the key. A websocket upgrade without a header may authenticate in its connection_init payload instead."""
    if scope["type"] == "websocket" and scope["path"] == "/graphql" and "authorization" not in headers:
        return True
    if scope.get("method") == "GET" and (
        scope["path"].startswith(GRAPHIQL_ASSETS + "/") or scope["path"] == OPENAPI_DOCUMENT
    ):
        return True
    return scope["path"] == "/graphql" and scope.get("method") == "GET" and "text/html" in headers.get("accept", "")


async def _deny(scope: Scope, send: Send, exc: Unauthorized, request_id: str) -> None:
    log.info("request %s refused: %s on %s", request_id, exc.code, scope["path"])
    if scope["type"] == "websocket":
        await send({"type": "websocket.close", "code": 4401})
        return
    body = body_for(scope["path"], exc, request_id)
    await send(
        {
            "type": "http.response.start",
            "status": 401,
            "headers": [
                (b"content-type", b"application/json"),
                (b"www-authenticate", b'Bearer realm="herald"'),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})

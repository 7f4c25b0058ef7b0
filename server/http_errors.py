"""Error bodies for refusals made before a door runs (auth, body size, malformed body), in each door's shape.

GraphQL clients read ``{"errors": [{"message", "extensions": {"code", …}}]}``; MCP clients read a
JSON-RPC error object (``{"jsonrpc": "2.0", "id": null, "error": {"code", "message", "data"}}``).
Other paths keep ``{"error": <the structured error>}``.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.dispatch import error_body
from server.errors import HeraldError

log = logging.getLogger(__name__)
JSONRPC_INVALID_REQUEST = -32600
JSONRPC_PARSE_ERROR = -32700


def graphql_errors(exc: HeraldError, request_id: str | None = None) -> dict[str, Any]:
    """One GraphQL error carrying the structured error (code, remediation, next action) in extensions."""
    body = error_body(exc, request_id).wire()
    extensions = {key: value for key, value in body.items() if key != "message" and value is not None}
    return {"errors": [{"message": exc.message, "extensions": extensions}]}


def jsonrpc_error(exc: HeraldError, request_id: str | None = None, code: int = JSONRPC_INVALID_REQUEST) -> dict:
    return {
        "jsonrpc": "2.0",
        "id": None,
        "error": {"code": code, "message": exc.message, "data": error_body(exc, request_id).wire()},
    }


def body_for(path: str, exc: HeraldError, request_id: str | None = None, *, mcp_shape: bool = False) -> bytes:
    """The JSON body refusing a request to ``path``: GraphQL's errors shape on /graphql, else ``{"error": …}``
    (or JSON-RPC's on /mcp when ``mcp_shape``)."""
    if path.startswith("/graphql"):
        return json.dumps(graphql_errors(exc, request_id)).encode()
    if mcp_shape and path.startswith("/mcp"):
        return json.dumps(jsonrpc_error(exc, request_id)).encode()
    return json.dumps({"error": error_body(exc, request_id).wire()}).encode()


class JsonRpcErrorBodies:
    """On /mcp, an error the transport answers in plain text (a wrong Content-Type, …) becomes a JSON-RPC
    error object with the same status, so an MCP client always reads the same shape."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            await self.app(scope, receive, send)
            return
        held: dict[str, Any] = {}

        async def rewriting_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if message["status"] >= 400 and "json" not in content_type and "event-stream" not in content_type:
                    held["start"], held["text"] = message, b""
                    return
            elif message["type"] == "http.response.body" and "start" in held:
                held["text"] += message.get("body", b"")
                if message.get("more_body", False):
                    return
                await _send_jsonrpc(send, held["start"]["status"], held["text"], scope)
                return
            await send(message)

        await self.app(scope, receive, rewriting_send)


async def _send_jsonrpc(send: Send, status: int, text: bytes, scope: Scope) -> None:
    message = text.decode("utf-8", "replace").strip() or f"HTTP {status}"
    error = HeraldError(
        message,
        code="MALFORMED_REQUEST",
        remediation="POST one JSON-RPC 2.0 message as UTF-8 JSON with Content-Type: application/json "
        "and Accept: application/json, text/event-stream.",
    )
    log.info("request %s refused: MALFORMED_REQUEST on /mcp (%s)", scope.get("state", {}).get("request_id"), message)
    body = json.dumps(jsonrpc_error(error, scope.get("state", {}).get("request_id"))).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

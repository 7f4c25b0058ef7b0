"""The one ASGI app, the composition root: /graphql (with GraphiQL), /mcp, /api (REST), /console, /feeds,
/healthz, /metrics."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server.transport_security import TransportSecuritySettings
from sqlmodel import select
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Mount, Route, WebSocketRoute

from console.app import console_routes
from graphql_schema.app import make_graphql_app
from graphql_schema.ide import ASSETS_PATH
from graphql_schema.ide import asset as graphiql_asset
from mcp_tools.server import build_mcp_server
from rest_api.app import rest_routes
from server import __version__
from server.auth_middleware import BearerAuthMiddleware
from server.body_limit import BodyLimitMiddleware
from server.config import Settings
from server.db import session_scope
from server.feeds.routes import ROUTES as FEED_ROUTES
from server.http_errors import JsonRpcErrorBodies
from server.inbound import whatsapp as inbound_whatsapp
from server.jobs import workers
from server.keys.service import create_key, has_any_key
from server.metrics.exposition import metrics_endpoint, with_state
from server.migrate import upgrade
from server.recipients.unsubscribe import unsubscribe_endpoint
from server.runtime import Runtime, build_runtime
from tasks.worker import DeliveryWorker

log = logging.getLogger("herald")
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _transport_security(settings: Settings) -> TransportSecuritySettings:
    if settings.host in LOOPBACK:
        return TransportSecuritySettings(
            allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
    # Bound to a public address: the bearer key, not the Host header, protects /mcp.
    return TransportSecuritySettings(enable_dns_rebinding_protection=False)


def _bootstrap_key(rt: Runtime) -> None:
    if rt.settings.bootstrap_key and not has_any_key(rt):
        key = create_key(rt, "bootstrap")
        log.warning("No API key existed, so one was created (shown only now): %s", key.secret)


async def healthz(request: Request) -> JSONResponse:
    """200 while the server answers; ``status`` is ``degraded`` in Redis mode when no worker is alive to deliver."""
    rt: Runtime = request.app.state.runtime
    with session_scope(rt.engine) as session:
        session.exec(select(1)).one()
        seen = workers.workers(session, rt.settings)
        no_worker = workers.no_worker_reason(session, rt.settings)
    alive = [row for row, is_alive in seen if is_alive]
    body: dict[str, Any] = {
        "status": "degraded" if no_worker else "ok",
        "version": __version__,
        "mode": "embedded" if rt.settings.embedded else "redis",
        "workers": {
            "alive": len(alive),
            "items": [
                {
                    "id": row.id,
                    "mode": row.mode,
                    "lastBeatAt": workers.aware(row.beat_at).isoformat(),
                    "lastClaimAt": workers.aware(row.last_claim_at).isoformat() if row.last_claim_at else None,
                }
                for row in alive
            ],
        },
    }
    if no_worker:
        body["problems"] = [no_worker]
    return JSONResponse(body)


def create_app(settings: Settings | None = None, *, worker: bool = True) -> Starlette:
    settings = settings or Settings()
    rt = with_state(build_runtime(settings))
    if settings.auto_migrate:
        upgrade(rt.engine)
    delivery = DeliveryWorker(rt, consume=worker)
    mcp = build_mcp_server(rt, include_mutations=not settings.mcp_hide_mutations)
    mcp_app = mcp.streamable_http_app(
        streamable_http_path="/mcp",
        transport_security=_transport_security(settings),
        max_request_body_size=settings.max_request_bytes,
    )
    graphql_app = make_graphql_app(rt)

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        _bootstrap_key(rt)
        delivery.start()
        try:
            async with mcp.session_manager.run():
                yield
        finally:
            delivery.stop()
            rt.close()

    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/metrics", metrics_endpoint),
            *inbound_whatsapp.ROUTES,
            Route("/unsubscribe/{token}", unsubscribe_endpoint, methods=["GET", "POST"]),
            *FEED_ROUTES,
            Route(ASSETS_PATH + "/{name}", graphiql_asset, methods=["GET"]),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
            WebSocketRoute("/graphql", graphql_app),
            *rest_routes(rt),
            *console_routes(),  # its own session cookie, not the bearer key (BearerAuthMiddleware passes /console)
            Mount("/", app=mcp_app),
        ],
        middleware=[
            Middleware(BodyLimitMiddleware, max_bytes=settings.max_request_bytes),
            Middleware(BearerAuthMiddleware, runtime=rt),
            Middleware(JsonRpcErrorBodies),
        ],
        lifespan=lifespan,
    )
    app.state.runtime = rt
    return app

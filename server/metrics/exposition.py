"""Where Prometheus reads the metrics: the server's ``/metrics`` route, and a worker's own port."""

from __future__ import annotations

import logging
import threading
from wsgiref.simple_server import WSGIServer

import anyio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, start_http_server
from starlette.requests import Request
from starlette.responses import Response

from server.metrics.state import StateCollector
from server.runtime import Runtime

log = logging.getLogger(__name__)


def with_state(rt: Runtime) -> Runtime:
    """Add the database and queue gauges to ``rt``'s registry: the server's, never a worker's."""
    rt.metrics.registry.register(StateCollector(rt))
    return rt


async def metrics_endpoint(request: Request) -> Response:
    """``GET /metrics``: the process's counters and the state gauges (read in a thread: they query the database)."""
    rt: Runtime = request.app.state.runtime
    body = await anyio.to_thread.run_sync(generate_latest, rt.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


class WorkerMetricsServer:
    """A worker's metrics on ``http://host:port/metrics`` (HERALD_WORKER_METRICS_PORT; 0: none)."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        host, port = self.rt.settings.host, self.rt.settings.worker_metrics_port
        if not port:
            return
        self._server, self._thread = start_http_server(port, addr=host, registry=self.rt.metrics.registry)
        log.info("worker metrics on http://%s:%d/metrics", host, port)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

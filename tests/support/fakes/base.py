"""The server every provider fake runs on: an aiohttp app on 127.0.0.1 in its own thread and event loop.

``requests`` records every request; ``script`` holds the next scripted behaviours of the provider's send call
(one per call, in order; none left: the provider behaves normally). ``Act("hang", seconds)`` accepts the
request (the message is created) and answers only after ``seconds``, or when the fake stops: a timeout after
the provider acted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

START_DEADLINE_SECONDS = 10.0


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Act:
    kind: str
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class FakeServer:
    """Subclasses add their routes in ``routes``; handlers call ``self.seen(request)`` first."""

    def __init__(self) -> None:
        self.requests: list[Seen] = []
        self.script: deque[Act] = deque()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._stopping: asyncio.Event | None = None
        self._runner: web.AppRunner | None = None
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(START_DEADLINE_SECONDS)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def _start(self) -> int:
        self._stopping = asyncio.Event()
        app = web.Application()
        self.routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return int(self._runner.addresses[0][1])

    async def seen(self, request: web.Request) -> Seen:
        body = await request.read()
        record = Seen(request.method, request.path, dict(request.query), dict(request.headers), body, time.monotonic())
        with self._lock:
            self.requests.append(record)
        return record

    def next_act(self) -> Act | None:
        with self._lock:
            return self.script.popleft() if self.script else None

    async def hang(self, seconds: float) -> None:
        """Hold the answer for ``seconds`` (or until the fake stops)."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def at(self, prefix: str = "") -> list[Seen]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def stop(self) -> None:
        async def stop() -> None:
            assert self._stopping is not None and self._runner is not None
            self._stopping.set()
            await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self._loop).result(START_DEADLINE_SECONDS)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(START_DEADLINE_SECONDS)
        self._loop.close()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body), content_type="application/json", headers=headers or {})

"""The sync door to the one outbound client: ``AsyncOutboundClient`` on a private event-loop thread.

There is one implementation (``adapters.outbound``); this facade only carries sync callers' sends to
its loop and back, so the sync and async paths cannot drift apart. The delivery engine runs its
batches on the same loop and client (``submit``), so a process has one loop thread and one pool.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from adapters.base import DeliveryOutcome
from adapters.classify import classify_response, parse_retry_after
from adapters.netguard import check_url
from adapters.outbound import AsyncOutboundClient

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (about twice aiohttp's throughput), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class OutboundHttpClient:
    """Implements ``adapters.base.OutboundClient``; thread-safe, ``close()`` stops its loop thread.

    ``submit``/``run`` run any coroutine on that loop with its ``AsyncOutboundClient``.
    """

    def __init__(
        self,
        allowed_networks: list[str],
        timeout_seconds: float = 10.0,
        version: str = "0.1.0",
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self._new_client: Callable[[], AsyncOutboundClient] = lambda: AsyncOutboundClient(
            allowed_networks, timeout_seconds, version, ssl_context=ssl_context
        )
        self._lock = threading.Lock()
        self._closed = False
        self._start()

    @property
    def user_agent(self) -> str:
        return self._client.user_agent

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> DeliveryOutcome:
        return self.run(
            lambda client: client.send(method, url, headers=headers, content=content, allow_redirects=allow_redirects)
        )

    def submit(self, make: Callable[[AsyncOutboundClient], Coroutine[Any, Any, T]]) -> Future[T]:
        """Start ``make(client)`` on the loop, from any thread; the coroutine is made only once the
        loop is known to be this process's (a forked child gets a fresh loop and client)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("This OutboundHttpClient is closed.")
            if self._pid != os.getpid():
                self._start()  # a forked child inherits the loop but not the thread that runs it
            return asyncio.run_coroutine_threadsafe(make(self._client), self._loop)

    def run(self, make: Callable[[AsyncOutboundClient], Coroutine[Any, Any, T]]) -> T:
        """``submit`` and wait for the result."""
        future = self.submit(make)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # the caller gave up (e.g. KeyboardInterrupt): the send stops too
            raise

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        if self._pid != os.getpid():
            return  # inherited from the parent, which runs and closes that loop
        asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()

    def _start(self) -> None:
        self._pid = os.getpid()
        self._client = self._new_client()
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="herald-outbound", daemon=True)
        self._thread.start()

    async def _shutdown(self) -> None:
        await self._client.aclose()
        await self._loop.shutdown_default_executor()


__all__ = [
    "AsyncOutboundClient",
    "OutboundHttpClient",
    "new_event_loop",
    "check_url",
    "classify_response",
    "parse_retry_after",
]

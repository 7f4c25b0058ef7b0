"""The delivery loop: one event loop thread per process, and the ``ChannelIO`` every send uses, built on it.

The engine runs its batches here (``run``/``submit``), and so does a target test, so a process has
one loop thread and one connection pool. ``ChannelIO`` is made on the loop's first use in this
process and closed on the loop by ``close``; a forked child starts its own loop and ChannelIO.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

from adapters import ChannelIO
from adapters.http_client import AsyncOutboundClient
from adapters.io import FeedStore
from adapters.smtp_client import SmtpPool
from adapters.tokens import MemoryTokenCache

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop when installed (about twice aiohttp's throughput), else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def channel_io(
    allowed_networks: list[str], timeout_seconds: float, version: str = "0.1.0", feeds: FeedStore | None = None
) -> ChannelIO:
    """The services channels send with; built outside any loop, bound to the loop that first uses them."""
    return ChannelIO(
        http=AsyncOutboundClient(allowed_networks, timeout_seconds, version),
        tokens=MemoryTokenCache(),
        feeds=feeds,
        smtp=SmtpPool(allowed_networks),
    )


class DeliveryLoop:
    """Thread-safe; ``close()`` closes the ChannelIO on the loop and stops the loop thread."""

    def __init__(self, make_io: Callable[[], ChannelIO]) -> None:
        self._make_io = make_io
        self._lock = threading.Lock()
        self._closed = False
        self._start()

    def submit(self, make: Callable[[ChannelIO], Coroutine[Any, Any, T]]) -> Future[T]:
        """Start ``make(io)`` on the loop, from any thread; the coroutine is made only once the
        loop is known to be this process's (a forked child gets a fresh loop and ChannelIO)."""
        with self._lock:
            if self._closed:
                raise RuntimeError("This DeliveryLoop is closed.")
            if self._pid != os.getpid():
                self._start()  # a forked child inherits the loop but not the thread that runs it
            return asyncio.run_coroutine_threadsafe(make(self._io), self._loop)

    def run(self, make: Callable[[ChannelIO], Coroutine[Any, Any, T]]) -> T:
        """``submit`` and wait for the result."""
        future = self.submit(make)
        try:
            return future.result()
        except BaseException:
            future.cancel()  # the caller gave up (e.g. KeyboardInterrupt): the send stops too
            raise

    async def arun(self, make: Callable[[ChannelIO], Coroutine[Any, Any, T]]) -> T:
        """``submit`` from another event loop (a door's) and await the result there without blocking it."""
        return await asyncio.wrap_future(self.submit(make))

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
        self._io = self._make_io()
        self._loop = new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="herald-delivery", daemon=True)
        self._thread.start()

    async def _shutdown(self) -> None:
        await self._io.aclose()
        await self._loop.shutdown_default_executor()

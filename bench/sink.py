"""A minimal keep-alive HTTP/1.1 sink on 127.0.0.1: counts requests, can add latency or answer 429."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field


@dataclass
class SinkStats:
    requests: int = 0
    by_path: dict[str, int] = field(default_factory=dict)
    arrivals: dict[str, list[float]] = field(default_factory=dict)


class Sink:
    """``latency_seconds`` delays every answer; paths in ``limited`` answer 429 with Retry-After."""

    def __init__(self, latency_seconds: float = 0.0) -> None:
        self.latency_seconds = latency_seconds
        self.limited: dict[str, int] = {}
        self.stats = SinkStats()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> Sink:
        self._thread.start()
        self._ready.wait(10)
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0, backlog=1024))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                path = lines[0].split(" ")[1]
                length = next((int(l.split(":", 1)[1]) for l in lines[1:] if l.lower().startswith("content-length:")), 0)
                if length:
                    await reader.readexactly(length)
                self._count(path)
                if self.latency_seconds:
                    await asyncio.sleep(self.latency_seconds)
                writer.write(self._answer(path))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            writer.close()

    def _count(self, path: str) -> None:
        self.stats.requests += 1
        self.stats.by_path[path] = self.stats.by_path.get(path, 0) + 1
        if path in self.limited:
            self.stats.arrivals.setdefault(path, []).append(time.time())

    def _answer(self, path: str) -> bytes:
        if path in self.limited:
            return (f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {self.limited[path]}\r\n"
                    "Content-Length: 0\r\n\r\n").encode()
        return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}"

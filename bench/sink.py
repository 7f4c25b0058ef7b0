"""A minimal keep-alive HTTP/1.1 sink on 127.0.0.1, run as its own process: `python -m bench.sink`.

It counts a request once its whole body has arrived, per path and per first path segment
(``/fan/17`` counts under ``fan``). Control requests under ``/_sink/`` are not counted:

- ``POST /_sink/config`` ``{"latency": {segment: seconds}, "limited": {path: retry_after_seconds}}``
  replaces the behaviour at runtime: limited paths answer 429 with Retry-After and record the
  wall-clock time of every arrival;
- ``GET /_sink/stats?segment=fan`` counts, distinct paths, most requests on one path, first and
  last arrival, answers by status;
- ``GET /_sink/arrivals?path=/iso/0`` the arrival times recorded for a limited path;
- ``POST /_sink/reset?segment=fan`` forgets a segment's counts, so each scenario counts its own.

The loop is uvloop when importable, like the issue's reference sink.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import cast
from urllib.parse import parse_qs, urlsplit

from server.delivery.loop import new_event_loop

OK = b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}'


@dataclass
class Segment:
    requests: int = 0
    first: float = 0.0
    last: float = 0.0
    paths: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)

    def summary(self) -> dict:
        counts = self.paths.values()
        return {
            "requests": self.requests,
            "paths": len(self.paths),
            "max_per_path": max(counts, default=0),
            "min_per_path": min(counts, default=0),
            "first": self.first,
            "last": self.last,
            "statuses": {str(k): v for k, v in self.statuses.items()},
        }


@dataclass
class State:
    latency: dict[str, float] = field(default_factory=dict)
    limited: dict[str, int] = field(default_factory=dict)
    segments: dict[str, Segment] = field(default_factory=dict)
    arrivals: dict[str, list[float]] = field(default_factory=dict)

    def handle(self, path: str, body: bytes) -> tuple[float, bytes]:
        """(delay before answering, answer) for one complete request."""
        if path.startswith("/_sink/"):
            return 0.0, _json(self.control(path, body))
        now = time.time()
        name = path.split("/", 2)[1] if path.count("/") > 1 else path.strip("/")
        status = 429 if path in self.limited else 200
        segment = self.segments.setdefault(name, Segment(first=now))
        segment.requests += 1
        segment.last = now
        segment.paths[path] = segment.paths.get(path, 0) + 1
        segment.statuses[status] = segment.statuses.get(status, 0) + 1
        if status == 429:
            self.arrivals.setdefault(path, []).append(now)
            return 0.0, _too_many(self.limited[path])
        return self.latency.get(name, 0.0), OK

    def control(self, path: str, body: bytes) -> dict:
        parts = urlsplit(path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        if parts.path == "/_sink/config":
            config = json.loads(body or b"{}")
            self.latency = {k: float(v) for k, v in config.get("latency", {}).items()}
            self.limited = {k: int(v) for k, v in config.get("limited", {}).items()}
            return {"ok": True}
        if parts.path == "/_sink/reset":
            self.segments.pop(query.get("segment", ""), None)
            return {"ok": True}
        if parts.path == "/_sink/arrivals":
            return {"arrivals": self.arrivals.get(query.get("path", ""), [])}
        segment = self.segments.get(query.get("segment", ""), Segment())
        return segment.summary()


def _json(data: dict) -> bytes:
    body = json.dumps(data).encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)


def _too_many(retry_after: int) -> bytes:
    return f"HTTP/1.1 429 Too Many Requests\r\nRetry-After: {retry_after}\r\nContent-Length: 0\r\n\r\n".encode()


def _content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


class Http(asyncio.Protocol):
    """One connection: requests are answered in order, one at a time (no pipelining needed)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.buffer = bytearray()
        self.waiting = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass it

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.waiting:
            self._drain()

    def _drain(self) -> None:
        while (end := self.buffer.find(b"\r\n\r\n")) >= 0:
            head = bytes(self.buffer[:end])
            total = end + 4 + _content_length(head)
            if len(self.buffer) < total:
                return
            body = bytes(self.buffer[end + 4 : total])
            del self.buffer[:total]
            path = head.split(b" ", 2)[1].decode("latin-1")
            close = b"connection: close" in head.lower()
            delay, answer = self.state.handle(path, body)
            if delay:
                self.waiting = True
                asyncio.get_running_loop().call_later(delay, self._answer_later, answer, close)
                return
            self._send(answer, close)

    def _answer_later(self, answer: bytes, close: bool) -> None:
        self.waiting = False
        self._send(answer, close)
        self._drain()

    def _send(self, answer: bytes, close: bool) -> None:
        assert self.transport is not None
        if self.transport.is_closing():
            return
        self.transport.write(answer)
        if close:
            self.transport.close()


def serve(announce: Callable[[int], None]) -> None:
    loop = new_event_loop()
    asyncio.set_event_loop(loop)
    state = State()
    server = loop.run_until_complete(loop.create_server(lambda: Http(state), "127.0.0.1", 0, backlog=2048))
    announce(server.sockets[0].getsockname()[1])
    loop.run_forever()


def _announce(port: int) -> None:
    print(port, flush=True)


if __name__ == "__main__":
    serve(_announce)

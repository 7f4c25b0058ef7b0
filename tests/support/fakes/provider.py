"""What every provider fake shares: a real HTTP server on 127.0.0.1, the requests it received, and a script.

A fake answers as its provider does (``handle``), and ``script`` (a list of behaviour names, one used
per write request, in order) makes the next writes misbehave the provider's own way: rate-limit with
its exact signal, accept the post and then stall past the client's timeout, reject the token,
refuse the destination. ``writes`` counts what the fake actually stored, the truth a test checks
"never posted twice" against.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

STALL_DEADLINE_SECONDS = 10.0  # a stalled answer is released by ``stop`` or after this


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def bearer(self) -> str | None:
        value = self.headers.get("authorization", "")
        return value[7:] if value.startswith("Bearer ") else None


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    stall: bool = False  # answer only after the client gave up (the write already happened)


class FakeProvider:
    """Subclasses implement ``handle(request) -> Response``; ``url`` is the base to configure as apiBaseUrl."""

    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.script: list[str] = []
        self.lock = threading.RLock()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str, method: str | None = None) -> list[Request]:
        with self.lock:
            return [r for r in self.requests if r.path == path and (method is None or r.method == method)]

    def next_behaviour(self) -> str | None:
        """The scripted behaviour for this write, if any (consumed)."""
        with self.lock:
            return self.script.pop(0) if self.script else None

    def handle(self, request: Request) -> Response:  # pragma: no cover - every fake overrides it
        raise NotImplementedError

    def _serve(self, request: Request) -> Response:
        with self.lock:
            self.requests.append(request)
        response = self.handle(request)
        if response.stall:
            self._released.wait(STALL_DEADLINE_SECONDS)
        return response


def _handler(fake: FakeProvider) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            split = urlsplit(self.path)
            query = {name: values[0] for name, values in parse_qs(split.query, keep_blank_values=True).items()}
            headers = {name.lower(): value for name, value in self.headers.items()}
            response = fake._serve(Request(self.command, split.path, query, headers, body))
            payload = response.body
            if isinstance(payload, dict | list):
                payload = json.dumps(payload).encode()
                response.headers.setdefault("Content-Type", "application/json; charset=utf-8")
            elif isinstance(payload, str):
                payload = payload.encode()
                response.headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            try:
                self.send_response(response.status)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
            except OSError:
                pass  # the client gave up (a stalled answer)

        do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


def epoch() -> float:
    return time.time()

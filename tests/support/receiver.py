"""The one scriptable test receiver: a real HTTP(S) server on 127.0.0.1 that records every request.

``script`` maps a path to the replies it gives, one per request in order, the last one repeating;
a path without a script gets ``default``. A ``Reply`` sets the status, headers and body, and how it
is sent: after a latency, held until a test releases it, dripped byte by byte, with a lying
Content-Length, or with the connection held open afterwards. ``RawReceiver`` answers raw bytes
(b"": hangs up) for malformed-HTTP cases. Used by every suite; the bench keeps its own fast sink.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

RELEASE_DEADLINE_SECONDS = 30.0


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"ok": true}'
    content_type: str | None = None  # a Content-Type header unless None or set in ``headers``
    delay_seconds: float = 0.0  # latency before the answer
    release: threading.Event | None = None  # the answer waits until the test sets it (deadline: 30 s)
    drip_seconds: float = 0.0  # pause between body bytes
    declared_length: int | None = None  # a Content-Length other than the body's
    hold_seconds: float = 0.0  # keep the connection open after the body


class Receiver:
    """Started on creation; ``tls`` serves HTTPS and records the SNI names asked for in ``server_names``."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.script: dict[str, list[Reply]] = {}
        self.default = Reply()
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = self._record_server_name
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def at(self, path: str) -> list[Received]:
        with self._lock:
            return [request for request in self.requests if request.path == path]

    def wait_for(self, path: str, count: int = 1, timeout: float = 10.0) -> list[Received]:
        """The requests to ``path`` once there are ``count``; AssertionError after ``timeout`` seconds."""
        with self._arrived:
            if not self._arrived.wait_for(lambda: len(self._at(path)) >= count, timeout):
                raise AssertionError(f"{path} got {len(self._at(path))} request(s), not {count}, in {timeout}s")
            return self._at(path)

    def record(self, request: Received) -> Reply:
        with self._arrived:
            self.requests.append(request)
            self._arrived.notify_all()
            replies = self.script.get(request.path) or [self.default]
            return replies.pop(0) if len(replies) > 1 else replies[0]

    def _at(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]

    def _record_server_name(self, sock: ssl.SSLObject, name: str | None, context: ssl.SSLContext) -> None:
        self.server_names.append(name)


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            received = Received(
                self.command, self.path, dict(self.headers.items()), body, time.time(), self.client_address[1]
            )
            reply = receiver.record(received)
            time.sleep(reply.delay_seconds)
            if reply.release is not None:
                reply.release.wait(RELEASE_DEADLINE_SECONDS)
            self._answer(reply)

        do_PUT = do_PATCH = do_GET = do_DELETE = do_POST

        def _answer(self, reply: Reply) -> None:
            payload = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
            if reply.content_type and not any(name.lower() == "content-type" for name in reply.headers):
                self.send_header("Content-Type", reply.content_type)
            self.send_header("Content-Length", str(reply.declared_length or len(payload)))
            self.end_headers()
            self._write(payload, reply.drip_seconds)
            time.sleep(reply.hold_seconds)

        def _write(self, payload: bytes, drip_seconds: float) -> None:
            step = 1 if drip_seconds else max(len(payload), 1)
            try:
                for index in range(0, len(payload), step):
                    self.wfile.write(payload[index : index + step])
                    self.wfile.flush()
                    time.sleep(drip_seconds)
            except OSError:
                pass  # the client gave up, which is what some tests want

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


class RawReceiver:
    """Answers every connection with the same raw bytes (b"": hangs up), whatever was asked: malformed HTTP."""

    def __init__(self, answer: bytes) -> None:
        self.connections = 0
        self._answer = answer
        self._socket = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def stop(self) -> None:
        self._socket.close()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._socket.accept()
            except OSError:
                return
            with connection:
                self.connections += 1
                connection.recv(65536)
                connection.sendall(self._answer)

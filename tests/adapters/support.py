"""Test helpers for the adapters: a scripted HTTP(S) receiver on 127.0.0.1, a raw socket answerer, a fake
resolver, a test CA, and a runner for the async client.

Kept out of conftest.py so the adapter tests also run with ``--noconftest``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters.outbound import AsyncOutboundClient

T = TypeVar("T")
LOOPBACK = ["127.0.0.0/8"]


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    client_port: int

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: str = '{"ok": true}'
    delay_seconds: float = 0.0
    drip_seconds: float = 0.0
    declared_length: int | None = None
    hold_seconds: float = 0.0


class Receiver:
    """Records every request; ``script`` maps a path to its replies in order, the last one repeating."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.requests: list[Received] = []
        self.script: dict[str, list[Reply]] = {}
        self.server_names: list[str | None] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            tls.sni_callback = lambda sock, name, ctx: self.server_names.append(name)  # type: ignore[assignment]
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

    def record(self, request: Received) -> Reply:
        with self._lock:
            self.requests.append(request)
            replies = self.script.get(request.path) or [Reply()]
            return replies.pop(0) if len(replies) > 1 else replies[0]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            reply = receiver.record(
                Received(self.command, self.path, dict(self.headers.items()), body, self.client_address[1])
            )
            time.sleep(reply.delay_seconds)
            self._answer(reply)

        do_PUT = do_PATCH = do_GET = do_POST

        def _answer(self, reply: Reply) -> None:
            payload = reply.body.encode()
            self.send_response(reply.status)
            for name, value in reply.headers.items():
                self.send_header(name, value)
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


def run_async(
    use: Callable[[AsyncOutboundClient], Awaitable[T]], allowed: list[str] | None = None, **options: Any
) -> T:
    """Build an AsyncOutboundClient outside any loop (as the engine does), use it in a fresh loop, close it there."""
    client = AsyncOutboundClient(LOOPBACK if allowed is None else allowed, **options)

    async def main() -> T:
        try:
            return await use(client)
        finally:
            await client.aclose()

    return asyncio.run(main())


def fake_dns(monkeypatch: pytest.MonkeyPatch, table: dict[str, list[str] | None]) -> None:
    """Answer ``getaddrinfo`` for the names in ``table`` (None: the name does not resolve); others resolve for real."""
    real: Callable[..., Any] = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if host not in table:
            return real(host, port, *args, **kwargs)
        addresses = table[host]
        if addresses is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [_info(address, int(port or 0)) for address in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def _info(address: str, port: int) -> tuple[Any, ...]:
    if ipaddress.ip_address(address).version == 6:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))


@dataclass(frozen=True)
class TestCA:
    """A throwaway CA and a server certificate for some host names."""

    __test__ = False
    ca_pem: bytes
    cert_file: Path
    key_file: Path

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cadata=self.ca_pem.decode())

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_ca(directory: Path, hostnames: list[str]) -> TestCA:
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Herald test CA")])
    ca = _certificate(ca_name, ca_name, ca_key, ca_key.public_key(), is_ca=True)
    leaf_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    leaf = _certificate(leaf_name, ca_name, ca_key, key.public_key(), is_ca=False, hostnames=hostnames)
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return TestCA(ca.public_bytes(serialization.Encoding.PEM), cert_file, key_file)


def _certificate(
    subject: x509.Name,
    issuer: x509.Name,
    signer: ec.EllipticCurvePrivateKey,
    public_key: ec.EllipticCurvePublicKey,
    *,
    is_ca: bool,
    hostnames: list[str] | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if is_ca:
        builder = builder.add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    if hostnames:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(name) for name in hostnames]), critical=False
        )
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()), critical=False
        )
    return builder.sign(signer, hashes.SHA256())


def error_text(exc: BaseException) -> str:
    """Everything an error shows or a traceback logs: messages, excerpt, and the chain a traceback prints."""
    parts: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen), str(getattr(seen, "response_excerpt", "") or "")]
        seen = seen.__cause__ or (None if seen.__suppress_context__ else seen.__context__)
    return "\n".join(parts)


def rebinding_dns(monkeypatch: Any, host: str = "partner.example") -> list[str]:
    """Make ``host`` resolve to 127.0.0.1 first and to a forbidden 10.0.0.1 after; returns the lookups made."""
    real, answers, lookups = socket.getaddrinfo, iter(["127.0.0.1", "10.0.0.1"]), []

    def rebinding(name: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if name != host:
            return real(name, port, *args, **kwargs)
        lookups.append(name)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    return lookups

"""Test helpers for the adapters: a real ChannelIO and the delivery loop to send on, a fake resolver, a
test CA, and error text as a traceback shows it. The receiver is the suite's (``tests.support.receiver``).

Kept out of conftest.py so the adapter tests also run with ``--noconftest``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from adapters import ChannelIO, ChannelPayload, DeliveryContext, HttpResponse, Receipt, TargetView
from adapters.base import C, Channel, K
from adapters.http_client import AsyncOutboundClient
from server.delivery.loop import DeliveryLoop

T = TypeVar("T")
LOOPBACK = ["127.0.0.0/8"]


def io_for(allowed: list[str] | None = None, **options: Any) -> ChannelIO:
    """A real ChannelIO (the hardened HTTP client), built outside any loop as the engine builds it."""
    return ChannelIO(http=AsyncOutboundClient(LOOPBACK if allowed is None else allowed, **options))


def delivery_loop(allowed: list[str] | None = None, **options: Any) -> DeliveryLoop:
    """The delivery loop the engine sends on, with a ChannelIO of these options; ``close()`` it."""
    return DeliveryLoop(lambda: io_for(allowed, **options))


def send_on(
    loop: DeliveryLoop, method: str, url: str, headers: dict[str, str] | None = None, content: bytes = b"", **kw: Any
) -> HttpResponse:
    """One request through the loop's ChannelIO.http, waited for from this (sync) test."""
    return loop.run(lambda io: io.http.send(method, url, headers=headers or {}, content=content, **kw))


def deliver_on(
    loop: DeliveryLoop,
    channel: Channel[C, K],
    payload: ChannelPayload,
    target: TargetView[C, K],
    delivery: DeliveryContext,
) -> Receipt:
    """``channel.send`` on the delivery loop with its real ChannelIO, as the engine calls it."""
    return loop.run(lambda io: channel.send(payload, target, delivery, io))


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


class RecordingHttp:
    """A ChannelIO.http without network: records what a channel asks it to send, and answers ``answer``."""

    def __init__(self, answer: HttpResponse | None = None) -> None:
        self.answer = answer or HttpResponse(200, {"x-message-id": "m-1"})
        self.sent: list[tuple[str, str, dict[str, str], bytes, bool]] = []

    async def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpResponse:
        self.sent.append((method, url, headers, content, allow_redirects))
        return self.answer

    async def aclose(self) -> None:
        pass


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

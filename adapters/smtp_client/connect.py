"""The SSRF guard for SMTP: resolve once, refuse forbidden addresses, open the socket to a checked one.

aiosmtplib is handed the connected socket and the configured host name: TLS (implicit or STARTTLS)
sends that name as SNI and verifies the certificate against it, while the bytes go to the address
the guard checked, so a DNS answer that changes between the check and the connection changes nothing.
"""

from __future__ import annotations

import asyncio
import socket

from adapters.errors import PermanentDeliveryError, SystemicDeliveryError, TransientDeliveryError
from adapters.http_client.netguard import Address, Network, embedded_ipv4, forbidden_message, refusal, resolve
from adapters.io import SmtpServer


def checked_addresses(server: SmtpServer, allowed: list[Network]) -> list[Address]:
    """The server's addresses if none is forbidden (and, without TLS, all loopback); a classified error otherwise."""
    try:
        addresses = resolve(server.host, server.port)
    except (OSError, UnicodeError) as exc:
        raise SystemicDeliveryError(
            f"SMTP host {server.host} does not resolve; check the target's config.host.", code="DNS_FAILURE"
        ) from exc
    for address in addresses:
        kind = refusal(address, allowed)
        if kind:
            raise PermanentDeliveryError(forbidden_message(server.host, address, kind), code="TARGET_ADDRESS_FORBIDDEN")
        if server.security == "none" and not _loopback(address):
            raise SystemicDeliveryError(
                f"{server.host} resolves to {address}, not a loopback address: security 'none' (no TLS) is only "
                "allowed to loopback. Set config.security to starttls or tls.",
                code="PLAINTEXT_REFUSED",
            )
    return addresses


def _loopback(address: Address) -> bool:
    inner = embedded_ipv4(address)
    return (inner or address).is_loopback


async def guarded_socket(server: SmtpServer, allowed: list[Network]) -> socket.socket:
    """A non-blocking socket connected to the first checked address that answers, within the server's timeout."""
    loop = asyncio.get_running_loop()
    addresses = await loop.run_in_executor(None, checked_addresses, server, allowed)
    failure: BaseException | None = None
    for address in addresses:
        sock = socket.socket(socket.AF_INET6 if address.version == 6 else socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            await asyncio.wait_for(loop.sock_connect(sock, (str(address), server.port)), server.timeout_seconds)
            return sock
        except (OSError, TimeoutError) as exc:
            sock.close()
            failure = exc
    if isinstance(failure, TimeoutError):
        raise TransientDeliveryError(f"Timed out connecting to the SMTP server {server.host}.", code="TIMEOUT")
    raise TransientDeliveryError(
        f"Could not connect to the SMTP server {server.host} on port {server.port}.", code="CONNECTION_ERROR"
    ) from failure

"""The SSRF guard where sockets are opened: resolve once, refuse forbidden addresses, connect to the checked one.

The guard lives in the network backend rather than in a rewritten URL. httpcore pools connections by
URL origin, so a URL rewritten to an IP (with the host name only in SNI and Host) would let a TLS
connection verified for one host name carry requests for another host on the same IP. Here the URL
keeps its host name: SNI, certificate verification, the Host header and connection reuse all follow
the host name, while the socket goes to the address that was checked (no DNS-rebinding window).
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable

import httpcore
import httpx

from adapters.base import PermanentDeliveryError, SystemicDeliveryError
from adapters.netguard import Address, Network, forbidden_message, refusal, resolve

SocketOption = tuple[int, int, int] | tuple[int, int, bytes | bytearray] | tuple[int, int, None, int]


def checked_addresses(host: str, port: int, allowed: list[Network]) -> list[Address]:
    """The host's addresses, if none of them is forbidden; a classified error otherwise."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise SystemicDeliveryError(f"Host {host} does not resolve; check the target's URL.", code="DNS_FAILURE") from exc
    for address in addresses:
        kind = refusal(address, allowed)
        if kind:
            raise PermanentDeliveryError(forbidden_message(host, address, kind), code="TARGET_ADDRESS_FORBIDDEN")
    return addresses


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's sync backend, with every new TCP connection checked and pinned."""

    def __init__(self, allowed: list[Network]) -> None:
        self._allowed = allowed
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[SocketOption] | None = None,
    ) -> httpcore.NetworkStream:
        *fallbacks, last = checked_addresses(host.strip("[]"), port, self._allowed)
        options = list(socket_options or [])
        # A refused or unreachable address sent nothing, so trying the next one is safe.
        for address in fallbacks:
            with contextlib.suppress(httpcore.ConnectError):
                return self._inner.connect_tcp(str(address), port, timeout, local_address, options)
        return self._inner.connect_tcp(str(last), port, timeout, local_address, options)

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[SocketOption] | None = None
    ) -> httpcore.NetworkStream:
        raise PermanentDeliveryError("Unix sockets are not a delivery destination.", code="TARGET_ADDRESS_FORBIDDEN")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_transport(allowed: list[Network], ssl_context: ssl.SSLContext, limits: httpx.Limits) -> httpx.HTTPTransport:
    """An httpx transport whose connection pool opens sockets through ``GuardedBackend``."""
    transport = httpx.HTTPTransport(verify=ssl_context, limits=limits, trust_env=False)
    # httpx has no public hook for the network backend; the pool is rebuilt exactly as httpx builds it.
    transport._pool = httpcore.ConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedBackend(allowed),
    )
    return transport

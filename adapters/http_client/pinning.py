"""The SSRF guard where sockets are opened: resolve once, refuse forbidden addresses, connect to the checked one.

The guard is aiohttp's resolver rather than a rewritten URL. aiohttp pools connections by the URL's
host name, so a URL rewritten to an IP (with the name only in SNI and Host) would let a TLS connection
verified for one host name carry requests for another host on the same IP. Here the URL keeps its
host name: SNI, certificate verification, the Host header and connection reuse all follow the name,
while the socket goes to an address the resolver checked (no DNS-rebinding window). aiohttp connects
to IP literals without asking the resolver, so ``checked_literal`` covers those before each hop.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket

from aiohttp.abc import AbstractResolver, ResolveResult

from adapters.errors import PermanentDeliveryError, SystemicDeliveryError
from adapters.http_client.netguard import Address, Network, forbidden_message, refusal, resolve


def checked_addresses(host: str, port: int, allowed: list[Network]) -> list[Address]:
    """The host's addresses, if none of them is forbidden; a classified error otherwise."""
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise SystemicDeliveryError(
            f"Host {host} does not resolve; check the target's URL.", code="DNS_FAILURE"
        ) from exc
    for address in addresses:
        _refuse_forbidden(host, address, allowed)
    return addresses


def looks_literal(host: str) -> bool:
    """aiohttp's own test for "this host is an IP address, connect without resolving"."""
    return ":" in host or host.replace(".", "").isdigit()


def checked_literal(host: str, allowed: list[Network]) -> None:
    """Refuse a host aiohttp would connect to as an IP literal unless it is an allowed address."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise PermanentDeliveryError(
            f"The URL's host {host} is not a valid IP address or name.", code="INVALID_URL"
        ) from None
    _refuse_forbidden(host, address, allowed)


def _refuse_forbidden(host: str, address: Address, allowed: list[Network]) -> None:
    kind = refusal(address, allowed)
    if kind:
        raise PermanentDeliveryError(forbidden_message(host, address, kind), code="TARGET_ADDRESS_FORBIDDEN")


class GuardedResolver(AbstractResolver):
    """Resolves through ``checked_addresses`` (in a worker thread), so aiohttp only ever connects to checked addresses.

    Errors are already classified ``DeliveryError``s, which aiohttp passes through unwrapped.
    """

    def __init__(self, allowed: list[Network]) -> None:
        self._allowed = allowed

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        addresses = await loop.run_in_executor(None, checked_addresses, host, port, self._allowed)
        return [_result(host, address, port) for address in addresses]

    async def close(self) -> None:
        pass


def _result(host: str, address: Address, port: int) -> ResolveResult:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    return ResolveResult(hostname=host, host=str(address), port=port, family=family, proto=0, flags=0)

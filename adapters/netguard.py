"""Which addresses outbound delivery may reach: the SSRF guard, shared by create-time checks and sends."""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

from adapters.base import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_ULA = ipaddress.ip_network("fc00::/7")


def address_class(address: Address) -> str | None:
    """The reason an address is refused by default, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address_class(address.ipv4_mapped)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address in _CGNAT if address.version == 4 else False),
        ("unique-local", address in _ULA if address.version == 6 else False),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    )
    return next((name for name, hit in checks if hit), None)


def parse_networks(cidrs: list[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs]


def refusal(address: Address, allowed: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> str | None:
    kind = address_class(address)
    if kind is None or any(address in network for network in allowed if network.version == address.version):
        return None
    return kind


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host resolves to (a literal IP resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))


def split_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL, or a ConfigError saying what is wrong."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"URL {url!r} must be an absolute http:// or https:// URL.", field="config.url")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ConfigError(f"URL {url!r} has an invalid port.", field="config.url") from exc
    return parts.scheme, parts.hostname, port


def forbidden_message(host: str, address: Address, kind: str) -> str:
    return (
        f"{host} resolves to {address}, a {kind} address; Herald does not deliver to {kind} addresses. "
        "Use a public address, or allow the range with HERALD_ALLOWED_NETWORKS."
    )


def check_url(url: str, allowed_networks: list[str]) -> None:
    """Create-time check (and dry run): refuse URLs that resolve to a forbidden address."""
    _scheme, host, port = split_url(url)
    allowed = parse_networks(allowed_networks)
    try:
        addresses = resolve(host, port)
    except OSError as exc:
        raise ConfigError(f"Host {host!r} does not resolve ({exc.strerror or exc}).", field="config.url") from exc
    for address in addresses:
        kind = refusal(address, allowed)
        if kind:
            raise ConfigError(forbidden_message(host, address, kind), field="config.url", code="TARGET_ADDRESS_FORBIDDEN")

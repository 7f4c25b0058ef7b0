"""Which addresses outbound delivery may reach: the SSRF guard shared by create-time checks and sends."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapters.errors import ConfigError

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_RFC1918 = tuple(ipaddress.ip_network(cidr) for cidr in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


@dataclass(frozen=True)
class Destination:
    """The parts of an http(s) URL the guard and the pinned connection need."""

    scheme: str
    host: str
    port: int
    explicit_port: bool

    @property
    def authority(self) -> str:
        """``host[:port]`` as the Host header carries it (IPv6 literals bracketed)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}" if self.explicit_port else host


def embedded_ipv4(address: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for (mapped, NAT64 or 6to4), if any."""
    if address.version == 4:
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.sixtofour


def address_class(address: Address) -> str | None:
    """Why an address is refused by default ("loopback", "private", ...), or None for a public address."""
    inner = embedded_ipv4(address)
    if inner is not None:
        return address_class(inner)
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("carrier-grade NAT", address in _CGNAT),
        ("unique-local", address in _UNIQUE_LOCAL),
        ("private", any(address in network for network in _RFC1918)),
        ("site-local", address.version == 6 and address.is_site_local),
        ("reserved", address.is_reserved or address.is_private or not address.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def parse_networks(cidrs: list[str]) -> list[Network]:
    try:
        return [ipaddress.ip_network(cidr.strip(), strict=False) for cidr in cidrs if cidr.strip()]
    except ValueError as exc:
        raise ValueError(f"HERALD_ALLOWED_NETWORKS holds an invalid network: {exc}") from None


def _allowed(address: Address, allowed: list[Network]) -> bool:
    candidates = [address, *filter(None, [embedded_ipv4(address)])]
    return any(
        candidate in network for candidate in candidates for network in allowed if network.version == candidate.version
    )


def refusal(address: Address, allowed: list[Network]) -> str | None:
    """The address class that forbids this address, or None when it may be reached."""
    kind = address_class(address)
    return None if kind is None or _allowed(address, allowed) else kind


def resolve(host: str, port: int) -> list[Address]:
    """Every address the host resolves to, in resolver order (a literal IP resolves to itself)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos))


def _invalid(url: str | None, why: str) -> ConfigError:
    return ConfigError(f"URL {url!r} {why}" if url is not None else f"The URL {why}", field="config.url")


def split_url(url: str) -> Destination:
    """The destination of an absolute http(s) URL, or a ConfigError saying what to fix."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        raise _invalid(None, "is not valid; check its brackets and characters.") from None
    if parts.username is not None or parts.password is not None:
        # Not quoted: the password is right there in it.
        raise _invalid(None, "must not carry a user or password; put secrets in the target's credentials.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid(url, "must be an absolute http:// or https:// URL, e.g. https://hooks.example.com/herald.")
    try:
        port = parts.port
        host = _ascii_host(parts.hostname)
    except (ValueError, UnicodeError):
        raise _invalid(url, "has an invalid host or port.") from None
    default = 443 if parts.scheme == "https" else 80
    return Destination(parts.scheme, host, port or default, port is not None)


def _ascii_host(host: str) -> str:
    """The host in ASCII (IDNA for international names); the codec is slow, so plain names skip it."""
    if host.isascii() and all(0 < len(label) < 64 for label in host.removesuffix(".").split(".")):
        return host
    return host.encode("idna").decode("ascii")


def forbidden_message(host: str, address: Address, kind: str) -> str:
    subject = f"{host} is" if host == str(address) else f"{host} resolves to {address},"
    return (
        f"{subject} a {kind} address; Herald does not deliver to {kind} addresses by default. "
        "Use a public address, or allow the range by adding it to HERALD_ALLOWED_NETWORKS "
        f"(e.g. {address}/{address.max_prefixlen})."
    )


DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25, "smtps": 465}


def endpoint_address(url: str, field: str = "config.url") -> tuple[str, int]:
    """The host and port of an endpoint of any scheme (http(s) URLs checked fully), or a ConfigError."""
    scheme = url.strip().partition("://")[0].lower()
    if scheme in ("http", "https"):
        destination = split_url(url)
        return destination.host, destination.port
    try:
        parts = urlsplit(url.strip())
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
        host = _ascii_host(parts.hostname or "")
    except (ValueError, UnicodeError):
        raise ConfigError(f"Endpoint {url!r} has an invalid host or port.", field=field) from None
    if not host or port is None:
        raise ConfigError(f"Endpoint {url!r} needs a host and a port.", field=field)
    return host, port


def check_url(url: str, allowed_networks: list[str], field: str = "config.url") -> None:
    """Create-time check (and dry run): refuse an endpoint that is malformed or resolves to a forbidden address.

    Any scheme: an http(s) URL, or e.g. ``smtp://host:port``; only its host and port matter.
    """
    host, port = endpoint_address(url, field)
    allowed = parse_networks(allowed_networks)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError) as exc:
        raise ConfigError(
            f"Host {host!r} does not resolve ({getattr(exc, 'strerror', None) or exc}); check the URL's host name.",
            field=field,
        ) from None
    for address in addresses:
        kind = refusal(address, allowed)
        if kind:
            raise ConfigError(forbidden_message(host, address, kind), field=field, code="TARGET_ADDRESS_FORBIDDEN")

"""The one hardened outbound HTTP client every channel uses.

Explicit timeouts, no redirects unless asked (then every hop is checked), a fixed User-Agent, bounded
response reads, the SSRF guard pinned where sockets open (``adapters.pinning``), secrets the request
carried scrubbed from response excerpts, and every httpx failure translated into a classified
``DeliveryError``: nothing raises a raw httpx error upward.
"""

from __future__ import annotations

import base64
import binascii
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import httpx

from adapters.base import (
    ConfigError,
    DeliveryError,
    DeliveryOutcome,
    PermanentDeliveryError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.classify import classify_response, parse_retry_after
from adapters.headers import header_problem
from adapters.netguard import Destination, check_url, parse_networks, split_url
from adapters.pinning import guarded_transport

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_TRANSPORT_HEADERS = frozenset({"host", "user-agent", "content-length", "transfer-encoding", "connection", "accept-encoding"})
_SAFE_HEADERS = frozenset({"content-type", "accept", "webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"})
_MIN_SECRET_CHARS = 6
REDACTED = "[redacted]"


@dataclass(frozen=True)
class Hop:
    """One request of a (possibly redirected) send."""

    method: str
    url: str
    headers: dict[str, str]
    content: bytes

    def follow(self, status_code: int, location: str) -> Hop:
        """The next hop after a redirect, with the method change browsers and httpx apply."""
        hop = replace(self, url=urljoin(self.url, location))
        if status_code in (302, 303) or (status_code == 301 and self.method == "POST"):
            headers = {name: value for name, value in hop.headers.items() if name.lower() != "content-type"}
            hop = replace(hop, method="GET", content=b"", headers=headers)
        if _origin(hop.url) != _origin(self.url):
            # Credentials may sit in any header a channel sets; only harmless ones cross origins.
            hop = replace(hop, headers={n: v for n, v in hop.headers.items() if n.lower() in _SAFE_HEADERS})
        return hop


@dataclass(frozen=True)
class Answer:
    status_code: int
    headers: dict[str, str]
    text: str


class OutboundHttpClient:
    """Implements ``adapters.base.OutboundClient`` on one shared sync ``httpx.Client``."""

    def __init__(
        self,
        allowed_networks: list[str],
        timeout_seconds: float = 10.0,
        version: str = "0.1.0",
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.user_agent = f"Herald/{version}"
        self._timeout_seconds = timeout_seconds
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        transport = guarded_transport(parse_networks(allowed_networks), ssl_context or httpx.create_ssl_context(), limits)
        self._client = httpx.Client(
            transport=transport, timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, trust_env=False
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> DeliveryOutcome:
        hop = Hop(method.upper(), url.strip(), headers, content)
        secrets = secret_values(headers)
        for _ in range(MAX_REDIRECTS + 1):
            answer = self._exchange(hop)
            location = answer.headers.get("location")
            if not (allow_redirects and answer.status_code in REDIRECT_STATUSES and location):
                return classify_response(answer.status_code, answer.headers, redact(answer.text, secrets))
            hop = hop.follow(answer.status_code, location)
        raise PermanentDeliveryError(
            f"The receiver redirected more than {MAX_REDIRECTS} times; set the target's URL to the final address.",
            code="TOO_MANY_REDIRECTS",
        )

    def _exchange(self, hop: Hop) -> Answer:
        destination = _destination(hop.url)
        with translated_errors(destination.host):
            request = self._client.build_request(hop.method, hop.url, headers=self._wire_headers(hop.headers), content=hop.content)
            response = self._client.send(request, stream=True)
            try:
                text = self._read_text(response, destination)
            finally:
                response.close()
        return Answer(response.status_code, {name.lower(): value for name, value in response.headers.items()}, text)

    def _wire_headers(self, headers: dict[str, str]) -> dict[str, str]:
        kept = {name: value for name, value in headers.items() if name.lower() not in _TRANSPORT_HEADERS}
        problem = next(filter(None, (header_problem(name, value) for name, value in kept.items())), None)
        if problem:
            raise PermanentDeliveryError(f"Herald cannot send this request: {problem}.", code="INVALID_REQUEST")
        # Receivers answer in a few hundred bytes; asking for identity keeps decompression bombs out.
        return {**kept, "User-Agent": self.user_agent, "Accept-Encoding": "identity"}

    def _read_text(self, response: httpx.Response, destination: Destination) -> str:
        deadline = time.monotonic() + self._timeout_seconds
        body = bytearray()
        for chunk in response.iter_bytes():
            body += chunk
            if len(body) >= MAX_RESPONSE_BYTES:
                break
            if time.monotonic() > deadline:
                raise TransientDeliveryError(f"{destination.host} sent its response too slowly.", code="TIMEOUT")
        return _decode(bytes(body[:MAX_RESPONSE_BYTES]), response)


def _destination(url: str) -> Destination:
    try:
        return split_url(url)
    except ConfigError as exc:
        raise PermanentDeliveryError(exc.message, code="INVALID_URL") from None


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port


def _decode(body: bytes, response: httpx.Response) -> str:
    try:
        return body.decode(response.encoding or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


@contextmanager
def translated_errors(host: str) -> Iterator[None]:
    """Map httpx and encoding failures to classified errors; our own errors pass through."""
    try:
        yield
    except DeliveryError:
        raise
    except httpx.TimeoutException as exc:
        raise TransientDeliveryError(f"Timed out talking to {host}.", code="TIMEOUT") from exc
    except (httpx.LocalProtocolError, httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError):
        # The message of these may quote a header value, which can be a credential: not chained.
        raise PermanentDeliveryError(
            f"Herald could not build a valid request for {host}; check the target's URL and header values.",
            code="INVALID_REQUEST",
        ) from None
    except httpx.HTTPError as exc:
        raise _network_error(exc, host) from exc


def _network_error(exc: httpx.HTTPError, host: str) -> DeliveryError:
    tls = _tls_cause(exc)
    if tls is not None:
        reason = getattr(tls, "verify_message", None) or getattr(tls, "reason", None) or type(tls).__name__
        return SystemicDeliveryError(f"TLS with {host} failed ({reason}); check the receiver's certificate.", code="TLS_ERROR")
    if isinstance(exc, httpx.ConnectError):
        return TransientDeliveryError(f"Could not connect to {host}.", code="CONNECTION_ERROR")
    return TransientDeliveryError(f"Network error talking to {host} ({type(exc).__name__}).", code="NETWORK_ERROR")


def _tls_cause(exc: BaseException) -> ssl.SSLError | None:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def secret_values(headers: dict[str, str]) -> list[str]:
    """Header values a response must not echo back: everything but a few harmless headers."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in _SAFE_HEADERS:
            continue
        scheme, _, token = value.partition(" ")
        values += [value, token] + _basic_password(scheme, token)
    return sorted({v for v in values if len(v) >= _MIN_SECRET_CHARS}, key=len, reverse=True)


def _basic_password(scheme: str, token: str) -> list[str]:
    if scheme.lower() != "basic":
        return []
    try:
        return [base64.b64decode(token, validate=True).decode().partition(":")[2]]
    except (binascii.Error, UnicodeDecodeError):
        return []


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


__all__ = ["OutboundHttpClient", "check_url", "classify_response", "parse_retry_after"]

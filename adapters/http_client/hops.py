"""What one send is made of, whatever carries it: hops and redirects, the headers on the wire, redaction.

A send is one or more hops; a redirect is followed only when the channel allows it, and the next hop
drops the body the way browsers do and every header but a few harmless ones when it changes origin.
The secrets a request carried are scrubbed from whatever the receiver answers.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, replace
from functools import lru_cache
from urllib.parse import urljoin, urlsplit

from adapters.errors import ConfigError, PermanentDeliveryError
from adapters.http_client.headers import first_header_problem
from adapters.http_client.netguard import Destination, split_url

MAX_REDIRECTS = 5
MAX_RESPONSE_BYTES = 64 * 1024
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
TRANSPORT_HEADERS = frozenset(
    {"host", "user-agent", "content-length", "transfer-encoding", "connection", "accept-encoding"}
)
SAFE_HEADERS = frozenset(
    {"content-type", "accept", "webhook-id", "webhook-timestamp", "webhook-signature", "idempotency-key"}
)
REDACTED = "[redacted]"
_MIN_SECRET_CHARS = 6


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
            hop = replace(hop, headers={n: v for n, v in hop.headers.items() if n.lower() in SAFE_HEADERS})
        return hop


@dataclass(frozen=True)
class Answer:
    """A receiver's answer to one hop, body already cut to ``MAX_RESPONSE_BYTES`` and decoded."""

    status_code: int
    headers: dict[str, str]
    text: str


def too_many_redirects() -> PermanentDeliveryError:
    return PermanentDeliveryError(
        f"The receiver redirected more than {MAX_REDIRECTS} times; set the target's URL to the final address.",
        code="TOO_MANY_REDIRECTS",
    )


@lru_cache(maxsize=4096)  # a target's URL is parsed once, not on every delivery
def destination_of(url: str) -> Destination:
    """The hop's destination; a malformed URL or a non-http(s) redirect is a permanent error."""
    try:
        return split_url(url)
    except ConfigError as exc:
        raise PermanentDeliveryError(exc.message, code="INVALID_URL") from None


def wire_headers(headers: dict[str, str], user_agent: str) -> dict[str, str]:
    """The channel's headers without the ones the transport owns, plus ours; unsendable values refused unquoted."""
    kept = {name: value for name, value in headers.items() if name.lower() not in TRANSPORT_HEADERS}
    problem = first_header_problem(kept)
    if problem:
        raise PermanentDeliveryError(f"Herald cannot send this request: {problem}.", code="INVALID_REQUEST")
    # Receivers answer in a few hundred bytes; asking for identity keeps decompression bombs out.
    return {**kept, "User-Agent": user_agent, "Accept-Encoding": "identity"}


def decode(body: bytes, charset: str | None) -> str:
    try:
        return body.decode(charset or "utf-8", errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")


def secret_values(headers: dict[str, str]) -> list[str]:
    """Header values a response must not echo back: everything but a few harmless headers."""
    values: list[str] = []
    for name, value in headers.items():
        if name.lower() in SAFE_HEADERS:
            continue
        scheme, _, token = value.partition(" ")
        values += [value, token] + _basic_password(scheme, token)
    return sorted({v for v in values if len(v) >= _MIN_SECRET_CHARS}, key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def _basic_password(scheme: str, token: str) -> list[str]:
    if scheme.lower() != "basic":
        return []
    try:
        return [base64.b64decode(token, validate=True).decode().partition(":")[2]]
    except (binascii.Error, UnicodeDecodeError):
        return []


def _origin(url: str) -> tuple[str, str | None, int | None]:
    parts = urlsplit(url)
    return parts.scheme, parts.hostname, parts.port

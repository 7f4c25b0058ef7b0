"""The one hardened outbound HTTP client every channel uses.

Explicit timeouts, no redirects unless asked (then every hop is checked), a fixed User-Agent,
the SSRF guard with the connection pinned to the address that was checked (no DNS-rebinding
window), and every httpx failure translated into a classified ``DeliveryError``.
"""

from __future__ import annotations

import ipaddress
import json
import ssl
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from adapters.base import (
    DeliveryOutcome,
    PermanentDeliveryError,
    RateLimitedError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.netguard import Address, forbidden_message, parse_networks, refusal, resolve, split_url

USER_AGENT = "Herald/0.1.0"
EXCERPT = 512
MAX_REDIRECTS = 5
KEPT_HEADERS = ("x-request-id", "x-message-id", "request-id", "location", "content-type")


class OutboundHttpClient:
    def __init__(self, allowed_networks: list[str], timeout_seconds: float = 10.0, user_agent: str = USER_AGENT) -> None:
        self._allowed = parse_networks(allowed_networks)
        self._user_agent = user_agent
        self._client = httpx.Client(
            timeout=httpx.Timeout(timeout_seconds), follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )

    def close(self) -> None:
        self._client.close()

    def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> DeliveryOutcome:
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send_once(method, url, headers, content)
            if not (allow_redirects and response.is_redirect and "location" in response.headers):
                return classify_response(response.status_code, dict(response.headers), response.text)
            url = urljoin(url, response.headers["location"])
        raise PermanentDeliveryError(f"More than {MAX_REDIRECTS} redirects.", code="TOO_MANY_REDIRECTS")

    def _send_once(self, method: str, url: str, headers: dict[str, str], content: bytes) -> httpx.Response:
        scheme, host, port = split_url(url)
        address = self._checked_address(host, port)
        pinned, extensions = _pin(url, scheme, host, address)
        request_headers = {**headers, "Host": urlsplit(url).netloc, "User-Agent": self._user_agent}
        try:
            return self._client.request(method, pinned, headers=request_headers, content=content, extensions=extensions)
        except httpx.TimeoutException as exc:
            raise TransientDeliveryError(f"Timed out talking to {host}.", code="TIMEOUT") from exc
        except httpx.ConnectError as exc:
            if isinstance(exc.__cause__ or exc.__context__, ssl.SSLError) or "SSL" in str(exc):
                raise SystemicDeliveryError(f"TLS handshake with {host} failed.", code="TLS_ERROR") from exc
            raise TransientDeliveryError(f"Could not connect to {host}:{port}.", code="CONNECTION_ERROR") from exc
        except httpx.HTTPError as exc:
            raise TransientDeliveryError(f"Network error talking to {host}: {type(exc).__name__}.", code="NETWORK_ERROR") from exc

    def _checked_address(self, host: str, port: int) -> Address:
        try:
            addresses = resolve(host, port)
        except (OSError, UnicodeError) as exc:
            raise SystemicDeliveryError(f"Host {host} does not resolve.", code="DNS_FAILURE") from exc
        for address in addresses:
            kind = refusal(address, self._allowed)
            if kind:
                raise PermanentDeliveryError(forbidden_message(host, address, kind), code="TARGET_ADDRESS_FORBIDDEN")
        return addresses[0]


def _pin(url: str, scheme: str, host: str, address: Address) -> tuple[str, dict]:
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    netloc = literal + (f":{parts.port}" if parts.port else "")
    extensions = {"sni_hostname": host} if scheme == "https" and not _is_ip(host) else {}
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, "")), extensions


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def classify_response(status_code: int, headers: dict[str, str], body_text: str) -> DeliveryOutcome:
    """A 2xx becomes an outcome; anything else raises the matching classified error."""
    lowered = {name.lower(): value for name, value in headers.items()}
    excerpt = (body_text or "")[:EXCERPT] or None
    if 200 <= status_code < 300:
        kept = {name: lowered[name] for name in KEPT_HEADERS if name in lowered}
        return DeliveryOutcome(status_code=status_code, headers=kept, body_excerpt=excerpt)
    message = f"The receiver answered HTTP {status_code}."
    kwargs = {"status_code": status_code, "response_excerpt": excerpt, "code": f"HTTP_{status_code}"}
    if status_code == 429:
        raise RateLimitedError(message, retry_after_seconds=parse_retry_after(lowered, body_text), **kwargs)
    if status_code == 408 or status_code >= 500:
        hint = parse_retry_after(lowered, body_text) if status_code == 503 else None
        raise TransientDeliveryError(message, retry_after_seconds=hint, **kwargs)
    if status_code in (401, 403):
        raise SystemicDeliveryError(message + " Check the target's credentials.", **kwargs)
    if 300 <= status_code < 400:
        raise PermanentDeliveryError(message + " Redirects are not followed; use the final URL.", **kwargs)
    raise PermanentDeliveryError(message, **kwargs)


def parse_retry_after(headers: dict[str, str], body_text: str | None = None, now: datetime | None = None) -> float | None:
    """Seconds until the provider allows requests again, from any of the common signals."""
    lowered = {name.lower(): value for name, value in headers.items()}
    now = now or datetime.now(UTC)
    for parse in (_retry_after_header, _x_ratelimit_reset, _ratelimit_reset, _ratelimit_structured):
        seconds = parse(lowered, now)
        if seconds is not None:
            return max(seconds, 0.0)
    seconds = _json_retry_after(body_text)
    return max(seconds, 0.0) if seconds is not None else None


def _number(value: str | None) -> float | None:
    try:
        return float(value.strip()) if value is not None else None
    except ValueError:
        return None


def _retry_after_header(headers: dict[str, str], now: datetime) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        return (parsedate_to_datetime(value) - now).total_seconds()
    except (TypeError, ValueError):
        return None


def _x_ratelimit_reset(headers: dict[str, str], now: datetime) -> float | None:
    value = _number(headers.get("x-ratelimit-reset"))
    if value is None:
        return None
    return value - now.timestamp() if value > 1e9 else value


def _ratelimit_reset(headers: dict[str, str], now: datetime) -> float | None:
    return _number(headers.get("ratelimit-reset"))


def _ratelimit_structured(headers: dict[str, str], now: datetime) -> float | None:
    for item in (headers.get("ratelimit") or "").replace(";", ",").split(","):
        name, _, value = item.strip().partition("=")
        if name.strip() in ("reset", "t"):
            return _number(value)
    return None


def _json_retry_after(body_text: str | None) -> float | None:
    try:
        body = json.loads(body_text or "")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    nested = body.get("error") if isinstance(body.get("error"), dict) else {}
    value = body.get("retry_after", nested.get("retry_after"))
    return float(value) if isinstance(value, int | float) else None


__all__ = ["OutboundHttpClient", "classify_response", "parse_retry_after"]

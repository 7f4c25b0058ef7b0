"""aiohttp, asyncio and OS failures of one hop, translated into classified ``DeliveryError``s at the boundary.

    TimeoutError (connect, send, read: one deadline)   → Transient  TIMEOUT        (outcome unknown)
    an ssl.SSLError, raw or behind aiohttp's wrapper    → Systemic   TLS_ERROR
    InvalidURL, other ValueError, UnicodeError          → Permanent  INVALID_REQUEST (not chained: may quote a value)
    ClientConnectorDNSError                             → Systemic   DNS_FAILURE
    other ClientConnectorError                          → Transient  CONNECTION_ERROR
    other ClientError / OSError                         → Transient  NETWORK_ERROR  (outcome unknown)

Our own errors (the guard's, the header checks') pass through untouched.
"""

from __future__ import annotations

import ssl
from types import TracebackType

import aiohttp

from adapters.errors import DeliveryError, PermanentDeliveryError, SystemicDeliveryError, TransientDeliveryError


def translated_errors(host: str) -> Translated:
    """``with translated_errors(host):`` no raw aiohttp (or asyncio, or OS) error leaves the block."""
    return Translated(host)


class Translated:
    """The context manager behind ``translated_errors``: a class, as ``@contextmanager`` costs more per hop."""

    __slots__ = ("host",)

    def __init__(self, host: str) -> None:
        self.host = host

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, DeliveryError):
            error, cause = classified(exc, self.host)
            if error is not None:
                raise error from cause


def classified(exc: Exception, host: str) -> tuple[DeliveryError | None, BaseException | None]:
    """The classified error for a failed hop and the cause to chain (None: keep it out of tracebacks and logs)."""
    if isinstance(exc, TimeoutError):
        return TransientDeliveryError(f"Timed out talking to {host}.", code="TIMEOUT", outcome_unknown=True), exc
    if isinstance(exc, ssl.SSLError):  # before ValueError: a certificate verification error is both
        return network_error(exc, host), exc
    if isinstance(exc, ValueError | UnicodeError):
        # aiohttp.InvalidURL is a ValueError; these messages may quote a URL or header value, a credential.
        message = f"Herald could not build a valid request for {host}; check the target's URL and header values."
        return PermanentDeliveryError(message, code="INVALID_REQUEST"), None
    if isinstance(exc, aiohttp.ClientError | OSError):
        # A response error's repr carries the request's headers (credentials): only its class is kept.
        return network_error(exc, host), (None if isinstance(exc, aiohttp.ClientResponseError) else exc)
    return None, None


def network_error(exc: BaseException, host: str) -> DeliveryError:
    reason = _tls_reason(exc)
    if reason is not None:
        return SystemicDeliveryError(
            f"TLS with {host} failed ({reason}); check the receiver's certificate.", code="TLS_ERROR"
        )
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return SystemicDeliveryError(f"Host {host} does not resolve; check the target's URL.", code="DNS_FAILURE")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransientDeliveryError(f"Could not connect to {host}.", code="CONNECTION_ERROR")
    return TransientDeliveryError(
        f"Network error talking to {host} ({type(exc).__name__}).", code="NETWORK_ERROR", outcome_unknown=True
    )


def _tls_reason(exc: BaseException) -> str | None:
    """Why TLS failed, from the ssl error behind aiohttp's wrapper (which is an SSLError itself, without a reason)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError) and not isinstance(seen, aiohttp.ClientError):
            return getattr(seen, "verify_message", None) or seen.reason or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return "handshake failed" if isinstance(exc, aiohttp.ClientSSLError) else None

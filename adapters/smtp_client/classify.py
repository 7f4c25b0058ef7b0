"""SMTP replies and failures → classified ``DeliveryError``s, by the phase of the transaction they happened in.

    phase    reply or failure                              → class
    any      421, 451, 452 (the server asks to back off)     RateLimited (its hint, else 60 s)
    any      timeout, dropped connection                     Transient (outcome unknown in DATA)
    connect  refused, reset                                  Transient  CONNECTION_ERROR
             TLS handshake or certificate                    Systemic   TLS_ERROR
             STARTTLS or AUTH not offered                    Systemic   SMTP_NOT_SUPPORTED
             other 4xx / 5xx greeting or EHLO                Transient / Systemic
    auth     530, 534, 535 and every other 5xx               Systemic   SMTP_535 …
    mail     552 (message too big)                           Permanent
             530, 534, 535, other 5xx (the sender refused)   Systemic
    rcpt     530, 534, 535                                   Systemic
             other 5xx                                       RecipientUnreachable (hard bounce)
    data     5xx (the message refused)                       Permanent
    mail, rcpt, data: other 4xx                              Transient

Our own errors (the SSRF guard's) pass through untouched; nothing raw from aiosmtplib leaves.
"""

from __future__ import annotations

import re
import ssl
from types import TracebackType
from typing import Literal

import aiosmtplib

from adapters.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    RecipientUnreachableError,
    SystemicDeliveryError,
    TransientDeliveryError,
)

Phase = Literal["connect", "auth", "mail", "rcpt", "data"]
BACK_OFF = frozenset({421, 451, 452})
AUTH_FAILED = frozenset({530, 534, 535})
DEFAULT_BACK_OFF_SECONDS = 60.0
MAX_BACK_OFF_SECONDS = 3600.0
EXCERPT_CHARS = 200
_HINT = re.compile(r"(\d{1,5})\s*(seconds?|secs?|s|minutes?|mins?|m)\b", re.IGNORECASE)


def translated(phase: Phase, host: str) -> Translated:
    """``with translated(phase, host):`` no raw aiosmtplib, ssl or OS error leaves the block."""
    return Translated(phase, host)


class Translated:
    __slots__ = ("host", "phase")

    def __init__(self, phase: Phase, host: str) -> None:
        self.phase, self.host = phase, host

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if isinstance(exc, Exception) and not isinstance(exc, DeliveryError):
            raise classified(exc, self.phase, self.host) from (exc if _safe_to_chain(exc) else None)


def _safe_to_chain(exc: Exception) -> bool:
    # An AUTH exchange's exception may echo what was sent; keep it out of tracebacks and logs.
    return not isinstance(exc, aiosmtplib.SMTPAuthenticationError)


def classified(exc: Exception, phase: Phase, host: str) -> DeliveryError:
    """The classified error for a failed SMTP step."""
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return reply_error(exc.code, exc.message, phase, host)
    reason = tls_reason(exc)
    if reason is not None:
        return SystemicDeliveryError(
            f"TLS with the SMTP server {host} failed ({reason}); check config.host, config.security and the "
            "server's certificate.",
            code="TLS_ERROR",
        )
    unknown = phase == "data"
    if isinstance(exc, TimeoutError):  # aiosmtplib's timeouts are TimeoutErrors too
        return TransientDeliveryError(
            f"Timed out talking to the SMTP server {host} ({phase}).", code="TIMEOUT", outcome_unknown=unknown
        )
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return TransientDeliveryError(
            f"The SMTP server {host} dropped the connection ({phase}).", code="DISCONNECTED", outcome_unknown=unknown
        )
    if isinstance(exc, aiosmtplib.SMTPConnectError | ConnectionError):
        return TransientDeliveryError(f"Could not connect to the SMTP server {host}.", code="CONNECTION_ERROR")
    if isinstance(exc, UnicodeError):
        return PermanentDeliveryError(
            "An address holds characters SMTP cannot carry without SMTPUTF8; use an ASCII address.",
            code="INVALID_ADDRESS",
        )
    if isinstance(exc, aiosmtplib.SMTPException):
        return SystemicDeliveryError(
            f"The SMTP server {host} cannot serve this target: {excerpt(exc.message)} Check config.security and "
            "the credentials.",
            code="SMTP_NOT_SUPPORTED",
        )
    return TransientDeliveryError(
        f"Network error talking to the SMTP server {host} ({type(exc).__name__}).",
        code="NETWORK_ERROR",
        outcome_unknown=unknown,
    )


def reply_error(code: int, message: str, phase: Phase, host: str) -> DeliveryError:
    """What a negative SMTP reply means, given when it came."""
    kind, advice = _meaning(code, phase)
    said = f"The SMTP server {host} answered {code} at {phase.upper()}: {excerpt(message)} {advice}"
    retry_after = back_off_seconds(message) if kind is RateLimitedError else None
    return kind(
        said, status_code=code, code=f"SMTP_{code}", response_excerpt=excerpt(message), retry_after_seconds=retry_after
    )


def _meaning(code: int, phase: Phase) -> tuple[type[DeliveryError], str]:
    if code in BACK_OFF:
        return RateLimitedError, "It asks Herald to back off."
    if code in AUTH_FAILED or (phase == "auth" and code >= 500):
        return SystemicDeliveryError, "Check the target's credentials (username, password)."
    if 400 <= code < 500 or code < 200:
        return TransientDeliveryError, "Herald will retry."
    if phase == "rcpt":
        return RecipientUnreachableError, "The address is marked bounced; fix it to send again."
    if phase == "connect":
        return SystemicDeliveryError, "The server refuses this client; check config.host and port."
    if phase == "mail" and code != 552:
        return SystemicDeliveryError, "Check config.fromAddress and the server's sending rules."
    return PermanentDeliveryError, "The server refused this message; retrying will not help."


def back_off_seconds(message: str) -> float:
    """The wait a server names ("try again in 5 minutes"), else 60 s; at most an hour."""
    found = _HINT.search(message or "")
    if found is None:
        return DEFAULT_BACK_OFF_SECONDS
    seconds = float(found.group(1)) * (60 if found.group(2).lower().startswith("m") else 1)
    return min(max(seconds, 1.0), MAX_BACK_OFF_SECONDS)


def tls_reason(exc: BaseException) -> str | None:
    """Why TLS failed, from an ``ssl.SSLError`` anywhere in the chain (aiosmtplib wraps it in a connect error)."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return getattr(seen, "verify_message", None) or seen.reason or type(seen).__name__
        seen = seen.__cause__ or seen.__context__
    return None


def excerpt(message: str | None) -> str:
    text = " ".join((message or "").split())
    return text if len(text) <= EXCERPT_CHARS else text[: EXCERPT_CHARS - 1] + "…"

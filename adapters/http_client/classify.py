"""Turning an HTTP-like answer into a response or a classified error, and reading rate-limit signals.

Both functions are pure: the transport and the stub channel share them, so classification is one
code path whether the answer came over the network or from a script.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from adapters.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.io import HttpResponse

EXCERPT_CHARS = 512
KEPT_HEADERS = ("x-message-id", "x-request-id", "request-id", "x-correlation-id", "location", "content-type")
_EPOCH_SECONDS = 1e9
_EPOCH_MILLISECONDS = 1e12


def classify_response(status_code: int, headers: Mapping[str, str], body_text: str | None) -> HttpResponse:
    """A 2xx becomes an ``HttpResponse``; anything else raises the matching classified error."""
    lowered = {name.lower(): value for name, value in headers.items()}
    excerpt = (body_text or "")[:EXCERPT_CHARS] or None
    if 200 <= status_code < 300:
        kept = {name: lowered[name] for name in KEPT_HEADERS if name in lowered}
        return HttpResponse(status_code=status_code, headers=kept, body_excerpt=excerpt)
    raise _error(status_code, lowered, body_text, excerpt)


def _error(status_code: int, lowered: dict[str, str], body_text: str | None, excerpt: str | None) -> DeliveryError:
    message = f"The receiver answered HTTP {status_code}."
    kind: type[DeliveryError] = PermanentDeliveryError
    retry_after = None
    if status_code == 429:
        kind, message = RateLimitedError, message + " It asks Herald to slow down."
        retry_after = parse_retry_after(lowered, body_text)
    elif status_code == 408 or 500 <= status_code < 600:
        kind, message = TransientDeliveryError, message + " Herald will retry."
        retry_after = parse_retry_after(lowered, body_text) if status_code == 503 else None
    elif status_code in (401, 403):
        kind, message = (
            SystemicDeliveryError,
            message + " Check the target's credentials and the receiver's access rules.",
        )
    elif 300 <= status_code < 400:
        message += " Redirects are not followed; set the target's URL to the final address."
    else:
        message += " The receiver refused this request; retrying will not help."
    return kind(
        message,
        status_code=status_code,
        retry_after_seconds=retry_after,
        code=f"HTTP_{status_code}",
        response_excerpt=excerpt,
    )


def parse_retry_after(
    headers: Mapping[str, str], body_text: str | None = None, now: datetime | None = None
) -> float | None:
    """Seconds until the provider accepts requests again, from the first signal present; None when absent."""
    lowered = {name.lower(): value for name, value in headers.items()}
    now = now or datetime.now(UTC)
    readers: tuple[Callable[[], float | None], ...] = (
        lambda: _retry_after(lowered.get("retry-after"), now),
        lambda: _reset_epoch_or_delta(lowered.get("x-ratelimit-reset"), now),
        lambda: _number(lowered.get("ratelimit-reset")),
        lambda: _structured_reset(lowered.get("ratelimit")),
        lambda: _json_retry_after(body_text),
    )
    for read in readers:
        seconds = read()
        if seconds is not None:
            return max(seconds, 0.0)
    return None


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _retry_after(value: str | None, now: datetime) -> float | None:
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    # RFC 9110 dates are GMT; "-0000" parses as a naive datetime.
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return (when - now).total_seconds()


def _reset_epoch_or_delta(value: str | None, now: datetime) -> float | None:
    number = _number(value)
    if number is None:
        return None
    if number > _EPOCH_MILLISECONDS:
        return number / 1000 - now.timestamp()
    return number - now.timestamp() if number > _EPOCH_SECONDS else number


def _structured_reset(value: str | None) -> float | None:
    """``RateLimit: limit=100, remaining=0, reset=7`` (draft 6) or ``"default";r=0;t=7`` (later drafts)."""
    for item in (value or "").replace(";", ",").split(","):
        name, _, raw = item.strip().partition("=")
        if name.strip().lower() in ("reset", "t"):
            return _number(raw)
    return None


def _json_retry_after(body_text: str | None) -> float | None:
    try:
        body = json.loads(body_text or "")
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    nested = body.get("error")
    found = _number(body.get("retry_after"))
    return found if found is not None or not isinstance(nested, dict) else _number(nested.get("retry_after"))

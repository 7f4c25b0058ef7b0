"""What the provider channels (Slack, Mastodon, Bluesky, Drive) share: reading an unclassified answer,
fitting text to a limit with the policy's truncation, and the errors every one of them raises alike."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from adapters.base import Policy
from adapters.errors import (
    DeliveryError,
    PermanentDeliveryError,
    RateLimitedError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.io import HttpAnswer
from adapters.render import truncate

DELIVERY_ID = "<delivery id>"  # shown by a dry run where send puts the delivery's id
EXCERPT_CHARS = 512


def body_json(answer: HttpAnswer) -> dict[str, Any]:
    """The answer's JSON object, or {} when it is not one."""
    try:
        body = json.loads(answer.text or "")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def excerpt(answer: HttpAnswer) -> str | None:
    return (answer.text or "")[:EXCERPT_CHARS] or None


def fit(text: str, limit: int, policy: Policy) -> str:
    """``text`` cut to ``limit`` characters with the policy's truncation mode (ellipsis by default)."""
    return truncate(text, limit, policy.truncate)


def seconds_until(moment: datetime, now: datetime | None = None) -> float:
    return max((moment - (now or datetime.now(UTC))).total_seconds(), 0.0)


def rate_limited(message: str, answer: HttpAnswer, seconds: float | None, code: str) -> RateLimitedError:
    return RateLimitedError(
        message,
        status_code=answer.status_code,
        retry_after_seconds=seconds,
        code=code,
        response_excerpt=excerpt(answer),
    )


def server_error(provider: str, answer: HttpAnswer) -> DeliveryError:
    """A 5xx: the provider may have acted before failing, so the outcome is unknown."""
    return TransientDeliveryError(
        f"{provider} answered HTTP {answer.status_code}; Herald will retry.",
        status_code=answer.status_code,
        code=f"HTTP_{answer.status_code}",
        response_excerpt=excerpt(answer),
        outcome_unknown=True,
    )


def systemic(message: str, answer: HttpAnswer | None, code: str) -> SystemicDeliveryError:
    return SystemicDeliveryError(
        message,
        status_code=answer.status_code if answer else None,
        code=code,
        response_excerpt=excerpt(answer) if answer else None,
    )


def permanent(message: str, answer: HttpAnswer | None, code: str) -> PermanentDeliveryError:
    return PermanentDeliveryError(
        message,
        status_code=answer.status_code if answer else None,
        code=code,
        response_excerpt=excerpt(answer) if answer else None,
    )


def header_seconds(value: str | None) -> float | None:
    """An integer-seconds header (Slack's ``Retry-After``); None when absent or unreadable."""
    try:
        return max(float((value or "").strip()), 0.0)
    except ValueError:
        return None


__all__ = [
    "DELIVERY_ID",
    "body_json",
    "excerpt",
    "fit",
    "header_seconds",
    "permanent",
    "rate_limited",
    "seconds_until",
    "server_error",
    "systemic",
]

"""The classified errors a channel raises; the engine, not the channel, decides what follows.

    DeliveryError                 error_class = ErrorClass.TRANSIENT | RATE_LIMITED | PERMANENT | SYSTEMIC
    ├── TransientDeliveryError    timeouts, connection errors, 5xx, 408: retry with backoff
    ├── RateLimitedError          429 and providers' own signals: pause the target (``retry_after_seconds``)
    ├── PermanentDeliveryError    other 4xx, invalid payload or recipient: fail now
    │   └── RecipientUnreachableError  this recipient's address can never be reached (hard bounce,
    │                                  unknown chat, blocked): fail now and mark the address bounced
    └── SystemicDeliveryError     401/403, TLS/DNS failure of the whole target

``ConfigError`` is raised by ``validate`` for a target that can never work. ``outcome_unknown``
marks a failure after the request was written (a read timeout, a dropped connection): the
provider may have acted on it, so a channel that can look its post up is asked to before resending.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorClass(StrEnum):
    TRANSIENT = "transient"
    RATE_LIMITED = "rate_limited"
    PERMANENT = "permanent"
    SYSTEMIC = "systemic"


class ConfigError(Exception):
    """A target's config or credentials are invalid; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None, code: str = "VALIDATION_ERROR") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class DeliveryError(Exception):
    """``status_code`` and ``response_excerpt`` are what the receiver answered, when it answered."""

    class_: ClassVar[ErrorClass] = ErrorClass.TRANSIENT

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        retry_after_seconds: float | None = None,
        code: str | None = None,
        response_excerpt: str | None = None,
        outcome_unknown: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.retry_after_seconds = retry_after_seconds
        self.code = code
        self.response_excerpt = response_excerpt
        self.outcome_unknown = outcome_unknown

    @property
    def error_class(self) -> ErrorClass:
        return self.class_


class TransientDeliveryError(DeliveryError):
    class_ = ErrorClass.TRANSIENT


class RateLimitedError(DeliveryError):
    class_ = ErrorClass.RATE_LIMITED


class PermanentDeliveryError(DeliveryError):
    class_ = ErrorClass.PERMANENT


class SystemicDeliveryError(DeliveryError):
    class_ = ErrorClass.SYSTEMIC


class RecipientUnreachableError(PermanentDeliveryError):
    """The recipient's address on this channel can never be reached; the engine marks it bounced."""

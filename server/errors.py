"""Domain errors. Each has a stable ``code``, an actionable message, a remediation and a next action.

HeraldError
├── ValidationFailed         VALIDATION_ERROR (and adapter codes: UNKNOWN_CHANNEL, TARGET_ADDRESS_FORBIDDEN)
├── NotFound                 NOT_FOUND
├── Conflict                 CONFLICT
├── IdempotencyKeyReused     IDEMPOTENCY_KEY_REUSED
├── IdempotencyKeyInUse      IDEMPOTENCY_KEY_IN_USE
├── Unauthorized             UNAUTHORIZED
└── InternalError            INTERNAL_ERROR (masked; carries only the request id)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from server.hints import NextAction


class HeraldError(Exception):
    code = "HERALD_ERROR"
    remediation = "Read the message, correct the request and try again."

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        remediation: str | None = None,
        next_action: NextAction | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.next_action = next_action
        if remediation:
            self.remediation = remediation
        if code:
            self.code = code


class ValidationFailed(HeraldError):
    code = "VALIDATION_ERROR"
    remediation = "Fix the named field and send the request again."


class NotFound(HeraldError):
    code = "NOT_FOUND"
    remediation = "Check the id; list the resources to find the right one."


class Conflict(HeraldError):
    code = "CONFLICT"
    remediation = "Read the resource's current state and decide again."


class IdempotencyKeyReused(HeraldError):
    code = "IDEMPOTENCY_KEY_REUSED"
    remediation = "Use a new idempotency key for a different request, or resend the original request unchanged."


class IdempotencyKeyInUse(HeraldError):
    code = "IDEMPOTENCY_KEY_IN_USE"
    remediation = "The first request with this key is still running; send the same request again shortly."


class Unauthorized(HeraldError):
    code = "UNAUTHORIZED"
    remediation = "Send 'Authorization: Bearer <key>'. Create a key with: herald keys create --name <name>"


class InternalError(HeraldError):
    code = "INTERNAL_ERROR"
    remediation = "Retry later; if it persists, report the request id to the operator."

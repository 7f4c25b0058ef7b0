"""The REST door's refusals: the same structured error as the other doors, ``{"error": …}``, with an HTTP
status that fits its code."""

from __future__ import annotations

import logging

from starlette.responses import JSONResponse

from server.dispatch import error_body
from server.errors import Conflict, HeraldError, NotFound

log = logging.getLogger(__name__)

STATUS_BY_CODE = {
    "VALIDATION_ERROR": 400,
    "MALFORMED_REQUEST": 400,
    "UNAUTHORIZED": 401,
    "FORBIDDEN": 403,
    "READ_ONLY_KEY": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "CONFLICT": 409,
    "IDEMPOTENCY_KEY_REUSED": 409,
    "IDEMPOTENCY_KEY_IN_USE": 409,
    "CONFIRMATION_REQUIRED": 409,
    "TARGET_PAUSED": 409,
    "CIRCUIT_OPEN": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "QUOTA_EXCEEDED": 429,
    "INTERNAL_ERROR": 500,
    "DELIVERIES_HALTED": 503,
}


def status_for(exc: HeraldError) -> int:
    """The code's status; a code not listed (an adapter's own) by its kind, else 400."""
    if exc.code in STATUS_BY_CODE:
        return STATUS_BY_CODE[exc.code]
    if isinstance(exc, NotFound):
        return 404
    return 409 if isinstance(exc, Conflict) else 400


def error_response(exc: HeraldError, request_id: str | None, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": error_body(exc, request_id).wire()}, status_code=status_for(exc), headers=headers)

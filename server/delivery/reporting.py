"""What a recorded batch tells the outside: the process's delivery metrics, and with
``HERALD_LOG_FORMAT=json`` one log line per attempt.

Called once per batch after its transaction committed (a transaction run again over a lock conflict
counts once). A log line carries ids, the channel, the outcome, timings and the error's class and code,
and the error's text with the target's secrets redacted; never a URL, header or credential.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol

from adapters import DeliveryError, Receipt, RecipientUnreachableError
from server.delivery.claims import Claim
from server.redaction import redact
from server.runtime import Runtime

log = logging.getLogger("herald.attempts")

BOUNCED = "bounced"  # an attempt's outcome when the recipient's address refused it for good (a hard bounce)


class Attempted(Protocol):
    started_at: datetime
    duration_ms: float
    receipt: Receipt | None
    error: DeliveryError | None
    held_until: datetime | None


def attempt_outcome(error: DeliveryError | None) -> str:
    """An attempt's outcome as stored and counted: delivered, bounced, or the error's class."""
    if error is None:
        return "delivered"
    return BOUNCED if isinstance(error, RecipientUnreachableError) else error.error_class


def http_status(error: DeliveryError | None, receipt: Receipt | None) -> Any:
    """The HTTP status an attempt got, when its channel speaks HTTP."""
    if error is not None:
        return error.status_code
    return receipt.meta.get("statusCode") if receipt else None


def report_attempts(rt: Runtime, done: Sequence[tuple[Claim, Attempted]]) -> None:
    lines = rt.settings.log_format == "json" and log.isEnabledFor(logging.INFO)
    for claim, result in done:
        if result.held_until is not None:
            continue  # held back at the last moment: nothing was sent
        outcome = attempt_outcome(result.error)
        rt.metrics.attempt(claim.view.channel, outcome, result.duration_ms / 1000)
        if lines:
            _log_attempt(claim, result, outcome)


def _log_attempt(claim: Claim, result: Attempted, outcome: str) -> None:
    error = result.error
    fields: dict[str, Any] = {
        "planId": claim.plan_id,
        "jobId": claim.job_id,
        "targetId": claim.view.id,
        "channel": claim.view.channel,
        "recipientId": claim.recipient.id if claim.recipient else None,
        "status": outcome,
        "durationMs": result.duration_ms,
        "attempt": claim.attempt,
        "startedAt": result.started_at.isoformat(timespec="milliseconds"),
        "errorClass": error.error_class if error else None,
        "errorCode": error.code if error else None,
        "httpStatus": http_status(error, result.receipt),
        "error": (redact(error.message, claim.secrets) or "")[:300] if error else None,
    }
    log.info("attempt %d of job %s: %s", claim.attempt, claim.job_id, outcome, extra=fields)

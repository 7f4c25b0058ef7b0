"""``/inbound/whatsapp/{targetId}``: Meta's webhook verification and WhatsApp's delivery-status webhooks.

GET answers the verification handshake: ``hub.mode=subscribe`` with ``hub.verify_token`` equal to the
target's ``credentials.verifyToken`` gets ``hub.challenge`` back. POST is accepted only with a valid
``X-Hub-Signature-256: sha256=<HMAC-SHA256 of the raw body keyed with credentials.appSecret>``
(compared in constant time); each status (``sent``, ``delivered``, ``read``, ``failed``) moves the receipt
whose ``externalId`` is its wamid, idempotently and never backwards (providers resend and reorder), and
a ``failed`` status turns a delivered job into a failed one (``server.jobs.transitions.fail_late``).

A status for a message whose receipt is not recorded yet (Meta can be faster than the batch's commit) is
answered 503, so Meta delivers it again later; a status for a message Herald never sent is ignored.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import anyio
from sqlmodel import Session, select
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from adapters import ChannelName
from server.activity.recorder import PLAN_EVENTS, record_event
from server.db import session_scope
from server.jobs import plan_state, transitions
from server.jobs.status import JobStatus
from server.models import Job, Receipt, Target
from server.models.base import utcnow
from server.plans.kpi_check import check_kpi
from server.runtime import Runtime
from server.targets.repository import credentials_of

log = logging.getLogger(__name__)
# How far along a message is; a status moves the receipt only forward. ``failed`` ends it from any state.
PROGRESS = {"sent": 1, "delivered": 2, "read": 3}
FAILED = "failed"
WINDOW_CLOSED = 131047
REMEDIATIONS = {
    WINDOW_CLOSED: "Send a template: set the target's config.template (or the content's metadata.whatsappTemplate) "
    "to an approved template, then retry the failed jobs.",
    131026: "The number is not on WhatsApp or cannot receive this message; fix or remove the recipient's address.",
    131049: "Meta held it back to protect the recipient's engagement; wait at least 24 hours.",
    131050: "The recipient stopped marketing messages; do not retry.",
}


@dataclass(frozen=True)
class Status:
    wamid: str
    status: str
    at: datetime | None
    opaque: str | None
    errors: list[dict[str, Any]]


def statuses_of(payload: Any) -> list[Status]:
    """Every status object of a webhook payload (``entry[].changes[].value.statuses[]``)."""
    found = []
    entries = payload.get("entry") if isinstance(payload, dict) else None
    for entry in entries if isinstance(entries, list) else []:
        for change in entry.get("changes") or [] if isinstance(entry, dict) else []:
            value = change.get("value") if isinstance(change, dict) else None
            for state in (value or {}).get("statuses") or [] if isinstance(value, dict) else []:
                if not isinstance(state, dict) or not isinstance(state.get("id"), str):
                    continue
                found.append(
                    Status(
                        wamid=state["id"],
                        status=str(state.get("status", "")),
                        at=_when(state.get("timestamp")),
                        opaque=state.get("biz_opaque_callback_data")
                        if isinstance(state.get("biz_opaque_callback_data"), str)
                        else None,
                        errors=[e for e in state.get("errors") or [] if isinstance(e, dict)],
                    )
                )
    return found


def _when(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC)
    except (TypeError, ValueError, OverflowError):
        return None


def valid_signature(raw: bytes, header: str | None, secret: str) -> bool:
    if not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header[len("sha256=") :].strip().lower())


def failure_text(status: Status) -> str:
    error = status.errors[0] if status.errors else {}
    code = error.get("code")
    details = (error.get("error_data") or {}).get("details") if isinstance(error.get("error_data"), dict) else None
    said = details or error.get("message") or error.get("title") or "no reason given"
    text = f"WhatsApp reported the message failed after accepting it (code {code}: {said})."
    remedy = REMEDIATIONS.get(code) if isinstance(code, int) else None
    return (f"{text} {remedy}" if remedy else text)[:1000]


def _target(session: Session, target_id: str) -> Target | None:
    target = session.get(Target, target_id)
    return target if target is not None and target.channel == ChannelName.WHATSAPP else None


def _secrets(rt: Runtime, target_id: str) -> dict[str, Any] | None:
    """The target's credentials; None when it is not a WhatsApp target."""
    with session_scope(rt.engine) as session:
        target = _target(session, target_id)
        return None if target is None else (credentials_of(target, rt.box) or {})


def apply_statuses(rt: Runtime, target_id: str, statuses: list[Status]) -> tuple[int, int]:
    """Move receipts (and late-failed jobs) in one transaction; returns (updated, awaited): ``awaited`` counts
    statuses of messages still being recorded (their job is delivering)."""
    updated = awaited = 0
    with session_scope(rt.engine) as session:
        for status in statuses:
            query = select(Receipt).where(Receipt.target_id == target_id, Receipt.external_id == status.wamid)
            receipt = session.exec(query.with_for_update()).first()
            if receipt is None:
                awaited += _in_flight(session, target_id, status)
                continue
            if _move(session, receipt, status):
                updated += 1
    return updated, awaited


def _in_flight(session: Session, target_id: str, status: Status) -> int:
    if status.opaque is None:
        return 0
    job = session.get(Job, status.opaque)
    return int(job is not None and job.target_id == target_id and job.status == JobStatus.DELIVERING)


def _move(session: Session, receipt: Receipt, status: Status) -> bool:
    current = receipt.provider_status
    if current == FAILED or status.status == current:
        return False  # failed is final; a resent status changes nothing
    if status.status != FAILED and PROGRESS.get(status.status, 0) <= PROGRESS.get(current or "", 0):
        return False  # older news (or a status Herald does not track, such as "played")
    now = utcnow()
    receipt.provider_status, receipt.provider_status_at = status.status, status.at or now
    if status.status == FAILED:
        receipt.response_meta = {**receipt.response_meta, "status": FAILED, "providerErrors": status.errors[:5]}
        _fail_job(session, receipt, status, now)
    else:
        receipt.response_meta = {**receipt.response_meta, "status": status.status}
    session.add(receipt)
    return True


def _fail_job(session: Session, receipt: Receipt, status: Status, now: datetime) -> None:
    job = session.exec(select(Job).where(Job.id == receipt.job_id).with_for_update()).first()
    if job is None or job.status != JobStatus.DELIVERED:
        return
    text = failure_text(status)
    transitions.fail_late(job, now, error=text)
    session.add(job)
    session.flush()
    record_event(
        session,
        job.workspace_id,
        "job.failed_late",
        f"Job {job.id} failed after delivery: {text}",
        job_id=job.id,
        plan_id=job.plan_id,
        target_id=job.target_id,
    )
    final = plan_state.fail_late(session, job.plan_id)
    if final in PLAN_EVENTS:
        ended = f"Plan {job.plan_id} ended {final}."
        record_event(session, job.workspace_id, PLAN_EVENTS[final], ended, plan_id=job.plan_id)
        check_kpi(session, job.workspace_id, job.plan_id)


async def verify(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    secrets = await anyio.to_thread.run_sync(_secrets, rt, request.path_params["target_id"])
    if secrets is None:
        return PlainTextResponse("No WhatsApp target with this id.", status_code=404)
    expected, given = secrets.get("verifyToken"), request.query_params.get("hub.verify_token", "")
    if (
        request.query_params.get("hub.mode") != "subscribe"
        or not expected
        or not hmac.compare_digest(str(expected).encode(), given.encode())
    ):
        return PlainTextResponse("Verification refused: the verify token does not match.", status_code=403)
    return PlainTextResponse(request.query_params.get("hub.challenge", ""))


async def receive(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    target_id = request.path_params["target_id"]
    raw = await request.body()
    secrets = await anyio.to_thread.run_sync(_secrets, rt, target_id)
    if secrets is None:
        return JSONResponse({"error": "No WhatsApp target with this id."}, status_code=404)
    secret = secrets.get("appSecret")
    if not secret:
        return JSONResponse(
            {"error": "The target has no credentials.appSecret, so its status webhooks cannot be verified."},
            status_code=403,
        )
    if not valid_signature(raw, request.headers.get("x-hub-signature-256"), str(secret)):
        return JSONResponse({"error": "Invalid X-Hub-Signature-256."}, status_code=403)
    try:
        payload = json.loads(raw)
    except ValueError:
        return JSONResponse({"error": "The body is not JSON."}, status_code=400)
    statuses = statuses_of(payload)
    updated, awaited = await anyio.to_thread.run_sync(apply_statuses, rt, target_id, statuses)
    if awaited:
        # Meta redelivers a webhook that was not answered 200: by then the receipt is recorded.
        return JSONResponse({"received": len(statuses), "updated": updated, "retryLater": awaited}, status_code=503)
    return JSONResponse({"received": len(statuses), "updated": updated})


ROUTES = [
    Route("/inbound/whatsapp/{target_id}", verify, methods=["GET"]),
    Route("/inbound/whatsapp/{target_id}", receive, methods=["POST"]),
]

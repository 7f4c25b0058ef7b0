"""Idempotency keys: the same key and request return the first result; keys live 24 h.

The record is claimed in its own committed transaction (so a concurrent duplicate sees
IDEMPOTENCY_KEY_IN_USE), and completed inside the operation's transaction, so a crash never
leaves a result without its record. The stored result is encrypted: it may reveal a secret once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, delete, select

from server.db import session_scope
from server.errors import IdempotencyKeyInUse, IdempotencyKeyReused
from server.hints import hint
from server.models import IdempotencyRecord
from server.models.base import utcnow
from server.runtime import Runtime

IGNORED_FIELDS = ("idempotencyKey", "dryRun", "awaitDelivery", "awaitTimeoutSeconds", "confirmationToken")


def request_hash(operation: str, arguments: dict[str, Any]) -> str:
    relevant = {k: v for k, v in arguments.items() if k not in IGNORED_FIELDS}
    blob = json.dumps([operation, relevant], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


def derived_key(prefix: str, digest: str) -> str:
    """A key that names what the request is about and differs for every different request (within 200 chars)."""
    return f"{prefix[:180]}#{digest[:16]}"


def _bound(workspace_id: str, key: str) -> str:
    return f"idempotency:{workspace_id}:{key}"


def claim(
    rt: Runtime,
    workspace_id: str,
    key: str,
    operation: str,
    digest: str,
    arguments: dict[str, Any] | None = None,
) -> dict[str, Any] | None:
    """Returns the stored response of a finished identical request, or None after claiming the key.

    ``arguments`` (the request as sent) make a refusal's hint the same request under a key of its own."""
    now = utcnow()
    with session_scope(rt.engine) as session:
        record = _find(session, workspace_id, key)
        if record is not None and record.expires_at <= now:
            session.delete(record)
            session.flush()
            record = None
        if record is None:
            session.add(
                IdempotencyRecord(
                    workspace_id=workspace_id,
                    key=key,
                    operation=operation,
                    request_hash=digest,
                    state="in_progress",
                    locked_until=now + timedelta(seconds=rt.settings.idempotency_lock_seconds),
                    expires_at=now + timedelta(hours=rt.settings.idempotency_ttl_hours),
                )
            )
            try:
                session.flush()
            except IntegrityError:
                session.rollback()
                raise _in_use(operation, 1.0) from None
            return None
        return _existing(rt, record, workspace_id, key, operation, digest, now, arguments or {})


def _existing(
    rt: Runtime,
    record: IdempotencyRecord,
    workspace_id: str,
    key: str,
    operation: str,
    digest: str,
    now: datetime,
    arguments: dict[str, Any],
) -> dict[str, Any] | None:
    if record.request_hash != digest:
        raise IdempotencyKeyReused(
            f"Idempotency key {key!r} was already used for a different {record.operation} request.",
            field="idempotencyKey",
            next_action=hint(
                operation,
                "Send this request again under the key derived from it, which no different request shares.",
                **{**arguments, "idempotencyKey": derived_key(key, digest)},
            ),
        )
    if record.state == "completed" and record.response_blob is not None:
        return rt.box.decrypt_json(record.response_blob, _bound(workspace_id, key))
    if record.locked_until > now:
        raise _in_use(operation, max((record.locked_until - now).total_seconds(), 1.0))
    record.locked_until = now + timedelta(seconds=rt.settings.idempotency_lock_seconds)
    return None


def _in_use(operation: str, after: float) -> IdempotencyKeyInUse:
    return IdempotencyKeyInUse(
        "A request with this idempotency key is still being processed.",
        field="idempotencyKey",
        next_action=hint(
            operation, "Resend the identical request; it will return the first result.", after_seconds=min(after, 5.0)
        ),
    )


def _find(session: Session, workspace_id: str, key: str) -> IdempotencyRecord | None:
    query = select(IdempotencyRecord).where(
        IdempotencyRecord.workspace_id == workspace_id, IdempotencyRecord.key == key
    )
    return session.exec(query).first()


def complete(rt: Runtime, session: Session, workspace_id: str, key: str, response: dict[str, Any]) -> None:
    record = _find(session, workspace_id, key)
    if record is not None:
        record.state = "completed"
        record.response_blob = rt.box.encrypt_json(response, _bound(workspace_id, key))
        session.add(record)


def release(rt: Runtime, workspace_id: str, key: str) -> None:
    """The request failed: forget the key so the caller can fix the request and resend it."""
    with session_scope(rt.engine) as session:
        session.execute(
            delete(IdempotencyRecord).where(
                col(IdempotencyRecord.workspace_id) == workspace_id,
                col(IdempotencyRecord.key) == key,
                col(IdempotencyRecord.state) == "in_progress",
            )
        )


def purge_expired(rt: Runtime) -> int:
    with session_scope(rt.engine) as session:
        result = session.exec(delete(IdempotencyRecord).where(col(IdempotencyRecord.expires_at) <= utcnow()))
        return int(result.rowcount or 0)

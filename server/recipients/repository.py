"""Loading recipients and turning rows into what the wire and the channels see."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, String, cast
from sqlmodel import Session, select

from server.errors import NotFound, ValidationFailed
from server.hints import hint
from server.ids import check_id
from server.models import Recipient
from server.recipients.schemas import ALL_CHANNELS, RecipientRead


def has_label(label: str) -> ColumnElement[bool]:
    """Portable JSON-list membership (labels cannot contain quotes, so '"label"' matches exactly)."""
    escaped = label.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return cast(Recipient.labels, String).like(f'%"{escaped}"%', escape="\\")


def load_recipient(
    session: Session, workspace_id: str, recipient_id: str | None, external_id: str | None, *, lock: bool = False
) -> Recipient:
    if (recipient_id is None) == (external_id is None):
        raise ValidationFailed("Name the recipient by id or by externalId (exactly one).", field="id")
    query = select(Recipient).where(Recipient.workspace_id == workspace_id)
    if recipient_id is not None:
        check_id("recipient", recipient_id, "id")
        query = query.where(Recipient.id == recipient_id)
    else:
        query = query.where(Recipient.external_id == external_id)
    found = session.exec(query.with_for_update() if lock else query).first()
    if found is None:
        named = recipient_id or f"with externalId {external_id!r}"
        raise NotFound(
            f"No recipient {named} in this workspace.",
            field="id" if recipient_id else "externalId",
            next_action=hint("list_recipients", "List recipients to find the right one."),
        )
    return found


def is_unsubscribed(unsubscribed: list[str], channel: str) -> bool:
    return ALL_CHANNELS in unsubscribed or channel in unsubscribed


def to_read(row: Recipient) -> RecipientRead:
    return RecipientRead(
        id=row.id,
        external_id=row.external_id,
        name=row.name,
        addresses=row.addresses,
        attributes=row.attributes,
        timezone=row.timezone,
        labels=row.labels,
        active=row.active,
        unsubscribed=row.unsubscribed,
        bounced_at={channel: _time(value) for channel, value in row.bounced_at.items()},
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(value)

"""Recipient operations: bulk upsert by externalId, list, get, delete, unsubscribe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_
from sqlalchemy import select as sa_select
from sqlmodel import Session, col, select

from server.context import OpContext
from server.db import insert_rows, one_of, table_of, update_rows
from server.errors import NotFound, ValidationFailed
from server.hints import for_real, hint
from server.ids import check_id, new_id
from server.models import Recipient
from server.models.base import utcnow
from server.pagination import page
from server.recipients import repository as repo
from server.recipients.schemas import (
    ALL_CHANNELS,
    DeleteRecipientsInput,
    DeleteRecipientsPayload,
    GetRecipientInput,
    ListRecipientsInput,
    RecipientDetailResult,
    RecipientList,
    RecipientPayload,
    RecipientRef,
    UnsubscribeRecipientInput,
    UpsertRecipientsInput,
    UpsertRecipientsPayload,
)

_CHUNK = 5_000  # ids per IN list on SQLite (PostgreSQL takes one array parameter)


def _existing(session: Session, workspace_id: str, external_ids: list[str]) -> dict[str, Any]:
    """externalId -> (id, addresses, bounced_at) of the recipients that already exist; addresses and
    bounces are read only for the few that have a bounce (all an upsert compares)."""
    found: dict[str, Any] = {}
    bounced: list[str] = []
    for start in range(0, len(external_ids), _CHUNK):
        chunk = external_ids[start : start + _CHUNK]
        query = sa_select(
            col(Recipient.id), col(Recipient.external_id), cast(Recipient.bounced_at, String) != "{}"
        ).where(col(Recipient.workspace_id) == workspace_id, one_of(session, Recipient.external_id, chunk))
        for rid, external_id, has_bounce in session.execute(query):
            found[external_id] = _Existing(rid, {}, {})
            if has_bounce:
                bounced.append(external_id)
    for start in range(0, len(bounced), _CHUNK):
        query = sa_select(col(Recipient.external_id), col(Recipient.addresses), col(Recipient.bounced_at)).where(
            col(Recipient.workspace_id) == workspace_id,
            one_of(session, Recipient.external_id, bounced[start : start + _CHUNK]),
        )
        for external_id, addresses, bounced_at in session.execute(query):
            found[external_id] = _Existing(found[external_id].id, addresses or {}, bounced_at or {})
    return found


@dataclass(frozen=True)
class _Existing:
    id: str
    addresses: dict[str, Any]
    bounced_at: dict[str, Any]


def upsert_recipients(ctx: OpContext, session: Session, data: UpsertRecipientsInput) -> UpsertRecipientsPayload:
    """One read of the existing rows, then one bulk insert (COPY on PostgreSQL) and one executemany update.

    An address that changes forgets that channel's bounce; unsubscriptions are kept (only the
    recipient, or ``unsubscribe_recipient``, changes them).
    """
    now = utcnow()
    existing = _existing(session, ctx.workspace_id, [r.external_id for r in data.recipients])
    new_rows: list[dict[str, Any]] = []
    changed: list[dict[str, Any]] = []
    refs: list[RecipientRef] = []
    for item in data.recipients:
        fields = {
            "name": item.name,
            "addresses": item.addresses,
            "attributes": item.attributes,
            "timezone": item.timezone,
            "labels": item.labels,
            "active": item.active,
            "updated_at": now,
        }
        old = existing.get(item.external_id)
        if old is None:
            rid = None if data.dry_run else new_id("recipient")
            refs.append(RecipientRef(id=rid, external_id=item.external_id, created=True))
            new_rows.append(
                {
                    "id": rid,
                    "workspace_id": ctx.workspace_id,
                    "external_id": item.external_id,
                    **fields,
                    "unsubscribed": [],
                    "bounced_at": {},
                    "created_at": now,
                }
            )
        else:
            refs.append(RecipientRef(id=old.id, external_id=item.external_id, created=False))
            bounced = {
                channel: at
                for channel, at in (old.bounced_at or {}).items()
                if item.addresses.get(channel) == (old.addresses or {}).get(channel)
            }
            changed.append({"id": old.id, **fields, "bounced_at": bounced})
    if not data.dry_run:
        insert_rows(session, Recipient, new_rows)
        update_rows(session, Recipient, changed)
    action = (
        for_real(f"Upsert for real: {len(new_rows)} new, {len(changed)} updated.")
        if data.dry_run
        else hint(
            "create_distribution_plan",
            "Recipients are stored; address them in a plan with recipientIds or recipientLabels.",
        )
    )
    return UpsertRecipientsPayload(
        created=len(new_rows), updated=len(changed), recipients=refs, recommended_next_action=action
    )


def list_recipients(ctx: OpContext, session: Session, data: ListRecipientsInput) -> RecipientList:
    query = select(Recipient).where(Recipient.workspace_id == ctx.workspace_id)
    if data.label:
        query = query.where(repo.has_label(data.label))
    if data.channel:
        escaped = data.channel.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        query = query.where(cast(Recipient.addresses, String).like(f'%"{escaped}":%', escape="\\"))
    if data.search:
        pattern = "%" + data.search.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(col(Recipient.name)).like(pattern, escape="\\"),
                func.lower(col(Recipient.external_id)).like(pattern, escape="\\"),
                func.lower(cast(Recipient.addresses, String)).like(pattern, escape="\\"),
            )
        )
    rows, next_cursor = page(session, query, Recipient.id, data.limit, data.cursor, newest_first=False)
    given = {"label": data.label, "search": data.search, "channel": data.channel}
    filters: dict[str, Any] = {name: value for name, value in given.items() if value}
    action = (
        hint(
            "list_recipients",
            "More recipients follow.",
            cursor=next_cursor,
            limit=data.limit,
            **filters,
        )
        if next_cursor
        else hint("create_distribution_plan", "All matching recipients listed; address them in a plan.")
    )
    return RecipientList(items=[repo.to_read(r) for r in rows], next_cursor=next_cursor, recommended_next_action=action)


def get_recipient(ctx: OpContext, session: Session, data: GetRecipientInput) -> RecipientDetailResult:
    row = repo.load_recipient(session, ctx.workspace_id, data.id, data.external_id)
    return RecipientDetailResult(
        recipient=repo.to_read(row),
        recommended_next_action=hint(
            "create_distribution_plan", "Address this recipient in a plan.", recipientIds=[row.id]
        ),
    )


def delete_recipients(ctx: OpContext, session: Session, data: DeleteRecipientsInput) -> DeleteRecipientsPayload:
    ids = [check_id("recipient", rid, "ids") for rid in dict.fromkeys(data.ids)]
    if not ids and not data.external_ids:
        raise ValidationFailed("Name the recipients to delete: ids or externalIds.", field="ids")
    found: list[str] = []
    for start in range(0, max(len(ids), len(data.external_ids)), _CHUNK):
        conditions = []
        if ids[start : start + _CHUNK]:
            conditions.append(one_of(session, Recipient.id, ids[start : start + _CHUNK]))
        if data.external_ids[start : start + _CHUNK]:
            conditions.append(one_of(session, Recipient.external_id, data.external_ids[start : start + _CHUNK]))
        query = sa_select(col(Recipient.id)).where(col(Recipient.workspace_id) == ctx.workspace_id, or_(*conditions))
        found += list(session.execute(query).scalars())
    found = sorted(set(found))
    missing = sorted(set(ids) - set(found))
    if missing:
        raise NotFound(
            f"Unknown recipient id(s) in this workspace: {', '.join(missing[:10])}; nothing was deleted.",
            field="ids",
            next_action=hint("list_recipients", "List recipients to find the right ids."),
        )
    if not data.dry_run:
        for start in range(0, len(found), _CHUNK):
            table = table_of(Recipient)
            session.connection().execute(
                table.delete().where(one_of(session, table.c.id, found[start : start + _CHUNK]))
            )
    action = (
        for_real(f"Delete {len(found)} recipient(s) for real; their past jobs stay.")
        if data.dry_run
        else hint("list_recipients", f"{len(found)} recipient(s) deleted.")
    )
    return DeleteRecipientsPayload(deleted=len(found), ids=found, recommended_next_action=action)


def unsubscribe_recipient(ctx: OpContext, session: Session, data: UnsubscribeRecipientInput) -> RecipientPayload:
    row = repo.load_recipient(session, ctx.workspace_id, data.id, data.external_id, lock=True)
    mark(row, data.channel.value if data.channel else ALL_CHANNELS)
    read = repo.to_read(row)
    if data.dry_run:
        return RecipientPayload(recipient=read, recommended_next_action=for_real("Unsubscribe for real."))
    session.add(row)
    return RecipientPayload(
        recipient=read,
        recommended_next_action=hint("get_recipient", "Unsubscribed: later plans skip it there.", id=row.id),
    )


def mark(row: Recipient, channel: str) -> bool:
    """Add ``channel`` to the recipient's unsubscriptions; False when it already was (idempotent)."""
    if channel in row.unsubscribed or ALL_CHANNELS in row.unsubscribed:
        return False
    row.unsubscribed = sorted({*row.unsubscribed, channel})
    row.updated_at = utcnow()
    return True

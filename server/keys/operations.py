"""API key operations on both doors: create (shown once), list, revoke — within the caller's workspace."""

from __future__ import annotations

from sqlmodel import Session, select

from server.context import OpContext
from server.errors import Conflict, NotFound
from server.hints import for_real, hint
from server.ids import check_id
from server.keys.schemas import (
    ApiKeyList,
    ApiKeyPayload,
    ApiKeyRead,
    CreateApiKeyInput,
    ListApiKeysInput,
    RevokeApiKeyInput,
)
from server.keys.service import new_key_row
from server.models import ApiKey
from server.models.base import utcnow
from server.pagination import page


def _read(key: ApiKey, persisted: bool = True) -> ApiKeyRead:
    return ApiKeyRead(
        id=key.id if persisted else None,
        name=key.name,
        prefix=key.prefix if persisted else None,
        scopes=key.scopes,
        read_only=key.read_only,
        created_at=key.created_at if persisted else None,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def create_api_key(ctx: OpContext, session: Session, data: CreateApiKeyInput) -> ApiKeyPayload:
    key, secret = new_key_row(ctx.workspace_id, data.name, list(data.scopes), data.read_only)
    if data.dry_run:
        return ApiKeyPayload(
            key=_read(key, persisted=False),
            dry_run=True,
            recommended_next_action=for_real(),
        )
    session.add(key)
    return ApiKeyPayload(
        key=_read(key),
        secret=secret,
        recommended_next_action=hint(
            None, "Store the secret now (only its hash is kept) and send it as 'Authorization: Bearer <secret>'."
        ),
    )


def list_api_keys(ctx: OpContext, session: Session, data: ListApiKeysInput) -> ApiKeyList:
    query = select(ApiKey).where(ApiKey.workspace_id == ctx.workspace_id)
    rows, next_cursor = page(session, query, ApiKey.id, data.limit, data.cursor, newest_first=False)
    action = (
        hint("list_api_keys", "More keys follow.", cursor=next_cursor, limit=data.limit)
        if next_cursor
        else hint(None, "All keys listed.")
    )
    return ApiKeyList(items=[_read(k) for k in rows], next_cursor=next_cursor, recommended_next_action=action)


def revoke_api_key(ctx: OpContext, session: Session, data: RevokeApiKeyInput) -> ApiKeyPayload:
    check_id("api_key", data.id)
    key = session.exec(select(ApiKey).where(ApiKey.id == data.id, ApiKey.workspace_id == ctx.workspace_id)).first()
    if key is None:
        raise NotFound(
            f"No API key {data.id} in this workspace.",
            field="id",
            next_action=hint("list_api_keys", "List keys to find the right id."),
        )
    if key.revoked_at is not None:
        raise Conflict(f"Key {key.id} was already revoked.", field="id")
    if key.id == ctx.principal.key_id:
        raise Conflict("A key cannot revoke itself; use another admin key.", field="id")
    if not data.dry_run:
        key.revoked_at = utcnow()
        session.add(key)
    return ApiKeyPayload(
        key=_read(key),
        dry_run=data.dry_run,
        recommended_next_action=for_real() if data.dry_run else hint(None, "The key no longer authenticates."),
    )

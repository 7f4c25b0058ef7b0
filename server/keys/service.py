"""API keys: created once (shown once), stored as SHA-256 hashes, each scoped to one workspace."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from server.context import Principal
from server.db import session_scope
from server.errors import Unauthorized
from server.ids import new_id
from server.models import ApiKey, Workspace
from server.models.base import utcnow
from server.runtime import Runtime

DEFAULT_WORKSPACE = "ws_default"
ALL_SCOPES = ("read", "write", "deliver", "admin")
KEY_PREFIX = "hk_"


@dataclass(frozen=True)
class NewKey:
    id: str
    workspace_id: str
    name: str
    secret: str


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def ensure_workspace(session: Session, workspace_id: str = DEFAULT_WORKSPACE, name: str = "Default") -> Workspace:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        workspace = Workspace(id=workspace_id, name=name)
        session.add(workspace)
        session.flush()
    return workspace


def new_key_row(workspace_id: str, name: str, scopes: list[str], read_only: bool) -> tuple[ApiKey, str]:
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(
        id=new_id("api_key"),
        workspace_id=workspace_id,
        name=name,
        prefix=secret[:10],
        key_hash=hash_key(secret),
        scopes=sorted(set(scopes)),
        read_only=read_only,
    )
    return key, secret


def create_key(
    rt: Runtime,
    name: str,
    workspace_id: str = DEFAULT_WORKSPACE,
    scopes: tuple[str, ...] = ALL_SCOPES,
    read_only: bool = False,
) -> NewKey:
    """The CLI's path (any workspace); the API's is ``create_api_key`` (own workspace only)."""
    with session_scope(rt.engine) as session:
        ensure_workspace(session, workspace_id)
        key, secret = new_key_row(workspace_id, name, list(scopes), read_only)
        session.add(key)
    return NewKey(id=key.id, workspace_id=workspace_id, name=name, secret=secret)


LAST_USED_RESOLUTION = timedelta(minutes=1)


def authenticate(rt: Runtime, authorization: str | None) -> Principal:
    token = _bearer(authorization)
    with session_scope(rt.engine) as session:
        key = session.exec(select(ApiKey).where(ApiKey.key_hash == hash_key(token))).first()
        return _principal(session, key)


def principal_by_id(rt: Runtime, key_id: str) -> Principal:
    """The principal of a key known by id (a console session), refused once the key is revoked."""
    with session_scope(rt.engine) as session:
        return _principal(session, session.get(ApiKey, key_id))


def _principal(session: Session, key: ApiKey | None) -> Principal:
    if key is None or key.revoked_at is not None:
        raise Unauthorized("The API key is not valid (unknown or revoked).")
    now = utcnow()
    if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
        # To the minute: a write on every request would cost each call a transaction.
        session.execute(update(ApiKey).where(col(ApiKey.id) == key.id).values(last_used_at=now))
    return Principal(
        workspace_id=key.workspace_id,
        key_id=key.id,
        name=key.name,
        scopes=tuple(key.scopes),
        read_only=key.read_only,
    )


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthorized("Missing API key: send 'Authorization: Bearer <key>'.")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Malformed Authorization header: expected 'Bearer <key>'.")
    return token.strip()


def has_any_key(rt: Runtime) -> bool:
    with session_scope(rt.engine) as session:
        return session.exec(select(ApiKey.id).limit(1)).first() is not None

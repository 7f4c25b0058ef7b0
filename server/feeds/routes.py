"""``GET /feeds/{targetId}.rss|.atom|.json``: the feeds of ``feed`` targets, with conditional GET.

Each representation has a strong ETag (a digest of its bytes) and a Last-Modified (the newest change of
an entry in the window, or of the target's settings). ``If-None-Match`` is checked first (RFC 9110:
``If-Modified-Since`` counts only without it); a match answers 304 with no body.

A private feed needs its token, as ``?token=`` or ``Authorization: Bearer``. Without it, or with a
wrong one, the answer is the same 404 as for a target that does not exist or is not a feed: nothing
says whether the feed exists. An inactive target's feed is not served either. HEAD answers like GET
without the body (the ASGI server drops it).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from adapters import ChannelName
from adapters.feed import FeedConfig, FeedCredentials
from server.db import session_scope
from server.feeds.documents import MEDIA_TYPES, RENDERERS, FeedDocument, rfc822
from server.feeds.store import feed_urls
from server.models import FeedEntryRow, Target
from server.runtime import Runtime
from server.targets.repository import credentials_of

NOT_FOUND = {"error": {"code": "NOT_FOUND", "message": "No such feed."}}


def _not_found() -> Response:
    return JSONResponse(NOT_FOUND, status_code=404, headers={"Cache-Control": "no-store"})


def _given_token(request: Request) -> str | None:
    authorization = request.headers.get("authorization", "")
    if authorization[:7].lower() == "bearer ":
        return authorization[7:].strip()
    return request.query_params.get("token")


def _load(rt: Runtime, target_id: str, token: str | None) -> FeedDocument | None:
    """The feed to serve, or None (unknown, not a feed, inactive, or a private feed without its token)."""
    with session_scope(rt.engine) as session:
        target = session.get(Target, target_id)
        if target is None or target.channel != ChannelName.FEED or not target.active:
            return None
        config = FeedConfig.model_validate(target.config)
        if not config.public:
            stored = credentials_of(target, rt.box)
            expected = FeedCredentials.model_validate(stored).token if stored else None
            if not expected or token is None or not hmac.compare_digest(token.encode(), expected.encode()):
                return None
        entries = list(
            session.exec(
                select(FeedEntryRow)
                .where(FeedEntryRow.target_id == target_id)
                .order_by(col(FeedEntryRow.updated_at).desc(), col(FeedEntryRow.id).desc())
                .limit(config.max_items)
            ).all()
        )
        changes = [target.updated_at, *(entry.updated_at for entry in entries)]
        updated = max(moment if moment.tzinfo else moment.replace(tzinfo=UTC) for moment in changes)
        return FeedDocument(
            target_id=target.id,
            target_name=target.name,
            config=config,
            entries=entries,
            urls=feed_urls(rt.settings.public_base_url, target.id),
            updated=updated,
        )


def _etag_matches(header: str, etag: str) -> bool:
    """If-None-Match uses the weak comparison: ``W/"x"`` matches ``"x"``; ``*`` matches any."""
    tags = [part.strip() for part in header.split(",")]
    return "*" in tags or any(tag.removeprefix("W/") == etag for tag in tags)


def _not_modified_since(header: str, updated: datetime) -> bool:
    try:
        since = parsedate_to_datetime(header)
    except (TypeError, ValueError):
        return False
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    return updated.replace(microsecond=0) <= since


async def serve_feed(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    name: str = request.path_params["name"]
    target_id, _, kind = name.rpartition(".")
    if kind not in RENDERERS or not target_id.startswith("tgt_"):
        return _not_found()
    doc = await anyio.to_thread.run_sync(_load, rt, target_id, _given_token(request))
    if doc is None:
        return _not_found()
    body = RENDERERS[kind](doc)
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    headers: dict[str, Any] = {
        "ETag": etag,
        "Last-Modified": rfc822(doc.updated),
        "Cache-Control": "no-cache" if doc.config.public else "private, no-cache",
        "Vary": "Authorization",
    }
    if doc.config.websub_hub:
        headers["Link"] = f'<{doc.config.websub_hub}>; rel="hub", <{doc.urls[kind]}>; rel="self"'
    if_none_match = request.headers.get("if-none-match")
    if_modified_since = request.headers.get("if-modified-since")
    if (if_none_match is not None and _etag_matches(if_none_match, etag)) or (
        if_none_match is None and if_modified_since is not None and _not_modified_since(if_modified_since, doc.updated)
    ):
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type=MEDIA_TYPES[kind])


ROUTES = [Route("/feeds/{name}", serve_feed, methods=["GET", "HEAD"])]

"""``SqlFeedStore``: the ``adapters.io.FeedStore`` over the ``feed_entries`` table.

An upsert is its own short transaction, run off the delivery loop. It is idempotent: the same
(target, content id, version) again changes nothing, so an at-least-once redelivery never adds a
second entry, nor moves the feed's ETag. A new version updates the entry (``published_at`` stays)
unless the entry holds the version of a newer plan: a late retry of an older plan is ``superseded``.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from adapters.base import FeedEntry, FeedUpsert
from adapters.feed import FEED_FORMATS
from adapters.io import FeedOutcome
from server.db import retry_on_conflict, session_scope
from server.models import FeedEntryRow, Plan, Target
from server.models.base import utcnow


def feed_urls(base_url: str, target_id: str) -> dict[str, str]:
    return {name: f"{base_url}/feeds/{target_id}.{name}" for name in FEED_FORMATS}


class SqlFeedStore:
    def __init__(self, engine: Engine, base_url: str) -> None:
        self.engine = engine
        self.base_url = base_url

    def feed_urls(self, target_id: str) -> dict[str, str]:
        return feed_urls(self.base_url, target_id)

    async def upsert(self, target_id: str, entry: FeedEntry) -> FeedUpsert:
        outcome = await asyncio.to_thread(self.upsert_now, target_id, entry)
        return FeedUpsert(entry_id=entry.entry_id, outcome=outcome, feed_urls=self.feed_urls(target_id))

    def upsert_now(self, target_id: str, entry: FeedEntry) -> FeedOutcome:
        """Write ``entry``; two deliveries racing to create it: the loser finds the winner's row and updates it."""
        for last in (False, True):
            try:
                return retry_on_conflict(lambda: self._transaction(target_id, entry))
            except IntegrityError:
                if last:
                    raise
        raise AssertionError("unreachable")

    def _transaction(self, target_id: str, entry: FeedEntry) -> FeedOutcome:
        with session_scope(self.engine) as session:
            return _upsert(session, target_id, entry, utcnow())


def _upsert(session: Session, target_id: str, entry: FeedEntry, now: datetime) -> FeedOutcome:
    query = select(FeedEntryRow).where(FeedEntryRow.target_id == target_id, FeedEntryRow.content_id == entry.content_id)
    row = session.exec(query.with_for_update()).first()
    plan_created_at = session.exec(select(Plan.created_at).where(Plan.id == entry.plan_id)).first()
    fields: dict[str, Any] = {
        "version": entry.version,
        "title": entry.title,
        "body": entry.body,
        "summary": entry.summary,
        "url": entry.url,
        "plan_id": entry.plan_id,
        "plan_created_at": plan_created_at,
    }
    if row is None:
        workspace_id = session.exec(select(Target.workspace_id).where(Target.id == target_id)).one()
        session.add(
            FeedEntryRow(
                id=entry.entry_id,
                workspace_id=workspace_id,
                target_id=target_id,
                content_id=entry.content_id,
                published_at=now,
                updated_at=now,
                **fields,
            )
        )
        session.flush()
        return "created"
    if all(getattr(row, name) == value for name, value in fields.items() if name not in ("plan_id", "plan_created_at")):
        return "unchanged"
    if row.plan_created_at and plan_created_at and row.plan_created_at > plan_created_at:
        return "superseded"
    for name, value in fields.items():
        setattr(row, name, value)
    row.updated_at = now
    session.add(row)
    return "updated"

"""Reading what the engine did with a chat channel's deliveries, for the tests that drive a fake through it:
attempts, receipts, pause events, the target's row; and the doors on either backend."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from server.db import session_scope
from server.models import Attempt, Job, OperationalEvent, Receipt, Target
from tests.support import services
from tests.support.doors import Doors, doors

# Engine-path parameters: SQLite with the embedded worker, and PostgreSQL + Redis (an integration test).
BACKENDS = ["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.integration)]
SETTINGS: dict[str, Any] = {"delivery_timeout_seconds": 2.0}


@asynccontextmanager
async def doors_on(backend: str, tmp_path: Path, **settings: Any) -> AsyncIterator[Doors]:
    if backend == "sqlite":
        async with doors(tmp_path, **{**SETTINGS, **settings}) as opened:
            yield opened
        return
    schema = f"herald_chat_{services.RUN_TAG}_{tmp_path.name[-12:]}".lower().replace("-", "_")
    namespace = services.redis_namespace(f"herald-chat-{services.RUN_TAG}-{tmp_path.name}")
    backend_settings = {
        "database_url": services.postgres_schema_url(schema),
        "redis_url": services.REDIS_URL,
        "redis_namespace": namespace,
    }
    try:
        async with doors(tmp_path, **{**SETTINGS, **settings}, **backend_settings) as opened:
            yield opened
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)


def attempts(d: Doors, job_id: str) -> list[Attempt]:
    with session_scope(d.rt.engine) as session:
        query = select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)
        return list(session.exec(query).all())


def receipt(d: Doors, job_id: str) -> Receipt | None:
    with session_scope(d.rt.engine) as session:
        return session.exec(select(Receipt).where(Receipt.job_id == job_id)).first()


def job(d: Doors, job_id: str) -> Job:
    with session_scope(d.rt.engine) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def target(d: Doors, target_id: str) -> Target:
    with session_scope(d.rt.engine) as session:
        found = session.get(Target, target_id)
        assert found is not None
        return found


def events(d: Doors, type_: str, target_id: str | None = None) -> list[OperationalEvent]:
    with session_scope(d.rt.engine) as session:
        query = select(OperationalEvent).where(OperationalEvent.type == type_)
        if target_id is not None:
            query = query.where(OperationalEvent.target_id == target_id)
        return list(session.exec(query).all())


async def create_target(
    d: Doors, channel: str, config: dict[str, Any], credentials: dict[str, Any], **extra: Any
) -> str:
    extra.setdefault("name", f"{channel}-{uuid.uuid4().hex[:8]}")
    body = await d.ok("create_distribution_target", channel=channel, config=config, credentials=credentials, **extra)
    target_id: str = body["target"]["id"]
    return target_id


async def delivered_plan(d: Doors, target_id: str, **fields: Any) -> dict[str, Any]:
    """A plan to ``target_id`` awaited until its jobs are final (at most 15 s); returns the plan."""
    from tests.support import factories

    body = await factories.plan(d, target_id, awaitDelivery=True, awaitTimeoutSeconds=15, **fields)
    plan: dict[str, Any] = body["plan"]
    return plan

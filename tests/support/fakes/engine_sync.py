"""Running channel deliveries through the real engine against a fake, step by step on a runtime (no doors):
targets and plans through the dispatch pipeline, jobs processed by ``process_job``, the job, attempts and
receipt read back. (``engine.py`` is the doors-based twin the chat channels' tests use.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from server.db import session_scope
from server.delivery.engine import process_job
from server.models import Attempt, Job, Receipt, Target
from server.models.base import utcnow
from server.runtime import Runtime
from tests.support import factories, services
from tests.support.factories import call
from tests.support.queues import RecordingQueue
from tests.support.waiting import until

CLIENT_TIMEOUT = 1.5  # the delivery timeout: a fake's stalled answer outlasts it


def engine_runtime(tmp_path: Path, request: pytest.FixtureRequest | None = None, database: str = "sqlite") -> Runtime:
    """A runtime with a short delivery timeout; on "postgresql" also Redis (limiter, events) in a fresh namespace."""
    overrides: dict[str, Any] = {"delivery_timeout_seconds": CLIENT_TIMEOUT, "batch_patience_seconds": 5.0}
    if database == "sqlite":
        rt = factories.runtime(tmp_path, **overrides)
    else:
        assert request is not None
        namespace = services.redis_namespace(re.sub(r"\W", "-", f"herald-{request.node.name[:24]}-{services.RUN_TAG}"))
        request.addfinalizer(lambda: services.drop_redis_namespace(namespace))
        overrides.update(redis_url=services.REDIS_URL, redis_namespace=namespace)
        rt = factories.runtime_on("postgresql", request, tmp_path, **overrides)
    rt.queue = RecordingQueue()
    return rt


def create_target(
    rt: Runtime, channel: str, config: dict[str, Any], credentials: dict[str, Any] | None, **fields: Any
) -> str:
    result = call(
        rt,
        "create_distribution_target",
        name=f"{channel}-target",
        channel=channel,
        config=config,
        credentials=credentials,
        **fields,
    )
    return str(result.target.id)


def plan_job(rt: Runtime, target_id: str, **content: Any) -> str:
    result = call(rt, "create_distribution_plan", content=factories.content(**content), targetIds=[target_id])
    [job] = result.plan.jobs
    return str(job.id)


def job(rt: Runtime, job_id: str) -> Job:
    with session_scope(rt.engine) as session:
        found = session.get(Job, job_id)
        assert found is not None
        return found


def target(rt: Runtime, target_id: str) -> Target:
    with session_scope(rt.engine) as session:
        found = session.get(Target, target_id)
        assert found is not None
        return found


def attempts(rt: Runtime, job_id: str) -> list[Attempt]:
    with session_scope(rt.engine) as session:
        query = select(Attempt).where(Attempt.job_id == job_id).order_by(Attempt.number)
        return list(session.exec(query).all())


def receipt(rt: Runtime, job_id: str) -> Receipt:
    with session_scope(rt.engine) as session:
        return session.exec(select(Receipt).where(Receipt.job_id == job_id)).one()


def attempt_once(rt: Runtime, job_id: str) -> Job:
    """Process the job once and wait (with a deadline) until the attempt is recorded."""
    process_job(rt, job_id)
    return until(
        lambda: job(rt, job_id), timeout=10, message="the attempt recorded", done=lambda j: j.status != "delivering"
    )


def retry_when_due(rt: Runtime, job_id: str) -> Job:
    """Wait until the scheduled job is due (a short retry delay), then process it once more."""
    due = job(rt, job_id).next_attempt_at
    assert due is not None
    until(lambda: utcnow() >= due, timeout=5, message="the retry is due")
    return attempt_once(rt, job_id)

"""Worker heartbeats: /healthz, the `workers` operation and a waiting plan say whether anyone delivers.

Before: in Redis mode with no worker, plans stayed queued with heldReason null, a "still delivering" hint and an
`ok` /healthz; workers logged nothing per delivery.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from server.app import create_app
from server.db import session_scope
from server.jobs import workers
from server.keys.service import create_key
from server.logs import JsonFormatter
from server.models import WorkerHeartbeat
from server.models.base import utcnow
from server.runtime import Runtime
from tasks.worker import DeliveryWorker
from tests.support import factories, services
from tests.support.doors import doors
from tests.support.live import ROOT
from tests.support.waiting import until, until_async

BEAT = 0.2


@pytest.mark.anyio
async def test_the_embedded_worker_beats_and_says_when_it_last_claimed(tmp_path: Path) -> None:
    async with doors(tmp_path, worker_heartbeat_seconds=BEAT) as d:
        first = await d.ok("list_workers")
        [worker] = first["workers"]
        assert (first["alive"], worker["mode"], worker["alive"]) == (1, "embedded", True)
        assert (worker["lastClaimAt"], worker["batches"]) == (None, 0)
        assert first["recommendedNextAction"]["reason"] == "1 delivery worker(s) alive."
        assert first["recommendedNextAction"]["tool"] is None
        target = await factories.stub_target(d)
        await factories.plan(d, target, awaitDelivery=True)
        later = await until_async(
            lambda: d.ok("list_workers"),
            done=lambda body: body["workers"][0]["batches"] >= 1,
            timeout=10,
            message="the heartbeat after a batch",
        )
        assert later["workers"][0]["id"] == worker["id"]
        assert later["workers"][0]["lastClaimAt"] is not None
        assert later["workers"][0]["lastBeatAt"] > worker["lastBeatAt"]
        engine = d.rt.engine
    with session_scope(engine) as session:
        assert session.get(WorkerHeartbeat, worker["id"]) is None  # a clean stop removes its row


def test_a_worker_that_stopped_beating_is_not_alive(tmp_path: Path) -> None:
    rt = factories.runtime(tmp_path, worker_heartbeat_seconds=BEAT)
    gone = workers.WorkerStats.new("redis")
    workers.beat(rt.engine, gone)
    with session_scope(rt.engine) as session:
        row = session.get(WorkerHeartbeat, gone.id)
        assert row is not None
        row.beat_at = utcnow() - timedelta(seconds=BEAT * workers.MISSED_BEATS + 1)
        session.add(row)
    body = factories.call(rt, "list_workers", includeGone=True).wire()
    assert (body["alive"], [(w["id"], w["alive"]) for w in body["workers"]]) == (0, [(gone.id, False)])
    assert factories.call(rt, "list_workers").wire()["workers"] == []
    rt.close()


@pytest.mark.integration
def test_redis_mode_without_a_worker_says_so_until_one_starts(tmp_path: Path) -> None:
    namespace = services.redis_namespace(f"herald-workers-{services.RUN_TAG}")
    # Beats far apart enough that a loaded machine cannot make the running worker look gone.
    settings = {"redis_url": services.REDIS_URL, "redis_namespace": namespace, "worker_heartbeat_seconds": 5.0}
    rt = factories.runtime(tmp_path, **settings)
    sender = DeliveryWorker(rt, consume=False)  # the queue a `herald serve --no-worker` sends on
    app = create_app(factories.test_settings(tmp_path, **settings), worker=False)
    try:
        with TestClient(app) as client:
            health = client.get("/healthz").json()
            assert health["status"] == "degraded" and health["workers"] == {"alive": 0, "items": []}
            assert health["problems"] == [workers.HELD_BY_NO_WORKER + workers.NO_WORKER_REMEDY]

            target = factories.call(rt, "create_distribution_target", name="s", channel="stub", config={}).target.id
            created = factories.call(rt, "create_distribution_plan", content=factories.content(), targetIds=[target])
            [job] = created.plan.jobs
            assert job.held_reason == workers.HELD_BY_NO_WORKER + workers.NO_WORKER_REMEDY
            assert created.recommended_next_action.tool == "list_workers"
            assert created.recommended_next_action.reason.startswith("No delivery worker is alive, so 1 due job(s)")
            plan = created.plan.id

            worker = DeliveryWorker(rt)
            worker.start()
            try:
                done = until(
                    lambda: factories.call(rt, "get_distribution_plan", id=plan),
                    done=lambda read: read.plan.status == "succeeded",
                    timeout=20,
                    message="the plan delivered once a worker runs",
                )
                assert done.plan.jobs[0].held_reason is None
                health = client.get("/healthz").json()
                assert (health["status"], health["workers"]["alive"]) == ("ok", 1)
                assert [item["id"] for item in health["workers"]["items"]] == [worker.stats.id]
                assert "problems" not in health
                key = create_key(rt, "ops").secret
                query = "{ workers { ... on WorkerStatusResult { alive workers { id mode lastClaimAt batches } } } }"

                def over_graphql() -> dict:
                    response = client.post(
                        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {key}"}
                    )
                    return response.json()["data"]["workers"]

                seen = until(over_graphql, done=lambda w: w["workers"][0]["batches"] >= 1, timeout=30, message="a beat")
                assert (seen["alive"], seen["workers"][0]["id"], seen["workers"][0]["mode"]) == (
                    1,
                    worker.stats.id,
                    "redis",
                )
                assert seen["workers"][0]["lastClaimAt"] is not None
            finally:
                worker.stop()
    finally:
        sender.broker.close()
        rt.close()
        services.drop_redis_namespace(namespace)


def test_a_batch_logs_one_info_line_and_each_attempt_a_debug_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from server.delivery.engine import process_jobs

    rt: Runtime = factories.runtime(tmp_path)
    target = factories.call(rt, "create_distribution_target", name="s", channel="stub", config={}).target.id
    plan = factories.call(rt, "create_distribution_plan", content=factories.content(), targetIds=[target]).plan
    with caplog.at_level(logging.DEBUG, logger="server.delivery.engine"):
        process_jobs(rt, [plan.jobs[0].id])
    lines = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "server.delivery.engine"]
    assert [level for level, _ in lines] == ["DEBUG", "INFO"]
    assert lines[0][1].startswith(f"attempt 1 of job {plan.jobs[0].id} to target {target}: delivered in ")
    assert lines[1][1].startswith("batch of 1 job(s): 1 claimed, 1 delivered, 0 failed, 0 held, 0 still sending, in ")
    batch = next(r for r in caplog.records if r.levelname == "INFO")
    assert json.loads(JsonFormatter().format(batch))["batch"]["delivered"] == 1
    rt.close()


def test_herald_log_format_json_writes_one_object_per_line() -> None:
    code = (
        "import logging; from server.config import Settings; from server.logs import configure_logging; "
        "configure_logging(Settings()); logging.getLogger('herald').info('hello %s', 'there', extra={'jobs': 3})"
    )
    env = {**os.environ, "HERALD_LOG_FORMAT": "json"}
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, timeout=30)
    [line] = out.stderr.splitlines()
    record = json.loads(line)
    assert {k: record[k] for k in ("level", "logger", "message", "jobs")} == {
        "level": "INFO", "logger": "herald", "message": "hello there", "jobs": 3
    }  # fmt: skip

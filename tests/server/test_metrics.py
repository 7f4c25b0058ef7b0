"""/metrics, read by the Prometheus text parser: counters of attempts through real HTTP receivers, the
duration histogram, retries, schedule runs, and the gauges read from the database and the queue at scrape time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlmodel import col
from starlette.testclient import TestClient

from server.app import create_app
from server.clock import TestClock
from server.db import session_scope
from server.jobs.status import PLAN_FINAL
from server.models import Target
from server.models.base import utcnow
from server.runtime import Runtime
from server.schedules.firing import tick_schedules
from tests.support import factories
from tests.support.factories import FAST_RETRY, call
from tests.support.live import LiveHerald, free_port, redis_mode_herald
from tests.support.queues import RecordingQueue
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
JOB_STATUSES = ("pending", "scheduled", "delivering", "delivered", "failed", "dead", "skipped", "cancelled")


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and sorted labels."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def deliveries(samples: Samples) -> dict[str, float]:
    return {dict(labels)["outcome"]: v for (name, labels), v in samples.items() if name == "herald_deliveries_total"}


def jobs(samples: Samples) -> dict[str, float]:
    return {dict(labels)["status"]: v for (name, labels), v in samples.items() if name == "herald_jobs"}


@pytest.fixture
def app_client(tmp_path: Path) -> Iterator[TestClient]:
    """The whole app with its embedded worker, on a SQLite copy already migrated."""
    factories.runtime(tmp_path).close()
    with TestClient(create_app(factories.test_settings(tmp_path))) as client:
        yield client


def webhook(rt: Runtime, name: str, url: str) -> str:
    created = call(rt, "create_distribution_target", name=name, channel="webhook", config={"url": url})
    call(rt, "update_distribution_target", id=created.target.id, retryPolicy=FAST_RETRY)
    return str(created.target.id)


def finished_plan(rt: Runtime, *target_ids: str) -> Any:
    plan_id = call(rt, "create_distribution_plan", content=factories.content(), targetIds=list(target_ids)).plan.id
    return until(
        lambda: call(rt, "get_distribution_plan", id=plan_id).plan,
        timeout=30,
        done=lambda plan: plan.status in PLAN_FINAL,
        message=f"plan {plan_id} final",
    )


def test_deliveries_durations_retries_and_jobs(app_client: TestClient, receiver: Receiver) -> None:
    rt: Runtime = app_client.app.state.runtime  # type: ignore[attr-defined]
    receiver.script["/bad"] = [Reply(400)]
    receiver.script["/flaky"] = [Reply(500), Reply(200)]
    receiver.script["/limited"] = [Reply(429, headers={"Retry-After": "0"}), Reply(200)]
    targets = [webhook(rt, path, receiver.url + "/" + path) for path in ("ok", "bad", "flaky", "limited")]
    assert parse(app_client.get("/metrics").text)[("herald_jobs", (("status", "pending"),))] == 0

    plan = finished_plan(rt, *targets)

    assert plan.status == "partial"
    response = app_client.get("/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    samples = parse(response.text)
    assert deliveries(samples) == {"delivered": 3, "permanent": 1, "transient": 1, "rate_limited": 1}
    channel = (("channel", "webhook"),)
    assert samples[("herald_attempt_duration_seconds_count", channel)] == 6
    assert samples[("herald_attempt_duration_seconds_bucket", (("channel", "webhook"), ("le", "+Inf")))] == 6
    assert 0 < samples[("herald_attempt_duration_seconds_sum", channel)] < 6 * 10
    retries = {k[1]: v for k, v in samples.items() if k[0] == "herald_retries_total"}
    assert retries == {(("error_class", "rate_limited"),): 1, (("error_class", "transient"),): 1}
    assert jobs(samples) == {status: {"delivered": 3, "failed": 1}.get(status, 0) for status in JOB_STATUSES}
    assert len(receiver.requests) == 6  # each counted attempt reached the receiver


def test_state_gauges_read_at_scrape_time(tmp_path: Path) -> None:
    """No worker consumes: the plan's message waits in the embedded queue; pauses and circuits come from the rows."""
    factories.runtime(tmp_path).close()
    with TestClient(create_app(factories.test_settings(tmp_path), worker=False)) as client:
        rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
        ids = [str(call(rt, "create_distribution_target", name=f"s{i}", channel="stub").target.id) for i in range(4)]
        call(rt, "create_distribution_plan", content=factories.content(), targetIds=ids)
        with session_scope(rt.engine) as session:
            soon, past = utcnow() + timedelta(minutes=5), utcnow() - timedelta(minutes=5)
            set_ = [(ids[0], {"paused_until": soon}), (ids[1], {"paused_until": past, "circuit_state": "open"})]
            set_.append((ids[2], {"circuit_state": "half_open"}))
            for target_id, values in set_:
                session.execute(update(Target).where(col(Target.id) == target_id).values(**values))

        samples = parse(client.get("/metrics").text)

    assert jobs(samples) == {status: 4 if status == "pending" else 0 for status in JOB_STATUSES}
    assert samples[("herald_targets_paused", ())] == 1
    circuits = {k[1]: v for k, v in samples.items() if k[0] == "herald_target_circuits"}
    assert circuits == {(("state", "half_open"),): 1, (("state", "open"),): 1}
    assert samples[("herald_queue_depth", ())] == 1  # one message carries the four jobs
    assert deliveries(samples) == {}


def test_schedule_runs_by_outcome(tmp_path: Path) -> None:
    rt = factories.runtime(tmp_path)
    rt.queue, start = RecordingQueue(), datetime(2026, 11, 30, 6, 0, tzinfo=UTC)
    rt.clock = clock = TestClock(start)
    try:
        target = str(call(rt, "create_distribution_target", name="s", channel="stub").target.id)
        plan = {"targetIds": [target], "content": factories.content()}
        every = {"intervalSeconds": 3600, "startAt": start.isoformat(), "catchupWindowSeconds": 600, "overlap": "skip"}
        call(rt, "create_distribution_schedule", name="hourly", plan=plan, **every)
        clock.set(start + timedelta(hours=2, minutes=5))
        assert tick_schedules(rt) == 1  # 00:00 and 01:00 missed (skipped), 02:00 fired
        clock.set(start + timedelta(hours=3))
        assert tick_schedules(rt) == 0  # 03:00 skipped: the 02:00 plan has not ended (nobody delivers)
        outcomes = {
            outcome: rt.metrics.registry.get_sample_value("herald_schedule_runs_total", {"outcome": outcome})
            for outcome in ("fired", "skipped", "failed")
        }
    finally:
        rt.close()
    assert outcomes == {"fired": 1, "skipped": 3, "failed": None}


@pytest.mark.integration
@pytest.mark.slow
def test_a_scrape_of_server_and_workers_sees_every_delivery(tmp_path: Path, receiver: Receiver) -> None:
    """PostgreSQL + Redis, `herald serve --no-worker` and two `herald worker`s, each on its own metrics port."""
    receiver.script["/flaky"] = [Reply(503), Reply(200)]
    with redis_mode_herald(tmp_path, "metrics", workers=0) as live:
        ports = [free_port(), free_port()]
        for port in ports:
            live.start_worker(worker_metrics_port=str(port))
        for port in ports:
            until(
                lambda port=port: _scrape(f"http://127.0.0.1:{port}/metrics"),
                timeout=60,
                interval=0.5,
                message=f"port {port}",
            )
        targets = [_live_webhook(live, f"t{i}", receiver.url + ("/flaky" if i == 0 else "/ok")) for i in range(20)]
        plan_id = _live_plan(live, targets)
        until(
            lambda: _live_status(live, plan_id) in PLAN_FINAL,
            timeout=60,
            interval=0.5,
            message=f"plan {plan_id} final",
        )
        server = parse(_scrape(live.url + "/metrics") or "")
        per_worker = [parse(_scrape(f"http://127.0.0.1:{port}/metrics") or "") for port in ports]
    assert deliveries(server) == {}  # this server does not deliver
    assert jobs(server)["delivered"] == 20
    summed: dict[str, float] = {}
    for samples in per_worker:
        assert jobs(samples) == {}  # the database's state is the server's to report, once
        for outcome, value in deliveries(samples).items():
            summed[outcome] = summed.get(outcome, 0) + value
    assert summed == {"delivered": 20, "transient": 1}
    assert len(receiver.requests) == 21
    counts = [s.get(("herald_attempt_duration_seconds_count", (("channel", "webhook"),)), 0) for s in per_worker]
    assert sum(counts) == 21


def _scrape(url: str) -> str | None:
    try:
        response = httpx.get(url, timeout=5)
    except httpx.HTTPError:
        return None
    return response.text if response.status_code == 200 else None


CREATE_TARGET = """mutation($name: String!, $config: JSON, $retry: RetryPolicyInput) {
  createDistributionTarget(name: $name, channel: WEBHOOK, config: $config, retryPolicy: $retry) {
    ... on TargetPayload { target { id } }
  }
}"""
CREATE_PLAN = """mutation($content: ContentInput!, $targetIds: [ID!]) {
  createDistributionPlan(content: $content, targetIds: $targetIds) { ... on PlanPayload { plan { id } } }
}"""
PLAN_STATUS = """query($id: ID!) { distributionPlan(id: $id) { ... on PlanResult { plan { status } } } }"""


def _live_webhook(live: LiveHerald, name: str, url: str) -> str:
    variables = {"name": name, "config": {"url": url}, "retry": FAST_RETRY}
    return str(live.graphql(CREATE_TARGET, variables)["createDistributionTarget"]["target"]["id"])


def _live_plan(live: LiveHerald, targets: list[str]) -> str:
    variables = {"content": factories.content(), "targetIds": targets}
    return str(live.graphql(CREATE_PLAN, variables)["createDistributionPlan"]["plan"]["id"])


def _live_status(live: LiveHerald, plan_id: str) -> str:
    return str(live.graphql(PLAN_STATUS, {"id": plan_id})["distributionPlan"]["plan"]["status"]).lower()

"""Eager delivery in Redis mode: `herald serve --no-worker` with no worker at all delivers an awaitDelivery
plan itself; a worker started afterwards gets the plan's message and sends nothing again."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from tests.support import factories
from tests.support.live import LiveHerald, redis_mode_herald
from tests.support.receiver import Receiver
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CREATE_TARGET = """mutation($name: String!, $config: JSON) {
  createDistributionTarget(name: $name, channel: WEBHOOK, config: $config) {
    ... on TargetPayload { target { id } } } }"""
CREATE_PLAN = """mutation($content: ContentInput!, $targetIds: [ID!], $wait: Float) {
  createDistributionPlan(content: $content, targetIds: $targetIds, awaitDelivery: true, awaitTimeoutSeconds: $wait) {
    ... on PlanPayload { timedOut plan { id status jobs { status attempts receipt { externalId } } } }
    ... on OperationError { code message } } }"""
GET_PLAN = """query($id: ID!) { distributionPlan(id: $id) {
  ... on PlanResult { plan { status jobs { status attempts } } } } }"""


def _plan_to_new_target(live: LiveHerald, receiver: Receiver, path: str, wait: float) -> dict:
    config = {"url": receiver.url + path}
    target = live.graphql(CREATE_TARGET, {"name": f"eager-{time.monotonic_ns()}", "config": config})
    target_id = target["createDistributionTarget"]["target"]["id"]
    created = live.graphql(CREATE_PLAN, {"content": factories.content(), "targetIds": [target_id], "wait": wait})
    result: dict = created["createDistributionPlan"]
    return result


def _jobs(live: LiveHerald, plan_id: str) -> list[dict]:
    jobs: list[dict] = live.graphql(GET_PLAN, {"id": plan_id})["distributionPlan"]["plan"]["jobs"]
    return jobs


def _attempts_counted(live: LiveHerald) -> float:
    text = httpx.get(live.url + "/metrics", headers=live.headers).text
    lines = [line for line in text.splitlines() if line.startswith("herald_deliveries_total{")]
    return sum(float(line.rsplit(" ", 1)[1]) for line in lines if 'outcome="delivered"' in line)


def _workers(live: LiveHerald) -> dict:
    workers: dict = httpx.get(live.url + "/healthz").json()["workers"]
    return workers


def _took_a_message(live: LiveHerald) -> bool:
    return any(item["lastClaimAt"] is not None for item in _workers(live)["items"])


def test_the_server_delivers_without_any_worker(tmp_path: Path, receiver: Receiver) -> None:
    with redis_mode_herald(tmp_path, "eager", workers=0) as live:
        result = _plan_to_new_target(live, receiver, "/eager", wait=20)
        [job] = result["plan"]["jobs"]
        assert result["timedOut"] is False and result["plan"]["status"] == "SUCCEEDED"
        assert (job["status"], job["attempts"], job["receipt"] is not None) == ("DELIVERED", 1, True)
        assert _attempts_counted(live) == 1
        live.start_worker(worker_heartbeat_seconds="0.2")  # it gets the plan's message: nothing left to claim
        until(lambda: _took_a_message(live), timeout=60, message="the worker took the plan's message")
        assert len(receiver.at("/eager")) == 1
        assert _jobs(live, result["plan"]["id"]) == [{"status": "DELIVERED", "attempts": 1}]


def test_with_eager_delivery_off_the_call_waits_for_a_worker(tmp_path: Path, receiver: Receiver) -> None:
    with redis_mode_herald(tmp_path, "eager-off", workers=0, eager_delivery_max_jobs="0") as live:
        result = _plan_to_new_target(live, receiver, "/off", wait=1)
        assert result["timedOut"] is True and result["plan"]["status"] == "QUEUED"
        assert result["plan"]["jobs"][0]["attempts"] == 0 and receiver.at("/off") == []
        live.start_worker()
        until(lambda: _jobs(live, result["plan"]["id"])[0]["status"] == "DELIVERED", timeout=60, message="delivered")
        assert len(receiver.at("/off")) == 1

"""Nothing is lost: killed workers, a flushed Redis, a restarted server. Each test prints what it saw."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import redis

from tests.faults.harness import Cluster, cluster
from tests.support import factories
from tests.support.receiver import Receiver

pytestmark = pytest.mark.integration
TARGETS, PLANS = 100, 20

CREATE_TARGET = """mutation($name: String!, $url: JSON) { createDistributionTarget(name: $name, channel: WEBHOOK,
  config: $url, labels: ["fault"]) {
    ... on TargetPayload { target { id } } ... on OperationError { code message } } }"""
CREATE_PLAN = """mutation($content: ContentInput!, $labels: [String!], $wait: Boolean) {
  createDistributionPlan(content: $content, targetLabels: $labels, awaitDelivery: $wait, awaitTimeoutSeconds: 30) {
    ... on PlanPayload { plan { id status counts { total delivered dead failed } } }
    ... on OperationError { code message } } }"""
PLAN = """query($id: ID!) { distributionPlan(id: $id) { ... on PlanResult {
  plan { id status counts { total delivered dead failed pending delivering } } } } }"""


def fan_out(c: Cluster, receiver: Receiver, plans: int = PLANS) -> list[str]:
    for i in range(TARGETS):
        c.live.graphql(CREATE_TARGET, {"name": f"t{i}", "url": {"url": f"{receiver.url}/t{i}"}})
    return [
        c.live.graphql(CREATE_PLAN, {"content": factories.content(), "labels": ["fault"], "wait": False})[
            "createDistributionPlan"
        ]["plan"]["id"]
        for _ in range(plans)
    ]


def wait_final(c: Cluster, plan_ids: list[str], timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        plans = [c.live.graphql(PLAN, {"id": pid})["distributionPlan"]["plan"] for pid in plan_ids]
        if all(p["status"] in ("SUCCEEDED", "PARTIAL", "FAILED") for p in plans) or time.monotonic() > deadline:
            return plans
        time.sleep(0.5)


def delivered_so_far(receiver: Receiver) -> int:
    return len({r.headers["webhook-id"] for r in list(receiver.requests)})


def verdict(plans: list[dict], receiver: Receiver, started: float, label: str) -> None:
    total = sum(p["counts"]["total"] for p in plans)
    delivered = sum(p["counts"]["delivered"] for p in plans)
    dead = sum(p["counts"]["dead"] for p in plans)
    ids = Counter(r.headers["webhook-id"] for r in receiver.requests)
    duplicates = sum(n - 1 for n in ids.values())
    print(
        f"\n[{label}] {total} jobs: {delivered} delivered, {dead} dead, {len(ids)} distinct webhook-ids received, "
        f"{duplicates} duplicate deliveries, {time.monotonic() - started:.1f}s"
    )
    assert total == TARGETS * len(plans)
    assert delivered + dead == total, [p for p in plans if p["status"] != "SUCCEEDED"]
    assert len(ids) == delivered


def test_sigkill_workers_during_fan_out(tmp_path: Path, receiver: Receiver) -> None:
    with cluster(tmp_path) as c:
        started = time.monotonic()
        plan_ids = fan_out(c, receiver)
        rng = random.Random(2026)
        kills = 0
        for threshold in (200, 700, 1300):
            while delivered_so_far(receiver) < threshold:
                time.sleep(0.01)
            time.sleep(rng.uniform(0, 0.2))
            c.kill_worker(rng.choice(c.workers))
            kills += 1
            c.start_worker()
        plans = wait_final(c, plan_ids)
        verdict(plans, receiver, started, f"SIGKILL x{kills}")


def test_flushall_redis_during_fan_out(tmp_path: Path, receiver: Receiver) -> None:
    with cluster(tmp_path) as c:
        started = time.monotonic()
        plan_ids = fan_out(c, receiver)
        while delivered_so_far(receiver) < 600:
            time.sleep(0.01)
        redis.Redis.from_url(c.redis_url).flushall()
        plans = wait_final(c, plan_ids)
        verdict(plans, receiver, started, "FLUSHALL")


def test_server_restart_during_await_delivery(tmp_path: Path) -> None:
    with cluster(tmp_path, workers=1) as c:
        started = time.monotonic()
        target = c.live.graphql("""mutation { createDistributionTarget(name: "slow", channel: STUB,
            config: {latencyMs: 1500}) { ... on TargetPayload { target { id } } } }""")["createDistributionTarget"][
            "target"
        ]["id"]
        outcome: dict = {}

        def wait_for_delivery() -> None:
            query = CREATE_PLAN.replace("targetLabels: $labels", "targetIds: $labels").replace(
                "$labels: [String!]", "$labels: [ID!]"
            )
            try:
                response = httpx.post(
                    f"{c.live.url}/graphql",
                    headers=c.live.headers,
                    timeout=60,
                    json={
                        "query": query,
                        "variables": {"content": factories.content(id="restart"), "labels": [target], "wait": True},
                    },
                )
                outcome["response"] = response.status_code
            except httpx.HTTPError as exc:
                outcome["error"] = type(exc).__name__

        waiter = threading.Thread(target=wait_for_delivery)
        waiter.start()
        time.sleep(0.7)
        c.restart_server()
        waiter.join(timeout=60)
        assert "error" in outcome, "the server was killed mid-wait, so the call must have failed"
        listed = c.live.graphql("""{ distributionPlans { ... on PlanList { items { id } } } }""")["distributionPlans"][
            "items"
        ]
        [plan] = wait_final(c, [listed[0]["id"]], timeout=60)
        print(f"\n[server restart] plan {plan['id']} ended {plan['status']} after {time.monotonic() - started:.1f}s")
        assert plan["status"] == "SUCCEEDED" and plan["counts"]["delivered"] == 1

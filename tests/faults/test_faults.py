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
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
TARGETS, PLANS = 100, 20
FINAL = ("SUCCEEDED", "PARTIAL", "FAILED")

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


def read_plans(c: Cluster, plan_ids: list[str]) -> list[dict]:
    return [c.live.graphql(PLAN, {"id": pid})["distributionPlan"]["plan"] for pid in plan_ids]


def wait_final(c: Cluster, plan_ids: list[str], timeout: float = 240) -> list[dict]:
    return until(
        lambda: read_plans(c, plan_ids),
        timeout=timeout,
        interval=0.5,
        message="every plan final",
        done=lambda plans: all(p["status"] in FINAL for p in plans),
    )


def delivered_so_far(receiver: Receiver) -> int:
    return len({r.headers["webhook-id"] for r in list(receiver.requests)})


def wait_delivered(receiver: Receiver, count: int, timeout: float = 120) -> None:
    until(lambda: delivered_so_far(receiver) >= count, timeout=timeout, interval=0.01, message=f"{count} delivered")


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


def listed_plans(c: Cluster) -> list[str]:
    listed = c.live.graphql("""{ distributionPlans { ... on PlanList { items { id } } } }""")
    return [item["id"] for item in listed["distributionPlans"]["items"]]


def test_sigkill_workers_during_fan_out(tmp_path: Path, receiver: Receiver) -> None:
    with cluster(tmp_path) as c:
        started = time.monotonic()
        plan_ids = fan_out(c, receiver)
        rng = random.Random(2026)
        kills = 0
        for threshold in (200, 700, 1300):
            wait_delivered(receiver, threshold)
            time.sleep(rng.uniform(0, 0.2))  # chaos, not a wait: the kill lands at an unpredictable moment
            c.live.kill_worker(rng.choice(c.live.workers))
            kills += 1
            c.live.start_worker()
        plans = wait_final(c, plan_ids)
        verdict(plans, receiver, started, f"SIGKILL x{kills}")


def test_flushall_redis_during_fan_out(tmp_path: Path, receiver: Receiver) -> None:
    with cluster(tmp_path) as c:
        started = time.monotonic()
        plan_ids = fan_out(c, receiver)
        wait_delivered(receiver, 600)
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
        [plan_id] = until(lambda: listed_plans(c), timeout=30, message="the awaited plan created")
        until(
            lambda: read_plans(c, [plan_id])[0]["counts"],
            timeout=30,
            message="its job being delivered (the stub takes 1.5 s)",
            done=lambda counts: counts["delivering"] == 1,
        )
        c.live.restart_server()
        waiter.join(timeout=60)
        assert not waiter.is_alive()
        assert outcome == {"error": "RemoteProtocolError"}, "the server was killed mid-wait, so the call must fail"
        [plan] = wait_final(c, [plan_id], timeout=60)
        print(f"\n[server restart] plan {plan['id']} ended {plan['status']} after {time.monotonic() - started:.1f}s")
        assert plan["status"] == "SUCCEEDED" and plan["counts"]["delivered"] == 1

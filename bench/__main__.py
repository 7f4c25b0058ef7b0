"""Run the benchmark: `python -m bench [--smoke]`. Prints one table and writes bench/results/*.json."""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
import os
import tempfile

import aiohttp
import httpx

from bench.sink import Sink
from tests.support import services
from tests.support.live import LiveHerald, herald_env, live_herald

RESULTS = Path(__file__).with_name("results")
PAYLOAD = json.dumps({"type": "content.published", "data": {"body": "x" * 900}}).encode()


@dataclass(frozen=True)
class Sizes:
    raw_requests: int
    targets: int
    plans: int
    await_calls: int


FULL = Sizes(raw_requests=20_000, targets=100, plans=100, await_calls=500)
SMOKE = Sizes(raw_requests=300, targets=5, plans=4, await_calls=5)


async def _raw(url: str, total: int, concurrency: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        remaining = iter(range(total))

        async def worker() -> None:
            for _ in remaining:
                async with session.post(url, data=PAYLOAD, headers={"content-type": "application/json"}) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


def raw_limit(sink: Sink, total: int, concurrency: int = 50) -> float:
    """Requests/s a bare aiohttp client reaches against the same sink: the ceiling for this machine."""
    return asyncio.run(_raw(sink.url + "/raw", total, concurrency))


CREATE_TARGET = """mutation($name: String!, $config: JSON) { createDistributionTarget(name: $name, channel: "webhook",
  config: $config, labels: ["bench"]) { ... on TargetPayload { target { id } } ... on OperationError { code message } } }"""
CREATE_PLAN = """mutation($content: ContentInput!, $labels: [String!], $ids: [String!], $wait: Boolean) {
  createDistributionPlan(content: $content, targetLabels: $labels, targetIds: $ids, awaitDelivery: $wait) {
    ... on PlanPayload { plan { id status } } ... on OperationError { code message } } }"""
PLANS = """query($cursor: String) { distributionPlans(limit: 100, cursor: $cursor) { ... on PlanList {
  items { id status counts { total delivered } } nextCursor } } }"""


def _content(i: int) -> dict:
    return {"id": f"bench-{i}-{time.time_ns()}", "version": "1", "title": "Bench", "body": "x" * 900}


def fan_out(live: LiveHerald, sink: Sink, sizes: Sizes, prefix: str) -> dict:
    for i in range(sizes.targets):
        live.graphql(CREATE_TARGET, {"name": f"{prefix}-{i}", "config": {"url": f"{sink.url}/{prefix}/{i}"}})
    before = sink.stats.requests
    started = time.perf_counter()
    ids = [live.graphql(CREATE_PLAN, {"content": _content(i), "labels": ["bench"], "wait": False})
           ["createDistributionPlan"]["plan"]["id"] for i in range(sizes.plans)]
    created = time.perf_counter() - started
    wanted, deadline = set(ids), time.monotonic() + 600
    while time.monotonic() < deadline:
        items = live.graphql(PLANS, {})["distributionPlans"]["items"]
        done = [p for p in items if p["id"] in wanted and p["status"] in ("succeeded", "partial", "failed")]
        if len(done) == len(wanted):
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    jobs = sizes.targets * sizes.plans
    return {"jobs": jobs, "seconds": round(elapsed, 2), "deliveries_per_second": round(jobs / elapsed, 1),
            "plan_create_ms_each": round(created * 1000 / sizes.plans, 1), "sink_requests": sink.stats.requests - before}


def await_latency(live: LiveHerald, sink: Sink, calls: int) -> dict:
    target = live.graphql(CREATE_TARGET, {"name": "await-target", "config": {"url": f"{sink.url}/await"}})
    target_id = target["createDistributionTarget"]["target"]["id"]
    timings = []
    with httpx.Client(headers=live.headers, timeout=60) as client:
        for i in range(calls):
            body = {"query": CREATE_PLAN, "variables": {"content": _content(i), "ids": [target_id], "wait": True}}
            started = time.perf_counter()
            result = client.post(f"{live.url}/graphql", json=body).json()
            timings.append((time.perf_counter() - started) * 1000)
            assert result["data"]["createDistributionPlan"]["plan"]["status"] == "succeeded", result
    ordered = sorted(timings)
    pick = lambda share: round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 1)  # noqa: E731
    return {"calls": calls, "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
            "mean_ms": round(statistics.fmean(timings), 1)}


@contextmanager
def production_cluster(data_dir: Path) -> Iterator[LiveHerald]:
    schema = f"herald_bench_{services.RUN_TAG}"
    namespace = services.redis_namespace(f"herald-bench-{services.RUN_TAG}")
    env = herald_env(data_dir, database_url=services.postgres_schema_url(schema), redis_url=services.REDIS_URL,
                     redis_namespace=namespace, log_level="ERROR")
    try:
        with live_herald(env, "--no-worker") as live:
            live.start_worker()
            live.start_worker()
            time.sleep(2)  # let both workers connect before the clock starts
            yield live
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)


def run(sizes: Sizes) -> dict:
    results: dict = {"when": datetime.now(UTC).isoformat(timespec="seconds"), "machine": f"{os.cpu_count()} cores, {platform.machine()}",
                     "python": platform.python_version(), "sizes": sizes.__dict__}
    sink = Sink().start()
    slow = Sink(latency_seconds=0.05).start()
    try:
        results["raw_limit_rps"] = round(raw_limit(sink, sizes.raw_requests), 1)
        with tempfile.TemporaryDirectory() as scratch, production_cluster(Path(scratch)) as live:
            results["fan_out"] = fan_out(live, sink, sizes, "fast")
            results["await_delivery"] = await_latency(live, sink, sizes.await_calls)
        with tempfile.TemporaryDirectory() as scratch, production_cluster(Path(scratch)) as live:
            results["fan_out_50ms"] = fan_out(live, slow, sizes, "slow")
    finally:
        sink.stop()
        slow.stop()
    results["fan_out"]["ratio_to_raw"] = round(results["fan_out"]["deliveries_per_second"] / results["raw_limit_rps"], 4)
    return results


def table(results: dict) -> str:
    fan, slow, wait = results["fan_out"], results["fan_out_50ms"], results["await_delivery"]
    rows = [
        ("raw limit: bare aiohttp client, 50 concurrent, 1 KB POST", f"{results['raw_limit_rps']:,.0f} req/s", "1.00"),
        (f"fan-out {fan['jobs']:,} jobs (PostgreSQL + Redis, 2 workers)", f"{fan['deliveries_per_second']:,.0f} deliveries/s",
         f"{fan['ratio_to_raw']:.3f} of raw"),
        (f"fan-out {slow['jobs']:,} jobs, receiver adds 50 ms", f"{slow['deliveries_per_second']:,.0f} deliveries/s", ""),
        (f"awaitDelivery, one target, {wait['calls']} sequential calls",
         f"p50 {wait['p50_ms']} / p95 {wait['p95_ms']} / p99 {wait['p99_ms']} ms", ""),
        ("plan creation (100 jobs per plan)", f"{fan['plan_create_ms_each']} ms per plan", ""),
    ]
    width = max(len(r[0]) for r in rows)
    lines = [f"{'measure'.ljust(width)}  {'result':<40}  ratio", "-" * (width + 52)]
    lines += [f"{name.ljust(width)}  {value:<40}  {ratio}" for name, value, ratio in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: checks the harness, measures nothing")
    args = parser.parse_args()
    results = run(SMOKE if args.smoke else FULL)
    print(f"Herald benchmark, {results['machine']}, Python {results['python']}, {results['when']}")
    print(table(results))
    RESULTS.mkdir(exist_ok=True)
    name = "smoke.json" if args.smoke else "latest.json"
    (RESULTS / name).write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to bench/results/{name}")


if __name__ == "__main__":
    main()

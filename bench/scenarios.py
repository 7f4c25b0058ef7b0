"""The measured scenarios against one running Herald: raw limit, fan-out, awaitDelivery, memory."""

from __future__ import annotations

import asyncio
import json
import statistics
import time

import aiohttp

from bench.herald import Api, Created, cancel_unfinished, create_plan, parse_time, wait_plans
from bench.memory import peak_rss_mb, reset_peak
from bench.sinkctl import SinkControl
from server.delivery.loop import new_event_loop

PAYLOAD = json.dumps({"type": "content.published", "data": {"body": "x" * 900}}).encode()


async def _raw(url: str, total: int, concurrency: int) -> float:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        remaining = iter(range(total))

        async def worker() -> None:
            for _ in remaining:
                async with session.post(url, data=PAYLOAD, headers={"content-type": "application/json"}) as response:
                    await response.read()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return time.perf_counter() - started


def raw_limit(sink: SinkControl, total: int, concurrency: int = 50) -> dict:
    """Requests/s of a bare aiohttp client (on uvloop when importable) POSTing ~1 KB to the same sink."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        seconds = runner.run(_raw(f"{sink.url}/raw/0", total, concurrency))
    return {
        "requests": total,
        "concurrency": concurrency,
        "seconds": round(seconds, 3),
        "requests_per_second": round(total / seconds, 1),
        "sink": sink.stats("raw"),
    }


def drained(api: Api, created: list[Created], jobs: int, seconds: float) -> dict:
    """Wait for the plans to end; time from the first create call to the last plan's completedAt."""
    plans = wait_plans(api, [c.plan_id for c in created], seconds)
    complete = len(plans) == len(created) and all(p["completedAt"] for p in plans.values())
    end = max(parse_time(p["completedAt"]) for p in plans.values()) if complete else time.time()
    if not complete:
        cancel_unfinished(api, plans)
    elapsed = end - created[0].started
    delivered = sum(p["counts"]["delivered"] for p in plans.values())
    return {
        "jobs": jobs,
        "plans": len(created),
        "delivered": delivered,
        "complete": complete,
        "statuses": sorted({p["status"] for p in plans.values()}),
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(delivered / elapsed, 1),
        "create_call_ms": [round(c.call_ms, 1) for c in created],
    }


def fan_out(api: Api, sink: SinkControl, label: str, targets: int, seconds: float, segment: str | None = None) -> dict:
    """One plan to every target labelled ``label``, until it is final; the sink counts under ``segment``
    (default: the label, the first segment of the targets' URLs)."""
    segment = segment or label
    sink.reset(segment)
    result = drained(api, [create_plan(api, label)], targets, seconds)
    return {**result, "sink": sink.stats(segment)}


def memory_drain(
    api: Api, sink: SinkControl, label: str, plans: int, targets: int, pids: list[int], seconds: float
) -> dict:
    """``plans`` plans to the same targets created back to back; peak RSS of each worker meanwhile.

    Creating stops early once ``seconds`` have passed, so a slow engine cannot stretch the run.
    """
    sink.reset(label)
    reset = all([reset_peak(pid) for pid in pids])
    deadline = time.monotonic() + seconds
    created = [create_plan(api, label)]
    while len(created) < plans and time.monotonic() < deadline:
        created.append(create_plan(api, label))
    result = drained(api, created, len(created) * targets, seconds)
    result["complete"] = result["complete"] and len(created) == plans
    return {
        **result,
        "plans_requested": plans,
        "sink": sink.stats(label),
        "peak_reset": reset,
        "peak_rss_mb_per_worker": [peak_rss_mb(pid) for pid in pids],
    }


def percentiles(timings_ms: list[float]) -> dict:
    ordered = sorted(timings_ms)

    def pick(share: float) -> float:  # nearest rank
        return round(ordered[min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))], 1)

    return {
        "calls": len(ordered),
        "p50_ms": pick(0.5),
        "p95_ms": pick(0.95),
        "p99_ms": pick(0.99),
        "mean_ms": round(statistics.fmean(ordered), 1),
        "max_ms": round(ordered[-1], 1),
    }


def await_latency(api: Api, sink: SinkControl, target_id: str, label: str, calls: int) -> dict:
    """``calls`` sequential createDistributionPlan(awaitDelivery: true) round trips to one target."""
    sink.reset(label)
    timings = []
    for _ in range(calls):
        created = create_plan(api, target_ids=[target_id], wait=True)
        if created.status != "succeeded":
            raise RuntimeError(f"awaitDelivery plan {created.plan_id} ended {created.status}")
        timings.append(created.call_ms)
    return {**percentiles(timings), "sink": sink.stats(label)}

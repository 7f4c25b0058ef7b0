"""429 isolation: healthy targets keep their throughput while one target answers 429.

Two runs of the same plans over the same targets: without, then with ``/{label}/0`` answering 429
with a long Retry-After. Throughput is healthy deliveries over the time from the first create
call to the last healthy receipt (its deliveredAt). The pause window is Herald's own record: from
the first ``target.paused`` event's createdAt to the target's pausedUntil; the sink's arrival
times for that path inside the window are the requests received during the pause.
"""

from __future__ import annotations

import time

from bench.herald import Api, cancel_unfinished, create_plan, pause_window, receipts, recent_plans, wait_plans
from bench.report import ratio
from bench.sinkctl import SinkControl


def _run(api: Api, label: str, plans: int, healthy_ids: set[str], seconds: float) -> dict:
    created = [create_plan(api, label) for _ in range(plans)]
    ids = [c.plan_id for c in created]
    wait_plans(api, ids, seconds, delivered=plans * len(healthy_ids))
    times = [at for plan_id in ids for target_id, at in receipts(api, plan_id) if target_id in healthy_ids]
    elapsed = (max(times) if times else time.time()) - created[0].started
    return {
        "plan_ids": ids,
        "healthy_delivered": len(times),
        "delivered": len(times),
        "complete": len(times) == plans * len(healthy_ids),
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(len(times) / elapsed, 1),
    }


def _during(arrivals: list[float], start: float, end: float) -> int:
    return sum(start < at < end for at in arrivals)


def _pause(api: Api, sink: SinkControl, target_id: str, path: str, retry_after: int) -> dict:
    """Requests the limited path received inside Herald's recorded pause (watched up to Retry-After)."""
    window = pause_window(api, target_id)
    arrivals = sink.arrivals(path)
    if window is None:
        return {"recorded": False, "requests_to_limited": len(arrivals), "requests_during_pause": None}
    start, until = window
    end = min(until, start + retry_after)  # a doubled pause is watched only as long as the Retry-After
    time.sleep(max(0.0, end - time.time()) + 0.2)
    arrivals = sink.arrivals(path)
    return {
        "recorded": True,
        "start": start,
        "paused_until": until,
        "pause_seconds": round(until - start, 3),
        "watched_seconds": round(end - start, 3),
        "requests_to_limited": len(arrivals),
        "requests_before_pause": sum(at <= start for at in arrivals),
        "requests_during_pause": _during(arrivals, start, end),
        "arrival_offsets_seconds": [round(at - start, 3) for at in arrivals[:50]],
    }


def isolation(
    api: Api, sink: SinkControl, label: str, target_ids: list[str], plans: int, retry_after: int, seconds: float
) -> dict:
    limited_id, path = target_ids[0], f"/{label}/0"
    sink.reset(label)
    baseline = _run(api, label, plans, set(target_ids), seconds)
    baseline_sink = sink.stats(label)
    sink.reset(label)
    sink.configure(limited={path: retry_after})
    try:
        limited = _run(api, label, plans, set(target_ids[1:]), seconds)
        pause = _pause(api, sink, limited_id, path, retry_after)
    finally:
        cancel_unfinished(api, recent_plans(api))  # the limited target's jobs still wait for the pause to end
        sink.configure()
    return {
        "targets": len(target_ids),
        "plans": plans,
        "retry_after_seconds": retry_after,
        "baseline": {**baseline, "sink": baseline_sink},
        "limited": {**limited, "sink": sink.stats(label)},
        "ratio": ratio(limited["deliveries_per_second"], baseline["deliveries_per_second"]),
        "pause": pause,
    }

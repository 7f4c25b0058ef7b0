"""429 isolation: healthy targets keep their throughput while one target answers 429.

Pairs of runs of the same plans over the same targets: without, and with ``/{label}/0`` answering
429 with a long Retry-After. Throughput is healthy deliveries over the time from the first create
call to the last healthy receipt (its deliveredAt). A run lasts a few seconds and is bound by the
sequential create calls, so on a shared host one pair is mostly noise: the pairs alternate which run
goes first (neither is always the warmer one) and the ratio is the median of the pairs' ratios.
The table shows the median pair, or the first whose pause was not recorded or let a request in.

The pause window is Herald's own record: from the run's first ``target.paused`` event's createdAt
to the target's pausedUntil; the sink's arrival times for that path inside the window (watched up
to the Retry-After) are the requests received during the pause. After each run with the 429, its
plans are cancelled and the target resumed, so the next run starts with every target healthy.
"""

from __future__ import annotations

import statistics
import time

from bench.herald import (
    Api,
    cancel_unfinished,
    create_plan,
    pause_window,
    receipts,
    recent_plans,
    resume_target,
    wait_plans,
)
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


def _pause(api: Api, sink: SinkControl, target_id: str, path: str, retry_after: int, since: float) -> dict:
    """Requests the limited path got since ``since`` inside Herald's recorded pause (watched up to Retry-After)."""
    window = pause_window(api, target_id, since)
    arrivals = [at for at in sink.arrivals(path) if at >= since]
    if window is None:
        return {"recorded": False, "requests_to_limited": len(arrivals), "requests_during_pause": None}
    start, until = window
    end = min(until, start + retry_after)  # a doubled pause is watched only as long as the Retry-After
    time.sleep(max(0.0, end - time.time()) + 0.2)
    arrivals = [at for at in sink.arrivals(path) if at >= since]
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


def _without(api: Api, sink: SinkControl, label: str, target_ids: list[str], plans: int, seconds: float) -> dict:
    sink.reset(label)
    return {**_run(api, label, plans, set(target_ids), seconds), "sink": sink.stats(label)}


def _with(
    api: Api, sink: SinkControl, label: str, target_ids: list[str], plans: int, retry_after: int, seconds: float
) -> dict:
    limited_id, path = target_ids[0], f"/{label}/0"
    sink.reset(label)
    sink.configure(limited={path: retry_after})
    since = time.time()
    try:
        limited = _run(api, label, plans, set(target_ids[1:]), seconds)
        pause = _pause(api, sink, limited_id, path, retry_after, since)
    finally:
        cancel_unfinished(api, recent_plans(api))  # the limited target's jobs still wait for the pause to end
        sink.configure()
        resume_target(api, limited_id)  # the next run starts with every target healthy
    return {**limited, "sink": sink.stats(label), "pause": pause}


def _pair(
    api: Api, sink: SinkControl, label: str, target_ids: list[str], plans: int, retry_after: int, seconds: float, k: int
) -> dict:
    order = ("baseline", "limited") if k % 2 == 0 else ("limited", "baseline")
    runs = {}
    for name in order:
        if name == "baseline":
            runs[name] = _without(api, sink, label, target_ids, plans, seconds)
        else:
            runs[name] = _with(api, sink, label, target_ids, plans, retry_after, seconds)
    baseline, limited = runs["baseline"], runs["limited"]
    return {
        "first": order[0],
        "baseline": baseline,
        "limited": limited,
        "ratio": ratio(limited["deliveries_per_second"], baseline["deliveries_per_second"]),
    }


def _shown(pairs: list[dict]) -> dict:
    """The pair the table shows: the median one, unless a pause was not recorded or let requests in (that one)."""
    for pair in pairs:
        pause = pair["limited"]["pause"]
        if not pause["recorded"] or pause["requests_during_pause"]:
            return pair
    return sorted(pairs, key=lambda pair: pair["ratio"])[len(pairs) // 2]


def isolation(
    api: Api,
    sink: SinkControl,
    label: str,
    target_ids: list[str],
    plans: int,
    retry_after: int,
    seconds: float,
    pairs: int = 1,
) -> dict:
    done = [_pair(api, sink, label, target_ids, plans, retry_after, seconds, k) for k in range(pairs)]
    shown = _shown(done)
    complete = {name: all(pair[name]["complete"] for pair in done) for name in ("baseline", "limited")}
    return {
        "targets": len(target_ids),
        "plans": plans,
        "retry_after_seconds": retry_after,
        "ratio": round(statistics.median(pair["ratio"] for pair in done), 3),
        "ratios": [pair["ratio"] for pair in done],
        "shown_pair": done.index(shown),
        # The shown pair's runs, complete only if every pair's were.
        "baseline": {**shown["baseline"], "complete": complete["baseline"]},
        "limited": {**shown["limited"], "complete": complete["limited"]},
        "pause": shown["limited"]["pause"],
        "pairs": done,
    }

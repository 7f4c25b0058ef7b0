"""The three sessions of a bench run, each on the one sink: Herald in production mode, peers, embedded Herald."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.channels import SmtpSink, email_recipients, feeds, large_plan, stub_recipients, upsert_recipients
from bench.cluster import embedded_herald, production_cluster, worker_pids
from bench.herald import TARGETS_PER_CALL, Api, create_targets, small_label
from bench.isolation import isolation
from bench.peers import apprise_peer, celery_peer
from bench.scenarios import await_latency, fan_out, memory_drain
from bench.sinkctl import SinkControl
from bench.sizes import Sizes
from tests.support.live import LiveHerald, stop

# Target labels, which are also the sink's path segments (/fan/17): one per group of targets.
FAN, ISO, AWAIT = "fan", "iso", "await"
EMBEDDED_FAN, EMBEDDED_AWAIT = "embedded-fan", "embedded-await"
SLOW_SECONDS = 0.05


def _setup(api: Api, sink: SinkControl, sizes: Sizes) -> tuple[dict, dict[str, list[str]]]:
    started = time.perf_counter()
    fan = create_targets(api, sink.url, FAN, sizes.fan_out_targets, sizes.create_threads, sizes.curve_small_jobs)
    seconds = time.perf_counter() - started
    ids = {
        FAN: fan,
        ISO: create_targets(api, sink.url, ISO, sizes.isolation_targets, sizes.create_threads),
        AWAIT: create_targets(api, sink.url, AWAIT, 1, 1),
    }
    setup = {
        "targets": len(fan),
        "threads": sizes.create_threads,
        "per_call": TARGETS_PER_CALL,
        "seconds": round(seconds, 2),
        "per_second": round(len(fan) / seconds, 1),
    }
    return setup, ids


def _slow_fan_out(api: Api, sink: SinkControl, sizes: Sizes) -> dict:
    sink.configure(latency={FAN: SLOW_SECONDS})
    try:
        return {**fan_out(api, sink, FAN, sizes.fan_out_targets, sizes.wait_seconds), "latency_ms": SLOW_SECONDS * 1000}
    finally:
        sink.configure()


def _herald_scenarios(api: Api, sink: SinkControl, sizes: Sizes, pids: list[int]) -> dict:
    setup, ids = _setup(api, sink, sizes)
    warm_up = fan_out(api, sink, ISO, sizes.isolation_targets, sizes.wait_seconds)  # both workers, before any clock
    fan = fan_out(api, sink, FAN, sizes.fan_out_targets, sizes.wait_seconds)
    return {
        "setup": setup,
        "warm_up": warm_up,
        "fan_out": fan,
        "fan_out_50ms": _slow_fan_out(api, sink, sizes),
        "await_delivery": await_latency(api, sink, ids[AWAIT][0], AWAIT, sizes.await_calls),
        "isolation": isolation(
            api,
            sink,
            ISO,
            ids[ISO],
            sizes.isolation_plans,
            sizes.retry_after_seconds,
            sizes.wait_seconds,
            sizes.isolation_pairs,
        ),
        "memory": memory_drain(api, sink, FAN, sizes.memory_plans, sizes.fan_out_targets, pids, sizes.wait_seconds),
        "plan_creation": {"jobs": fan["jobs"], "ms": fan["create_call_ms"][0]},
    }


def _channel_scenarios(api: Api, live: LiveHerald, smtp: SmtpSink, sizes: Sizes) -> dict:
    """Recipients through a stub and an email target, then feeds: 2 workers, on the same cluster."""
    return {
        "upsert": upsert_recipients(api, sizes.recipients),
        "stub": stub_recipients(api, sizes.recipients, sizes.wait_seconds),
        "email": email_recipients(api, smtp, sizes.recipients, sizes.wait_seconds),
        "feeds": feeds(api, live.url, sizes.feed_targets, sizes.feed_reads, sizes.wait_seconds),
    }


def _curve(api: Api, live: LiveHerald, sink: SinkControl, sizes: Sizes, results: dict) -> dict:
    """Fan-out against size (the 100,000 point is the memory run: 10 plans of 10,000), with 2 workers, then 1."""
    small = sizes.curve_small_jobs
    two = {"small": fan_out(api, sink, small_label(FAN), small, sizes.wait_seconds, FAN)}
    curve: dict = {"workers_2": two}
    if sizes.plan_100k_recipients:
        curve["large_plan"] = large_plan(api, results["channels"]["stub"]["target_id"], sizes.plan_100k_recipients)
    if sizes.single_worker:
        worker = live.workers[-1]
        stop(worker)  # SIGTERM: Dramatiq hands its prefetched messages back
        live.workers.remove(worker)
        curve["workers_1"] = {
            "small": fan_out(api, sink, small_label(FAN), small, sizes.wait_seconds, FAN),
            "fan_out": fan_out(api, sink, FAN, sizes.fan_out_targets, sizes.wait_seconds),
        }
    return curve


def herald_production(sink: SinkControl, smtp: SmtpSink, sizes: Sizes) -> dict:
    with tempfile.TemporaryDirectory() as scratch, production_cluster(Path(scratch), sizes) as live:
        api = Api(live, sizes.create_threads)
        try:
            results = _herald_scenarios(api, sink, sizes, worker_pids(live))
            results["channels"] = _channel_scenarios(api, live, smtp, sizes)
            results["curve"] = _curve(api, live, sink, sizes, results)
            return results
        finally:
            api.close()


def peers(sink: SinkControl, sizes: Sizes) -> dict:
    """Run with Herald stopped, so each peer has the machine to itself as Herald had."""
    return {
        "celery": celery_peer(sink, sizes.peer_notifications, sizes.wait_seconds),
        "apprise": apprise_peer(sink, sizes.peer_notifications),
    }


def herald_embedded(sink: SinkControl, sizes: Sizes) -> dict:
    with tempfile.TemporaryDirectory() as scratch, embedded_herald(Path(scratch), sizes) as live:
        api = Api(live, sizes.create_threads)
        try:
            create_targets(api, sink.url, EMBEDDED_FAN, sizes.embedded_targets, sizes.create_threads)
            target_id = create_targets(api, sink.url, EMBEDDED_AWAIT, 1, 1)[0]
            warm_up = fan_out(api, sink, EMBEDDED_AWAIT, 1, sizes.wait_seconds)
            return {
                "warm_up": warm_up,
                "fan_out": fan_out(api, sink, EMBEDDED_FAN, sizes.embedded_targets, sizes.wait_seconds),
                "await_delivery": await_latency(api, sink, target_id, EMBEDDED_AWAIT, sizes.embedded_await_calls),
            }
        finally:
            api.close()

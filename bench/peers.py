"""Peers on the same sink and machine: Celery (Redis broker, 2 worker processes) and Apprise.

Celery: the clock starts before the first task is published and stops at the sink's last arrival;
each pool in CELERY_POOLS is tried and the best one is reported. Apprise: every URL in one Apprise
object and one notify() call, its documented way to send many (in parallel, on its thread pool);
the clock covers that call (the URL objects are built first, like Herald's targets).
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO

import apprise

from bench import celery_app
from bench.scenarios import PAYLOAD
from bench.sinkctl import SinkControl
from tests.support import services
from tests.support.live import ROOT, stop

WORKERS = 2
# Each entry: how one `celery worker` process runs; two such processes per run.
CELERY_POOLS = {
    "prefork": ["--pool", "prefork", "--concurrency", "1"],
    "threads": ["--pool", "threads", "--concurrency", "8"],
}
BODY = PAYLOAD.decode()


def _ping(expected: int, seconds: float, log: IO[bytes]) -> None:
    deadline = time.monotonic() + seconds
    while len(celery_app.app.control.ping(timeout=0.5) or []) < expected:
        if time.monotonic() > deadline:
            log.seek(0)
            raise TimeoutError("celery workers did not answer ping:\n" + log.read()[-2000:].decode(errors="replace"))


@contextmanager
def celery_workers(pool_args: list[str], prefix: str) -> Iterator[None]:
    env = {**os.environ, "BENCH_CELERY_BROKER": services.REDIS_URL, "BENCH_CELERY_PREFIX": prefix}
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "bench.celery_app",
        "worker",
        *pool_args,
        "--loglevel",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with tempfile.TemporaryFile() as log:  # workers' output (e.g. the running-as-root warning) stays out of the table
        processes = [
            subprocess.Popen(
                [*command, "--hostname", f"bench{i}-{services.RUN_TAG}@%h"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
            for i in range(WORKERS)
        ]
        try:
            _ping(WORKERS, 60, log)
            yield
        finally:
            for process in processes:
                process.terminate()  # both begin their warm shutdown at once (a repeated SIGTERM is harmless)
            for process in processes:
                stop(process)
            services.drop_redis_namespace(prefix.rstrip(":"))


def _publish(segment: str, sink: SinkControl, count: int) -> None:
    with celery_app.app.producer_or_acquire() as producer:
        for i in range(count):
            celery_app.post.apply_async((f"{sink.url}/{segment}/{i}", BODY), producer=producer)


def _celery_run(sink: SinkControl, name: str, count: int, seconds: float) -> dict:
    prefix = f"herald-bench-celery-{services.RUN_TAG}:"
    celery_app.configure(services.REDIS_URL, prefix)
    segment, warm = f"celery-{name}", f"celery-{name}-warm"
    with celery_workers(CELERY_POOLS[name], prefix):
        _publish(warm, sink, 20)  # every worker imports httpx and opens its connections first
        sink.wait_for(warm, 20, time.monotonic() + 30)
        sink.reset(segment)
        started = time.time()
        _publish(segment, sink, count)
        seen = sink.wait_for(segment, count, time.monotonic() + seconds)
    elapsed = (seen["last"] if seen["requests"] >= count else time.time()) - started
    return {
        "pool": " ".join(CELERY_POOLS[name]),
        "workers": WORKERS,
        "notifications": count,
        "complete": seen["requests"] >= count,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(seen["requests"] / elapsed, 1),
        "sink": seen,
    }


def celery_peer(sink: SinkControl, count: int, seconds: float) -> dict:
    runs = {name: _celery_run(sink, name, count, seconds) for name in CELERY_POOLS}
    best = max(runs, key=lambda name: runs[name]["deliveries_per_second"])
    return {"best": best, "deliveries_per_second": runs[best]["deliveries_per_second"], "runs": runs}


def apprise_peer(sink: SinkControl, count: int) -> dict:
    logging.getLogger("apprise").setLevel(logging.ERROR)
    sink.reset("apprise")
    notifier = apprise.Apprise()
    notifier.add([f"json://127.0.0.1:{sink.port}/apprise/{i}" for i in range(count)])
    started = time.perf_counter()
    outcome = notifier.notify(body=BODY, title="Bench")
    elapsed = time.perf_counter() - started
    seen = sink.stats("apprise")
    return {
        "notifications": count,
        "all_ok": bool(outcome),
        "complete": seen["requests"] == count,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(seen["requests"] / elapsed, 1),
        "sink": seen,
    }

"""Peers on the same sink and machine: Celery (Redis broker, 2 worker processes) and Apprise.

Celery: the clock starts before the first task is published and stops at the sink's last arrival;
each pool in CELERY_POOLS is tried and the best one is reported. Apprise: every URL in one Apprise
object and one notify() call, its documented way to send many (in parallel, on its thread pool);
the clock covers that call (the URL objects are built first, like Herald's targets).

Both are in the `bench` extra (`make bench` installs it); without it each peer reports itself not
installed and its verdict is n/a, so the harness still runs on a machine with only the dev extra.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType
from typing import IO, Any

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
# The distribution each peer imports: the `bench` extra of pyproject.toml.
PACKAGES = {"celery": "celery", "apprise": "apprise"}
NOT_INSTALLED = "not installed (make bench installs them)"


def installed(peer: str) -> bool:
    return importlib.util.find_spec(PACKAGES[peer]) is not None


def not_installed() -> dict[str, Any]:
    return {"installed": False, "note": NOT_INSTALLED}


def _celery_app() -> ModuleType:
    return importlib.import_module("bench.celery_app")


def _ping(expected: int, seconds: float, log: IO[bytes]) -> None:
    celery_app = _celery_app()
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
    celery_app = _celery_app()
    with celery_app.app.producer_or_acquire() as producer:
        for i in range(count):
            celery_app.post.apply_async((f"{sink.url}/{segment}/{i}", BODY), producer=producer)


def _celery_run(sink: SinkControl, name: str, count: int, seconds: float) -> dict:
    prefix = f"herald-bench-celery-{services.RUN_TAG}:"
    _celery_app().configure(services.REDIS_URL, prefix)
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
    if not installed("celery"):
        return not_installed()
    runs = {name: _celery_run(sink, name, count, seconds) for name in CELERY_POOLS}
    best = max(runs, key=lambda name: runs[name]["deliveries_per_second"])
    return {"installed": True, "best": best, "deliveries_per_second": runs[best]["deliveries_per_second"], "runs": runs}


def apprise_peer(sink: SinkControl, count: int) -> dict:
    if not installed("apprise"):
        return not_installed()
    apprise = importlib.import_module("apprise")
    logging.getLogger("apprise").setLevel(logging.ERROR)
    sink.reset("apprise")
    notifier = apprise.Apprise()
    notifier.add([f"json://127.0.0.1:{sink.port}/apprise/{i}" for i in range(count)])
    started = time.perf_counter()
    outcome = notifier.notify(body=BODY, title="Bench")
    elapsed = time.perf_counter() - started
    seen = sink.stats("apprise")
    return {
        "installed": True,
        "notifications": count,
        "all_ok": bool(outcome),
        "complete": seen["requests"] == count,
        "seconds": round(elapsed, 3),
        "deliveries_per_second": round(seen["requests"] / elapsed, 1),
        "sink": seen,
    }

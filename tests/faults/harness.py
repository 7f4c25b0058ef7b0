"""A private Redis and a fresh PostgreSQL schema under the live harness's `herald serve` and `herald worker`s."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis

from tests.support import services
from tests.support.live import LiveHerald, free_port, herald_env, live_herald, stop
from tests.support.waiting import until

FAULT_SETTINGS = {"lease_seconds": "3", "sweep_interval_seconds": "0.5", "worker_threads": "8"}


def _pings(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url).ping())
    except redis.ConnectionError:
        return False


@contextmanager
def private_redis() -> Iterator[str]:
    """A redis-server of our own, so FLUSHALL and kills touch nothing else."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI=true: failing instead of skipping)")
        pytest.skip("redis-server is not installed")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        until(lambda: _pings(url), timeout=10, message=f"private redis-server on port {port} answering PING")
        yield url
    finally:
        stop(process, timeout=10)


@dataclass
class Cluster:
    live: LiveHerald
    redis_url: str


@contextmanager
def cluster(tmp: Path, workers: int = 2) -> Iterator[Cluster]:
    """`herald serve --no-worker` and ``workers`` `herald worker`s on their own Redis and PostgreSQL schema."""
    schema = f"herald_fault_{services.RUN_TAG}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with private_redis() as redis_url:
        env = herald_env(
            tmp,
            database_url=services.postgres_schema_url(schema),
            redis_url=redis_url,
            redis_namespace="fault",
            **FAULT_SETTINGS,
        )
        try:
            with live_herald(env, "--no-worker", workers=workers) as live:
                yield Cluster(live=live, redis_url=redis_url)
        finally:
            services.drop_postgres_schema(schema)

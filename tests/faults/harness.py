"""A private Redis, a fresh PostgreSQL schema, `herald serve` and `herald worker` processes to kill."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis

from tests.support import services
from tests.support.live import HERALD, ROOT, LiveHerald, create_key, free_port, herald_env, stop

FAULT_SETTINGS = {"lease_seconds": "3", "sweep_interval_seconds": "0.5", "worker_threads": "8"}


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
    for _ in range(100):
        try:
            redis.Redis.from_url(url).ping()
            break
        except redis.ConnectionError:
            time.sleep(0.05)
    try:
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@dataclass
class Cluster:
    live: LiveHerald
    redis_url: str
    workers: list[subprocess.Popen]
    server_port: int

    def start_worker(self) -> subprocess.Popen:
        worker = self.live.start_worker()
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen) -> None:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        self.workers.remove(worker)

    def restart_server(self) -> None:
        server = self.live.processes[0]
        server.send_signal(signal.SIGKILL)
        server.wait()
        self.live.processes[0] = subprocess.Popen(
            [*HERALD, "serve", "--no-worker", "--port", str(self.server_port)], env=self.live.env, cwd=ROOT
        )
        _wait_healthy(self.live.url)


def _wait_healthy(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("herald serve did not come back")


@contextmanager
def cluster(tmp: Path, workers: int = 2) -> Iterator[Cluster]:
    schema = f"herald_fault_{services.RUN_TAG}_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with private_redis() as redis_url:
        env = herald_env(
            tmp,
            database_url=services.postgres_schema_url(schema),
            redis_url=redis_url,
            redis_namespace="fault",
            **FAULT_SETTINGS,
        )
        port = free_port()
        key = create_key(env)
        server = subprocess.Popen([*HERALD, "serve", "--no-worker", "--port", str(port)], env=env, cwd=ROOT)
        live = LiveHerald(url=f"http://127.0.0.1:{port}", key=key, env=env, processes=[server])
        running = Cluster(live=live, redis_url=redis_url, workers=[], server_port=port)
        try:
            _wait_healthy(live.url)
            for _ in range(workers):
                running.start_worker()
            yield running
        finally:
            for process in reversed(live.processes):
                stop(process)
            services.drop_postgres_schema(schema)

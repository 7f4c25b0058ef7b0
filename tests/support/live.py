"""Herald as users run it: `herald serve` (and `herald worker`) subprocesses on a free port.

The one live-server harness of the e2e, fault and bench suites. Every wait has a deadline and stopping is
always bounded: SIGTERM, wait, then SIGKILL.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests.support import services
from tests.support.waiting import until

HERALD = [sys.executable, "-m", "server.cli"]
ROOT = Path(__file__).resolve().parents[2]
STOP_SECONDS = 15
HEALTHY_SECONDS = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def herald_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """The environment of a test server: fast retries and sweeps, loopback targets allowed, no bootstrap key."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(
        HERALD_DATA_DIR=str(data_dir),
        HERALD_ALLOWED_NETWORKS="127.0.0.0/8",
        HERALD_RETRY_BASE_DELAY_SECONDS="0.05",
        HERALD_RETRY_MAX_DELAY_SECONDS="0.2",
        HERALD_SWEEP_INTERVAL_SECONDS="0.5",
        HERALD_BOOTSTRAP_KEY="false",
        HERALD_LOG_LEVEL="WARNING",
    )
    env.update({f"HERALD_{k.upper()}": v for k, v in settings.items()})
    return env


def create_key(env: dict[str, str], name: str = "tester") -> str:
    out = subprocess.run(
        [*HERALD, "keys", "create", "--name", name],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return out.stdout.strip().splitlines()[-1]


def stop(process: subprocess.Popen[Any], timeout: float = STOP_SECONDS) -> None:
    """SIGTERM, wait up to ``timeout`` seconds, then SIGKILL."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill(process)


def kill(process: subprocess.Popen[Any]) -> None:
    """SIGKILL and reap (a killed process exits at once; the wait is bounded all the same)."""
    process.kill()
    process.wait(timeout=STOP_SECONDS)


def _healthy(url: str, process: subprocess.Popen[Any]) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"herald serve exited with {process.returncode}")
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def wait_healthy(url: str, process: subprocess.Popen[Any], timeout: float = HEALTHY_SECONDS) -> None:
    until(lambda: _healthy(url, process), timeout=timeout, interval=0.1, message=f"{url}/healthz answering 200")


@dataclass
class LiveHerald:
    """One `herald serve` on ``port`` and the `herald worker` processes started beside it."""

    port: int
    key: str
    env: dict[str, str]
    serve_args: tuple[str, ...] = ()
    server: subprocess.Popen[Any] | None = None
    workers: list[subprocess.Popen[Any]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def graphql(self, query: str, variables: dict[str, Any] | None = None, timeout: float = 60) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
            timeout=timeout,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        data: dict[str, Any] = body["data"]
        return data

    def start_server(self) -> subprocess.Popen[Any]:
        self.server = subprocess.Popen(
            [*HERALD, "serve", "--port", str(self.port), *self.serve_args], env=self.env, cwd=ROOT
        )
        wait_healthy(self.url, self.server)
        return self.server

    def restart_server(self) -> None:
        """SIGKILL the server (no graceful shutdown) and start it again on the same port."""
        assert self.server is not None
        kill(self.server)
        self.start_server()

    def start_worker(self, **settings: str) -> subprocess.Popen[Any]:
        """A `herald worker` with the server's environment and ``settings`` (``HERALD_<NAME>``) of its own."""
        env = {**self.env, **{f"HERALD_{k.upper()}": v for k, v in settings.items()}}
        worker = subprocess.Popen([*HERALD, "worker"], env=env, cwd=ROOT)
        self.workers.append(worker)
        return worker

    def kill_worker(self, worker: subprocess.Popen[Any]) -> None:
        kill(worker)
        self.workers.remove(worker)

    def stop(self) -> None:
        """Workers first (newest first), then the server; each bounded."""
        for worker in reversed(self.workers):
            stop(worker)
        if self.server is not None:
            stop(self.server)


@contextmanager
def live_herald(env: dict[str, str], *serve_args: str, workers: int = 0) -> Iterator[LiveHerald]:
    """`herald serve *serve_args` on a free port with a fresh API key, and ``workers`` `herald worker`s."""
    live = LiveHerald(port=free_port(), key=create_key(env), env=env, serve_args=serve_args)
    try:
        live.start_server()
        for _ in range(workers):
            live.start_worker()
        yield live
    finally:
        live.stop()


@contextmanager
def redis_mode_herald(
    data_dir: Path, tag: str, workers: int = 1, env_for: Callable[..., dict[str, str]] = herald_env, **settings: str
) -> Iterator[LiveHerald]:
    """`herald serve --no-worker` and ``workers`` `herald worker`s on a fresh PostgreSQL schema and Redis
    namespace (named after ``tag``), both dropped afterwards; ``env_for(data_dir, **settings)`` builds the
    environment (the bench passes its own)."""
    schema = f"herald_{tag}_{services.RUN_TAG}"
    namespace = services.redis_namespace(f"herald-{tag}-{services.RUN_TAG}")
    env = env_for(
        data_dir,
        database_url=services.postgres_schema_url(schema),
        redis_url=services.REDIS_URL,
        redis_namespace=namespace,
        **settings,
    )
    try:
        with live_herald(env, "--no-worker", workers=workers) as server:
            yield server
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)

"""Herald as users run it: `herald serve` (and `herald worker`) subprocesses on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

HERALD = [sys.executable, "-m", "server.cli"]
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def herald_env(data_dir: Path, **settings: str) -> dict[str, str]:
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


@dataclass
class LiveHerald:
    url: str
    key: str
    env: dict[str, str]
    processes: list[subprocess.Popen] = field(default_factory=list)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def graphql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
            timeout=timeout,
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body
        return body["data"]

    def start_worker(self) -> subprocess.Popen:
        process = subprocess.Popen([*HERALD, "worker"], env=self.env, cwd=ROOT)
        self.processes.append(process)
        return process


def _wait_healthy(url: str, process: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"herald serve exited with {process.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError("herald serve did not become healthy")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def live_herald(env: dict[str, str], *serve_args: str) -> Iterator[LiveHerald]:
    port = free_port()
    key = create_key(env)
    server = subprocess.Popen([*HERALD, "serve", "--port", str(port), *serve_args], env=env, cwd=ROOT)
    live = LiveHerald(url=f"http://127.0.0.1:{port}", key=key, env=env, processes=[server])
    try:
        _wait_healthy(live.url, server)
        yield live
    finally:
        for process in reversed(live.processes):
            stop(process)

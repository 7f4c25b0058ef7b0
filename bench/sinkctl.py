"""Start the sink process and talk to its control endpoints."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx

from tests.support.live import ROOT, stop


@dataclass
class SinkControl:
    url: str
    process: subprocess.Popen

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def configure(self, latency: dict[str, float] | None = None, limited: dict[str, int] | None = None) -> None:
        """Replace the sink's behaviour: per-segment latency, 429 with Retry-After on some paths."""
        body = {"latency": latency or {}, "limited": limited or {}}
        httpx.post(f"{self.url}/_sink/config", json=body, timeout=10).raise_for_status()

    def stats(self, segment: str) -> dict:
        return httpx.get(f"{self.url}/_sink/stats", params={"segment": segment}, timeout=10).json()

    def reset(self, segment: str) -> None:
        httpx.post(f"{self.url}/_sink/reset", params={"segment": segment}, timeout=10).raise_for_status()

    def arrivals(self, path: str) -> list[float]:
        return httpx.get(f"{self.url}/_sink/arrivals", params={"path": path}, timeout=10).json()["arrivals"]

    def wait_for(self, segment: str, requests: int, deadline: float) -> dict:
        """Poll until ``segment`` has seen ``requests`` requests or the monotonic deadline passes."""
        while True:
            seen = self.stats(segment)
            if seen["requests"] >= requests or time.monotonic() > deadline:
                return seen
            time.sleep(0.1)


@contextmanager
def running_sink() -> Iterator[SinkControl]:
    process = subprocess.Popen([sys.executable, "-m", "bench.sink"], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield SinkControl(url=f"http://127.0.0.1:{port}", process=process)
    finally:
        stop(process)

"""The benchmark harness runs end to end at tiny sizes, so it cannot rot. It times nothing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support import services
from tests.support.live import ROOT

pytestmark = pytest.mark.integration


def test_bench_smoke_prints_the_table_and_writes_json() -> None:
    services.redis_namespace("herald-bench-probe")  # skip locally / fail under CI=true without Redis
    probe = f"herald_bench_probe_{services.RUN_TAG}"
    services.postgres_schema_url(probe)  # the same for PostgreSQL
    services.drop_postgres_schema(probe)
    out = subprocess.run([sys.executable, "-m", "bench", "--smoke"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stdout + out.stderr
    for row in ("raw limit", "fan-out 20 jobs", "receiver adds 50 ms", "awaitDelivery", "plan creation"):
        assert row in out.stdout
    results = json.loads((ROOT / "bench" / "results" / "smoke.json").read_text())
    assert results["fan_out"]["jobs"] == 20 and results["fan_out"]["sink_requests"] >= 20
    assert results["await_delivery"]["calls"] == 5

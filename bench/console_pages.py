"""How fast the console's pages answer for a plan of 10,000 jobs: `python -m bench.console_pages [--jobs N]`.

Builds a plan through the operations (one stub target), adds its jobs, attempts and receipts in bulk
(with the plan's counters set as the engine would), signs in, and times each page in process (the
whole ASGI request: cookie check, key lookup, operation, template). Prints the fastest, median and
p95 in ms, and the machine's load (a loaded machine stretches the median, not the fastest).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert, update
from sqlmodel import select
from starlette.testclient import TestClient

from server.app import create_app
from server.config import Settings
from server.db import session_scope
from server.dispatch import execute
from server.ids import new_id
from server.keys.service import authenticate, create_key
from server.models import Attempt, Job, Plan, Receipt
from server.runtime import Runtime

REQUESTS = 30


def build_plan(rt: Runtime, secret: str, jobs: int) -> str:
    principal = authenticate(rt, f"Bearer {secret}")

    def call(tool: str, **arguments: Any) -> dict[str, Any]:
        return asyncio.run(execute(rt, principal, tool, arguments)).wire()

    target = call("create_distribution_target", name="bench", channel="stub")["target"]["id"]
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    content = {"id": "bench", "version": "1", "title": "Bench", "body": "Ten thousand jobs."}
    plan_id: str = call("create_distribution_plan", content=content, targetIds=[target], scheduledAt=later)["plan"][
        "id"
    ]
    with session_scope(rt.engine) as session:
        first = session.exec(select(Job).where(Job.plan_id == plan_id)).one()
        template = first.model_dump()
        now = datetime.now(UTC)
        rows = [{**template, "id": new_id("job"), "status": "delivered", "attempts": 1} for _ in range(jobs - 1)]
        session.execute(insert(Job), rows)
        session.execute(update(Job).where(Job.id == first.id).values(status="delivered", attempts=1))
        ids = [first.id, *(row["id"] for row in rows)]
        session.execute(insert(Attempt), [_attempt(template, job_id, now) for job_id in ids])
        session.execute(insert(Receipt), [_receipt(template, job_id, now) for job_id in ids])
        session.execute(
            update(Plan)
            .where(Plan.id == plan_id)
            .values(total_jobs=jobs, delivered_count=jobs, status="succeeded", completed_at=now)
        )
    return plan_id


def _attempt(job: dict[str, Any], job_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("attempt"),
        "workspace_id": job["workspace_id"],
        "job_id": job_id,
        "target_id": job["target_id"],
        "number": 1,
        "started_at": now,
        "duration_ms": 40.0 + hash(job_id) % 200,
        "outcome": "delivered",
        "status_code": 200,
    }


def _receipt(job: dict[str, Any], job_id: str, now: datetime) -> dict[str, Any]:
    return {
        "id": new_id("receipt"),
        "workspace_id": job["workspace_id"],
        "job_id": job_id,
        "plan_id": job["plan_id"],
        "target_id": job["target_id"],
        "delivered_at": now,
        "response_meta": {"statusCode": 200},
    }


def timed(client: TestClient, path: str) -> tuple[float, float, float]:
    """Fastest, median and p95 (ms) of REQUESTS GETs of ``path``, after one warm-up."""
    assert client.get(path).status_code == 200, path
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(path)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, path
    samples.sort()
    return samples[0], statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    jobs = parser.parse_args().jobs
    settings = Settings(data_dir=Path(tempfile.mkdtemp(prefix="herald-console-bench-")), bootstrap_key=False)
    app = create_app(settings, worker=False)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        rt: Runtime = app.state.runtime
        secret = create_key(rt, "bench").secret
        plan_id = build_plan(rt, secret, jobs)
        client.post("/console/sign-in", data={"key": secret})
        cursor = client.get(f"/console/plans/{plan_id}").text.split("?cursor=")[1].split('"')[0]
        pages = {
            "plans list": "/console/plans",
            f"plan of {jobs} jobs, first page": f"/console/plans/{plan_id}",
            "plan, second page": f"/console/plans/{plan_id}?cursor={cursor}",
            "plan, delivered filter": f"/console/plans/{plan_id}?status=delivered",
            "targets": "/console/targets",
            "dead letters": "/console/dead-letters",
            "audit": "/console/audit",
        }
        print(f"{'page':<36} {'fastest ms':>10} {'median ms':>10} {'p95 ms':>8}")
        for name, path in pages.items():
            fastest, median, p95 = timed(client, path)
            print(f"{name:<36} {fastest:>10.1f} {median:>10.1f} {p95:>8.1f}")
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()

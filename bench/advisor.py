"""Recipients at scale, in process: `python -m bench.advisor [--count N] [--postgres]`.

Two measures, each on SQLite (embedded) and, with --postgres, on PostgreSQL + Redis:

- **upsert**: `upsert_recipients` of N recipients in one call (all new), then the same N again
  (all updates), through the dispatch pipeline (validation, transaction, audit), no door;
- **advisor**: the advisor distribution controller. N advisors, each with their own approved text and
  image (`recipientContent` keyed by externalId), one plan through an addressed target (the `stub`
  channel in recipient mode: a local sink without network), 1 in 50 addresses hard-bouncing; the
  failed ones then go out through the primary's fallback target (`fallbackTargetId`), in the same plan. The
  plan report gives the KPIs: first-try rate, delivery rate, average and p95 time, completion
  against a 5-minute SLA.

Writes bench/results/recipients.json. The tests run the same functions (tests/bench/test_advisor.py).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlmodel import select

from server.context import OpContext
from server.db import session_scope
from server.dispatch import run_operation
from server.jobs.status import PLAN_FINAL
from server.keys.service import authenticate, create_key
from server.models import Job, Plan
from server.operations import BY_TOOL
from server.runtime import Runtime

RESULTS = Path(__file__).with_name("results")
SLA_SECONDS = 300.0
Wait = Callable[[Callable[[], bool], float], None]


def _poll(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"not done within {timeout} s")
        time.sleep(0.1)


class Caller:
    """Operations through the dispatch pipeline as one admin principal."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.principal = authenticate(rt, f"Bearer {create_key(rt, 'bench-advisor').secret}")

    def __call__(self, tool: str, **arguments: Any) -> Any:
        op = BY_TOOL[tool]
        ctx = OpContext(runtime=self.rt, principal=self.principal, request_id="req_bench")
        return run_operation(op, ctx, op.input_model.model_validate(arguments))


def advisors(count: int, prefix: str = "ARN", label: str = "advisors") -> list[dict[str, Any]]:
    return [
        {
            "externalId": f"{prefix}-{n:05d}",
            "name": f"Advisor {n}",
            "addresses": {"whatsapp": f"+91{9000000000 + n}", "sms": f"+91{8000000000 + n}"},
            "attributes": {"branch": f"B{n % 40:02d}", "tier": "gold" if n % 10 == 0 else "silver"},
            "timezone": "Asia/Kolkata",
            "labels": [label],
        }
        for n in range(count)
    ]


def upsert(call: Caller, count: int) -> dict[str, Any]:
    rows = advisors(count, prefix="UPS", label="upsert-bench")
    started = time.perf_counter()
    first = call("upsert_recipients", recipients=rows)
    created_ms = (time.perf_counter() - started) * 1000
    for row in rows:
        row["attributes"] = {**row["attributes"], "tier": "platinum"}
    started = time.perf_counter()
    second = call("upsert_recipients", recipients=rows)
    updated_ms = (time.perf_counter() - started) * 1000
    assert (first.created, second.updated) == (count, count), (first.created, second.updated)
    return {"recipients": count, "create_ms": round(created_ms, 1), "update_ms": round(updated_ms, 1)}


def _final(rt: Runtime, plan_id: str) -> Callable[[], bool]:
    def check() -> bool:
        with session_scope(rt.engine) as session:
            plan = session.get(Plan, plan_id)
            return plan is not None and plan.status in PLAN_FINAL

    return check


def advisor(
    call: Caller, count: int, bounce_every: int = 50, wait: Wait = _poll, timeout: float = 600
) -> dict[str, Any]:
    """The advisor case end to end; returns the figures and both plans' reports."""
    rt = call.rt
    rows = advisors(count)
    started = time.perf_counter()
    call("upsert_recipients", recipients=rows)
    upsert_ms = (time.perf_counter() - started) * 1000
    bouncing = [r["addresses"]["whatsapp"] for i, r in enumerate(rows) if bounce_every and i % bounce_every == 7]
    backup = call(
        "create_distribution_target", name="advisors-sms-backup", channel="stub", config={"addressKey": "sms"}
    ).target.id
    primary = call(
        "create_distribution_target",
        name="advisors-whatsapp",
        channel="stub",
        config={"addressKey": "whatsapp", "bounceAddresses": bouncing},
        fallbackTargetId=backup,
    ).target.id
    content = {
        "id": "morning-note",
        "version": "2026-12-02",
        "title": "Good morning {{ recipient.name }}",
        "body": "{{ content.variables.desk }}: today's note.",
        "variables": {"desk": "Research desk"},
    }
    per_advisor = {
        r["externalId"]: {
            "body": f"Dear {r['name']} ({r['attributes']['branch']}), your approved note #{i}.",
            "mediaUrls": [f"https://cdn.example.com/advisors/{r['externalId']}.jpg"],
        }
        for i, r in enumerate(rows)
    }
    arguments = {"content": content, "targetIds": [primary], "recipientLabels": ["advisors"]}
    started = time.perf_counter()
    dry = call("create_distribution_plan", dryRun=True, recipientContent=per_advisor, **arguments)
    dry_ms = (time.perf_counter() - started) * 1000
    assert dry.preview.jobs_to_create == count
    started = time.perf_counter()
    plan = call("create_distribution_plan", recipientContent=per_advisor, **arguments).plan
    create_ms = (time.perf_counter() - started) * 1000
    wait(_final(rt, plan.id), timeout)
    report = call("get_plan_report", id=plan.id, slaSeconds=SLA_SECONDS).report
    with session_scope(rt.engine) as session:
        due = session.get(Plan, plan.id).created_at  # type: ignore[union-attr]
        ends = session.exec(select(Job.finished_at).where(Job.plan_id == plan.id)).all()
    overall = max(end for end in ends if end is not None) - due
    via_backup = report.delivered_via_fallback
    delivered = report.delivered_first_try + report.delivered_after_retries - via_backup
    return {
        "advisors": count,
        "upsert_ms": round(upsert_ms, 1),
        "dry_run_ms": round(dry_ms, 1),
        "create_ms": round(create_ms, 1),
        "report": report.model_dump(mode="json", by_alias=True, exclude={"slowest_targets", "fallbacks"}),
        "delivered_primary": delivered,
        "delivered_backup": via_backup,
        "reached": delivered + via_backup,
        "overall_seconds": round(overall.total_seconds(), 3),
        "within_sla": overall.total_seconds() <= SLA_SECONDS and delivered + via_backup == count,
        "deliveries_per_second": round(count / report.completion_seconds, 1) if report.completion_seconds else None,
    }


def _runtime(folder: Path, postgres: bool) -> tuple[Runtime, Callable[[], None]]:
    from server.config import Settings
    from server.migrate import upgrade
    from server.runtime import build_runtime
    from tasks.worker import DeliveryWorker

    settings: dict[str, Any] = {"data_dir": folder, "bootstrap_key": False, "worker_threads": 4}
    cleanup: list[Callable[[], None]] = []
    if postgres:
        from tests.support import services

        schema = f"bench_advisor_{services.RUN_TAG}"
        settings["database_url"] = services.postgres_schema_url(schema)
        settings["redis_url"] = services.REDIS_URL
        settings["redis_namespace"] = schema
        cleanup += [lambda: services.drop_postgres_schema(schema), lambda: services.drop_redis_namespace(schema)]
    rt = build_runtime(Settings(**settings))
    upgrade(rt.engine)
    worker = DeliveryWorker(rt)
    worker.start()

    def close() -> None:
        worker.stop()
        rt.close()
        for step in cleanup:
            step()

    return rt, close


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.advisor", description=__doc__)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL + Redis (tests/support/services)")
    args = parser.parse_args()
    results: dict[str, Any] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for name in ["sqlite", *(["postgresql+redis"] if args.postgres else [])]:
        with tempfile.TemporaryDirectory() as folder:
            rt, close = _runtime(Path(folder), name != "sqlite")
            try:
                call = Caller(rt)
                results[name] = {"upsert": upsert(call, args.count), "advisor": advisor(call, args.count)}
            finally:
                close()
        print(name, json.dumps(results[name], indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "recipients.json").write_text(json.dumps(results, indent=2) + "\n")
    print("written to bench/results/recipients.json")


if __name__ == "__main__":
    main()

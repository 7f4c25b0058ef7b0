"""Addressed and owned channels in the benchmark: recipients through a stub target, email to a local SMTP sink
(and a bare aiosmtplib client's raw limit on the same sink), feed publishing and serving the feeds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage

import aiohttp
import aiosmtplib

from bench.herald import CANCEL_PLAN, PAYLOAD_BODY, Api, Created, create_plan, create_targets_of
from bench.scenarios import drained
from server.delivery.loop import new_event_loop
from server.jobs.status import PlanStatus
from tests.support.live import ROOT, stop

RECIPIENTS_LABEL = "bench-recipients"
UPSERT_PER_CALL = 2_000  # ~300 KB of JSON per call, under HERALD_MAX_REQUEST_BYTES (1 MB)
UPSERT = """mutation($rows: [RecipientInput!]!) { upsertRecipients(recipients: $rows) {
  ... on UpsertRecipientsPayload { created updated } ... on OperationError { code message } } }"""
CREATE_RECIPIENT_PLAN = """mutation($content: ContentInput!, $ids: [ID!], $labels: [String!], $scheduledAt: DateTime) {
  createDistributionPlan(content: $content, targetIds: $ids, recipientLabels: $labels, scheduledAt: $scheduledAt) {
    ... on PlanPayload { plan { id status } } ... on OperationError { code message } } }"""
SENDER = "bench@herald.test"


@dataclass
class SmtpSink:
    port: int
    process: subprocess.Popen

    def _ask(self, command: str) -> dict:
        assert self.process.stdin is not None and self.process.stdout is not None
        with _SINK_LOCK:
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            return dict(json.loads(self.process.stdout.readline()))

    def stats(self) -> dict:
        return self._ask("stats")

    def reset(self) -> dict:
        return self._ask("reset")

    def wait_for(self, messages: int, seconds: float) -> dict:
        deadline = time.monotonic() + seconds
        while True:
            seen = self.stats()
            if seen["messages"] >= messages or time.monotonic() > deadline:
                return seen
            time.sleep(0.1)


_SINK_LOCK = threading.Lock()


@contextmanager
def running_smtp_sink() -> Iterator[SmtpSink]:
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.smtp_sink"], cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        yield SmtpSink(port=int(process.stdout.readline()), process=process)
    finally:
        stop(process)


def _message(n: int) -> bytes:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = SENDER, f"r{n}@bench.test", "Bench"
    message.set_content(PAYLOAD_BODY)
    return message.as_bytes()


async def _raw_smtp(port: int, total: int, connections: int) -> float:
    remaining = iter(range(total))

    async def client() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, use_tls=False, start_tls=False)
        await smtp.connect()
        try:
            for n in remaining:
                await smtp.sendmail(SENDER, [f"r{n}@bench.test"], _message(n))
        finally:
            await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return time.perf_counter() - started


def raw_smtp_limit(sink: SmtpSink, total: int, connections: int = 10) -> dict:
    """Messages/s of bare aiosmtplib clients (one message per transaction, ``connections`` kept open)."""
    sink.reset()
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        seconds = runner.run(_raw_smtp(sink.port, total, connections))
    return {
        "messages": total,
        "connections": connections,
        "seconds": round(seconds, 3),
        "messages_per_second": round(total / seconds, 1),
        "sink": sink.stats(),
    }


def _recipient(n: int, label: str) -> dict:
    return {
        "externalId": f"{label}-{n:06d}",
        "name": f"Reader {n}",
        "addresses": {"stub": f"reader-{n}", "email": f"r{n}@bench.test"},
        "labels": [label],
    }


def upsert_recipients(api: Api, count: int, label: str = RECIPIENTS_LABEL) -> dict:
    """``count`` new recipients on the list ``label``, in calls of 2,000."""
    started = time.perf_counter()
    created = 0
    for start in range(0, count, UPSERT_PER_CALL):
        rows = [_recipient(n, label) for n in range(start, min(start + UPSERT_PER_CALL, count))]
        created += api.call(UPSERT, {"rows": rows}, "upsertRecipients")["created"]
    seconds = time.perf_counter() - started
    return {"recipients": created, "seconds": round(seconds, 2), "per_second": round(created / seconds, 1)}


def _recipient_plan(api: Api, target_id: str, tag: str, label: str = RECIPIENTS_LABEL, **more: str) -> Created:
    variables = {
        "content": {"id": f"bench-{tag}-{time.time_ns()}", "version": "1", "title": "Bench", "body": PAYLOAD_BODY},
        "ids": [target_id],
        "labels": [label],
        **more,
    }
    started, clock = time.time(), time.perf_counter()
    plan = api.call(CREATE_RECIPIENT_PLAN, variables, "createDistributionPlan")["plan"]
    call_ms = (time.perf_counter() - clock) * 1000
    return Created(plan["id"], PlanStatus[plan["status"]], started, call_ms)


def recipients_fan_out(api: Api, target_id: str, count: int, seconds: float, tag: str) -> dict:
    """One plan from ``target_id`` (an addressed target) to every bench recipient, until it is final."""
    return {**drained(api, [_recipient_plan(api, target_id, tag)], count, seconds), "target_id": target_id}


def large_plan(api: Api, target_id: str, count: int) -> dict:
    """The create call of one plan to ``count`` new recipients, scheduled two hours ahead (so nothing is sent
    meanwhile), then cancelled."""
    label = "bench-large"
    upserted = upsert_recipients(api, count, label)
    later = datetime.fromtimestamp(time.time() + 7200, UTC).isoformat()
    created = _recipient_plan(api, target_id, "large", label, scheduledAt=later)
    api.call(CANCEL_PLAN, {"id": created.plan_id}, "cancelDistributionPlan")
    return {"jobs": count, "upsert": upserted, "ms": round(created.call_ms, 1)}


def stub_recipients(api: Api, count: int, seconds: float) -> dict:
    """Through a stub target standing in for an addressed channel (no network: the engine's own cost)."""
    target_id = create_targets_of(api, "stub-recipients", "STUB", [{"addressKey": "stub"}])[0]
    return recipients_fan_out(api, target_id, count, seconds, "stub")


def email_recipients(api: Api, sink: SmtpSink, count: int, seconds: float) -> dict:
    config = {"host": "127.0.0.1", "port": sink.port, "security": "none", "fromAddress": SENDER}
    target_id = create_targets_of(api, "email-recipients", "EMAIL", [config])[0]
    sink.reset()
    result = recipients_fan_out(api, target_id, count, seconds, "email")
    return {**result, "sink": sink.wait_for(result["delivered"], 10)}


async def _read_feeds(url: str, ids: list[str], reads: int, concurrency: int) -> tuple[float, int, int]:
    """GET the feeds round-robin (.rss), ``reads`` in all; (seconds, answers 200, bytes)."""
    remaining = iter(range(reads))
    ok = size = 0

    async def reader(session: aiohttp.ClientSession) -> None:
        nonlocal ok, size
        for n in remaining:
            async with session.get(f"{url}/feeds/{ids[n % len(ids)]}.rss") as response:
                body = await response.read()
                ok += response.status == 200
                size += len(body)

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        started = time.perf_counter()
        await asyncio.gather(*(reader(session) for _ in range(concurrency)))
        return time.perf_counter() - started, ok, size


def feeds(api: Api, url: str, targets: int, reads: int, seconds: float) -> dict:
    """``targets`` feed targets, one plan publishing an entry to each, then ``reads`` GETs of the feeds."""
    label = "feed"
    ids = create_targets_of(api, label, "FEED", [{} for _ in range(targets)])
    publish = drained(api, [create_plan(api, label)], targets, seconds)
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        read_seconds, ok, size = runner.run(_read_feeds(url, ids, reads, 20))
    return {
        "publish": publish,
        "serve": {
            "reads": reads,
            "ok": ok,
            "seconds": round(read_seconds, 3),
            "reads_per_second": round(reads / read_seconds, 1),
            "mean_bytes": round(size / max(ok, 1)),
        },
    }

"""HERALD_LOG_FORMAT=json: one line per attempt, parsed and compared whole; no secret in any of them."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from server.logs import JsonFormatter
from tests.server.test_redaction import SECRETS, seed
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.factories import FAST_RETRY
from tests.support.receiver import Receiver, Reply
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio
FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "planId",
    "jobId",
    "targetId",
    "channel",
    "recipientId",
    "status",
    "durationMs",
    "attempt",
    "startedAt",
    "errorClass",
    "errorCode",
    "httpStatus",
    "error",
}


def attempt_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "herald.attempts"]


async def finished(d: Doors, plan_id: str) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        plan: dict[str, Any] = (await d.ok("get_distribution_plan", id=plan_id))["plan"]
        return plan

    return await until_async(read, timeout=30, done=lambda p: p["status"] in ("succeeded", "partial", "failed"))


async def test_one_exact_line_per_attempt(tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="herald.attempts")
    receiver.script["/bad"] = [Reply(400)]
    receiver.script["/flaky"] = [Reply(500), Reply(200)]
    receiver.script["/limited"] = [Reply(429, headers={"Retry-After": "0"}), Reply(200)]
    async with doors(tmp_path, log_format="json") as d:
        hooks = {
            path: await factories.webhook_target(d, f"{receiver.url}/{path}", name=path, retryPolicy=FAST_RETRY)
            for path in ("ok", "bad", "flaky", "limited")
        }
        stub = await factories.stub_target(d)
        [ana] = (await d.ok("upsert_recipients", recipients=[{"externalId": "ana", "addresses": {"stub": "ana@x"}}]))[
            "recipients"
        ]
        broadcast = await finished(d, (await factories.plan(d, *hooks.values()))["plan"]["id"])
        addressed = await finished(d, (await factories.plan(d, stub, recipientIds=[ana["id"]]))["plan"]["id"])

    lines = attempt_lines(caplog)
    assert all(set(line) == FIELDS for line in lines), lines
    for line in lines:
        assert datetime.fromisoformat(line.pop("time")) >= datetime.fromisoformat(line.pop("startedAt"))
        assert isinstance(line.pop("durationMs"), float)
    job = {j["targetId"]: j["id"] for plan in (broadcast, addressed) for j in plan["jobs"]}

    def line(target: str, attempt: int, status: str, http: int | None, error: str | None = None, **more: Any) -> dict:
        code = f"HTTP_{http}" if error else None
        return {
            "level": "INFO",
            "logger": "herald.attempts",
            "message": f"attempt {attempt} of job {job[target]}: {status}",
            "planId": more.get("plan", broadcast["id"]),
            "jobId": job[target],
            "targetId": target,
            "channel": more.get("channel", "webhook"),
            "recipientId": more.get("recipient"),
            "status": status,
            "attempt": attempt,
            "errorClass": None if error is None else status,
            "errorCode": code,
            "httpStatus": http,
            "error": error,
        }

    expected = [
        line(hooks["ok"], 1, "delivered", 200),
        line(hooks["bad"], 1, "permanent", 400, "The receiver answered HTTP 400. " + REFUSED),
        line(hooks["flaky"], 1, "transient", 500, "The receiver answered HTTP 500. Herald will retry."),
        line(hooks["flaky"], 2, "delivered", 200),
        line(hooks["limited"], 1, "rate_limited", 429, "The receiver answered HTTP 429. It asks Herald to slow down."),
        line(hooks["limited"], 2, "delivered", 200),
        line(stub, 1, "delivered", 200, plan=addressed["id"], channel="stub", recipient=ana["id"]),
    ]
    assert sorted(lines, key=_order) == sorted(expected, key=_order)


REFUSED = "The receiver refused this request; retrying will not help."


def _order(line: dict[str, Any]) -> tuple[str, int]:
    return line["jobId"], line["attempt"]


async def test_text_format_writes_no_attempt_lines(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="herald.attempts")
    async with doors(tmp_path) as d:
        hook = await factories.webhook_target(d, receiver.url + "/ok")
        plan = await finished(d, (await factories.plan(d, hook))["plan"]["id"])
    assert plan["status"] == "succeeded" and len(receiver.requests) == 1
    assert attempt_lines(caplog) == []


@pytest.mark.slow
async def test_no_secret_in_any_attempt_line(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    """Credentials in headers, Basic auth, a signing secret, secrets echoed in responses: none in a line."""
    caplog.set_level(logging.INFO, logger="herald.attempts")
    async with doors(tmp_path, log_format="json") as d:
        await seed(d, receiver)
    lines = attempt_lines(caplog)
    # The seed's plan: fail 1, ok 2 (503, 200), limited 2 (429, 200), dead 2; the target test is not a job.
    assert sorted((line["status"], line["httpStatus"]) for line in lines) == [
        ("delivered", 200),
        ("delivered", 200),
        ("rate_limited", 429),
        ("systemic", 401),
        ("transient", 500),
        ("transient", 500),
        ("transient", 503),
    ]
    text = "\n".join(json.dumps(line) for line in lines)
    assert [secret for secret in SECRETS if secret in text] == []

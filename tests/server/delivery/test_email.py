"""Email through the engine: a target created through the doors, plans delivered to a real SMTP server on loopback.

On SQLite (embedded worker) and on PostgreSQL + Redis. Plans here have no recipients (the engine
renders with none, so the message goes to the target's ``config.to``); the per-recipient path is
covered channel-side in tests/adapters/test_email.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support import factories, services
from tests.support.doors import Doors, doors
from tests.support.smtp import SmtpSink
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.integration)])
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    if request.param == "sqlite":
        async with doors(tmp_path) as opened:
            yield opened
        return
    schema = f"herald_email_{services.RUN_TAG}"
    namespace = services.redis_namespace(f"herald-email-{services.RUN_TAG}")
    backend = {
        "database_url": services.postgres_schema_url(schema),
        "redis_url": services.REDIS_URL,
        "redis_namespace": namespace,
    }
    try:
        async with doors(tmp_path, **backend) as opened:
            yield opened
    finally:
        services.drop_postgres_schema(schema)
        services.drop_redis_namespace(namespace)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink(login=("mailer", "pw"))
    yield server
    server.stop()


def config(sink: SmtpSink, **extra: Any) -> dict[str, Any]:
    return {
        "host": "127.0.0.1",
        "port": sink.port,
        "security": "none",
        "fromAddress": "reports@example.com",
        "fromName": "Reports",
        "to": ["desk@example.com", "team@example.com"],
        **extra,
    }


async def email_target(d: Doors, sink: SmtpSink, password: str = "pw", **extra: Any) -> str:
    body = await d.ok(
        "create_distribution_target",
        name="reports-mail",
        channel="email",
        config=config(sink, **extra),
        credentials={"username": "mailer", "password": password},
        retryPolicy=factories.FAST_RETRY,
    )
    target_id: str = body["target"]["id"]
    return target_id


async def test_a_plan_is_mailed_and_its_receipt_is_the_message_id(d: Doors, sink: SmtpSink) -> None:
    target_id = await email_target(d, sink)
    content = factories.content(title="Weekly report", body="Revenue **up** 4%.")
    preview = await d.ok("create_distribution_plan", content=content, targetIds=[target_id], dryRun=True)
    [shown] = preview["preview"]["targets"]
    assert (shown["channel"], shown["contentType"], shown["verdict"]) == ("email", "message/rfc822", "deliver")
    assert shown["payload"]["envelope"] == {
        "from": "reports@example.com",
        "to": ["desk@example.com", "team@example.com"],
    }
    assert sink.messages == []

    plan = (await d.ok("create_distribution_plan", content=content, targetIds=[target_id], awaitDelivery=True))["plan"]
    [job] = plan["jobs"]
    assert (plan["status"], job["status"], job["attempts"]) == ("succeeded", "delivered", 1)
    assert job["receipt"]["externalId"] == f"<{job['id']}@example.com>"
    assert job["receipt"]["responseMeta"] == {
        "statusCode": 250,
        "smtpResponse": "2.0.0 OK queued as Q1",
        "accepted": ["desk@example.com", "team@example.com"],
    }
    [arrived] = sink.messages
    assert (arrived.header("Message-ID"), arrived.header("Subject"), arrived.login) == (
        f"<{job['id']}@example.com>",
        "Weekly report",
        "mailer",
    )
    assert arrived.rcpt_tos == ["desk@example.com", "team@example.com"]
    assert "<p>Revenue <strong>up</strong> 4%.</p>" in arrived.html


async def test_a_refused_login_fails_the_job_as_systemic_without_sending(d: Doors, sink: SmtpSink) -> None:
    target_id = await email_target(d, sink, password="wrong-pw")
    plan = (await factories.plan(d, target_id, awaitDelivery=True))["plan"]
    [job] = plan["jobs"]
    assert (plan["status"], job["status"], job["errorClass"]) == ("failed", "failed", "systemic")
    assert job["lastError"].startswith("The SMTP server 127.0.0.1 answered 535 at AUTH")
    assert "wrong-pw" not in str(plan)
    assert sink.messages == []
    target = (await d.ok("get_distribution_target", id=target_id))["target"]
    assert target["hasCredentials"] is True and "password" not in str(target)


async def test_a_451_backs_off_the_email_target(d: Doors, sink: SmtpSink) -> None:
    sink.refuse["desk@example.com"] = "451 4.7.1 Greylisted, try again in 90 seconds"
    target_id = await email_target(d, sink)
    before = datetime.now(UTC)
    plan_id = (await factories.plan(d, target_id))["plan"]["id"]

    async def job() -> dict[str, Any]:
        [only] = (await d.ok("get_distribution_plan", id=plan_id))["plan"]["jobs"]
        return only

    held = await until_async(job, message="the 451 reaches the job", done=lambda j: j["errorClass"] is not None)
    assert (held["status"], held["errorClass"], held["attempts"]) == ("scheduled", "rate_limited", 1)
    target = (await d.ok("get_distribution_target", id=target_id))["target"]
    paused_until = datetime.fromisoformat(target["pausedUntil"])
    assert before + timedelta(seconds=85) <= paused_until <= datetime.now(UTC) + timedelta(seconds=95)
    assert sink.messages == []


async def test_a_target_test_mails_config_to(d: Doors, sink: SmtpSink) -> None:
    target_id = await email_target(d, sink)
    result = await d.ok("test_distribution_target", id=target_id)
    assert (result["ok"], result["statusCode"], result["externalId"][-13:]) == (True, 250, "@example.com>")
    [arrived] = sink.messages
    assert (arrived.header("Subject"), arrived.header("Message-ID")) == ("Herald test delivery", result["externalId"])


async def test_create_refuses_a_bad_or_forbidden_smtp_target(tmp_path: Path, sink: SmtpSink) -> None:
    async with doors(tmp_path, allowed_networks="") as d:
        before = d.counts()
        forbidden = await d.error("create_distribution_target", name="m", channel="email", config=config(sink))
        bad = await d.error(
            "create_distribution_target", name="m", channel="email", config=config(sink, fromAddress="nobody")
        )
        plaintext = await d.error(
            "create_distribution_target", name="m", channel="email", config=config(sink, host="mail.example.com")
        )
        after = d.counts()
    audited = [name for name in after if after[name] != before[name]]
    assert audited == ["audit_events"]  # the refusals are audited; nothing else was written
    assert (forbidden["code"], forbidden["field"]) == ("TARGET_ADDRESS_FORBIDDEN", "config.host")
    assert forbidden["message"].startswith("127.0.0.1 is a loopback address")
    assert (bad["code"], bad["field"]) == ("VALIDATION_ERROR", "config.fromAddress")
    assert (plaintext["code"], plaintext["field"]) == ("VALIDATION_ERROR", "config.security")
    assert all(body["recommendedNextAction"] for body in (forbidden, bad, plaintext))
    assert sink.connections == 0

"""Email through the engine: a target created through the doors, plans delivered to a real SMTP server on loopback.

On SQLite (embedded worker) and on PostgreSQL + Redis. A plan to an email target names recipients (a
target test mails the target's ``config.to``); a plan to a distribution list (a recipients label)
mails each recipient their own message, with the unsubscribe link a mail client POSTs to (RFC 8058),
and a 550 marks the address bounced.
"""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.routing import Route

from server.recipients.unsubscribe import unsubscribe_endpoint, unsubscribe_url
from tests.support import factories, services
from tests.support.doors import Doors, doors
from tests.support.smtp import SmtpSink
from tests.support.waiting import until_async

pytestmark = pytest.mark.anyio
PUBLIC_URL = "https://herald.example.org"


@pytest.fixture(params=["sqlite", pytest.param("postgresql+redis", marks=pytest.mark.integration)])
async def d(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Doors]:
    if request.param == "sqlite":
        async with doors(tmp_path, public_url=PUBLIC_URL) as opened:
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
        async with doors(tmp_path, public_url=PUBLIC_URL, **backend) as opened:
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


async def recipients(d: Doors, *addresses: str) -> list[str]:
    """Recipients with these email addresses (named after them), upserted through the door; their ids."""
    rows = [{"externalId": a, "name": a.split("@")[0].title(), "addresses": {"email": a}} for a in addresses]
    return [r["id"] for r in (await d.ok("upsert_recipients", recipients=rows))["recipients"]]


async def test_a_plan_is_mailed_and_each_receipt_is_the_message_id(d: Doors, sink: SmtpSink) -> None:
    target_id = await email_target(d, sink)
    ids = await recipients(d, "desk@example.com", "team@example.com")
    content = factories.content(title="Weekly report", body="Revenue **up** 4%.")
    arguments = {"content": content, "targetIds": [target_id], "recipientIds": ids}
    preview = await d.ok("create_distribution_plan", dryRun=True, **arguments)
    assert [(r["address"], r["contentType"], r["payload"]["envelope"]) for r in preview["preview"]["recipients"]] == [
        (a, "message/rfc822", {"from": "reports@example.com", "to": [a]})
        for a in ("desk@example.com", "team@example.com")
    ]
    assert sink.messages == []

    plan = (await d.ok("create_distribution_plan", awaitDelivery=True, **arguments))["plan"]
    assert (plan["status"], [(j["status"], j["attempts"]) for j in plan["jobs"]]) == (
        "succeeded",
        [("delivered", 1), ("delivered", 1)],
    )
    arrived = {m.header("Message-ID"): m for m in sink.messages}
    for job in plan["jobs"]:
        message_id = f"<{job['id']}@example.com>"
        assert job["receipt"]["externalId"] == message_id
        mail = arrived[message_id]
        assert job["receipt"]["responseMeta"] == {
            "statusCode": 250,
            "smtpResponse": f"2.0.0 OK queued as Q{sink.messages.index(mail) + 1}",
            "accepted": mail.rcpt_tos,
        }
        assert (mail.header("Subject"), mail.login, "<p>Revenue <strong>up</strong> 4%.</p>" in mail.html) == (
            "Weekly report",
            "mailer",
            True,
        )
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == ["desk@example.com", "team@example.com"]
    assert [m.header("List-Unsubscribe") for m in sink.messages] == [None, None]  # named by id, not through a list


async def test_a_refused_login_fails_the_job_as_systemic_without_sending(d: Doors, sink: SmtpSink) -> None:
    target_id = await email_target(d, sink, password="wrong-pw")
    ids = await recipients(d, "desk@example.com")
    plan = (await factories.plan(d, target_id, recipientIds=ids, awaitDelivery=True))["plan"]
    [job] = plan["jobs"]
    assert (plan["status"], job["status"], job["errorClass"]) == ("failed", "failed", "systemic")
    assert job["lastError"].startswith("The SMTP server 127.0.0.1 answered 535 at AUTH")
    assert "wrong-pw" not in str(plan)
    assert sink.messages == []
    target = (await d.ok("get_distribution_target", id=target_id))["target"]
    assert target["hasCredentials"] is True and "password" not in str(target)
    assert (await d.ok("get_recipient", id=ids[0]))["recipient"]["bouncedAt"] == {}  # the account failed, not her


async def test_a_451_backs_off_the_email_target(d: Doors, sink: SmtpSink) -> None:
    sink.refuse["desk@example.com"] = "451 4.7.1 Greylisted, try again in 90 seconds"
    target_id = await email_target(d, sink)
    ids = await recipients(d, "desk@example.com")
    before = datetime.now(UTC)
    plan_id = (await factories.plan(d, target_id, recipientIds=ids))["plan"]["id"]

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


def mail_client(d: Doors) -> httpx.AsyncClient:
    """What a mail client reaches of Herald: the unsubscribe endpoint at the public URL, on this runtime."""
    app = Starlette(routes=[Route("/unsubscribe/{token}", unsubscribe_endpoint, methods=["GET", "POST"])])
    app.state.runtime = d.rt
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL)


async def test_email_to_a_list_personalised_with_an_attachment_bounces_and_unsubscribes(
    d: Doors, sink: SmtpSink
) -> None:
    sink.refuse["ben@example.com"] = "550 5.1.1 <ben@example.com>: Recipient address rejected: User unknown"
    target_id = await email_target(d, sink, to=[])
    board = [
        {"externalId": "a-1", "name": "Ana", "addresses": {"email": "ana@example.com"}, "attributes": {"city": "Pune"}},
        {"externalId": "a-2", "name": "Ben", "addresses": {"email": "ben@example.com"}, "attributes": {"city": "Goa"}},
        {"externalId": "a-3", "name": "Cy", "addresses": {"email": "cy@example.com"}},
    ]
    upserted = await d.ok("upsert_recipients", recipients=[{**r, "labels": ["board"]} for r in board])
    ids = {r["externalId"]: r["id"] for r in upserted["recipients"]}
    figures = b"city,amount\nPune,12.50\n"
    content = factories.content(
        title="Report for {{ recipient.name }}",
        body="Dear {{ recipient.name }}, the **{{ recipient.attributes.city | default('head office') }}** figures.",
        attachments=[
            {"dataBase64": base64.b64encode(figures).decode(), "filename": "figures.csv", "contentType": "text/csv"}
        ],
    )
    dry = await d.ok(
        "create_distribution_plan", content=content, targetIds=[target_id], recipientLabels=["board"], dryRun=True
    )
    shown = {r["externalId"]: r["payload"] for r in dry["preview"]["recipients"]}
    assert (shown["a-1"]["headers"]["To"], shown["a-1"]["headers"]["Subject"]) == (
        "Ana <ana@example.com>",
        "Report for Ana",
    )
    assert (
        shown["a-1"]["headers"]["List-Unsubscribe"] == f"<{unsubscribe_url(d.rt, 'ws_default', ids['a-1'], 'email')}>"
    )
    assert shown["a-3"]["attachments"] == [
        {"filename": "figures.csv", "contentType": "text/csv", "sizeBytes": len(figures)}
    ]
    assert sink.messages == []
    plan = (
        await d.ok(
            "create_distribution_plan",
            content=content,
            targetIds=[target_id],
            recipientLabels=["board"],
            awaitDelivery=True,
            awaitTimeoutSeconds=15,
        )
    )["plan"]
    assert (plan["status"], plan["counts"]["delivered"], plan["counts"]["failed"]) == ("partial", 2, 1)

    by_address = {m.rcpt_tos[0]: m for m in sink.messages}
    assert sorted(by_address) == ["ana@example.com", "cy@example.com"]
    ana, cy = by_address["ana@example.com"], by_address["cy@example.com"]
    assert (ana.header("To"), ana.header("Subject"), cy.header("Subject")) == (
        "Ana <ana@example.com>",
        "Report for Ana",
        "Report for Cy",
    )
    assert ana.text.startswith("Dear Ana, the **Pune** figures.") and "<strong>head office</strong>" in cy.html
    assert ana.attachments == [("figures.csv", "text/csv", figures)] == cy.attachments
    link = unsubscribe_url(d.rt, "ws_default", ids["a-1"], "email")
    assert (ana.header("List-Unsubscribe"), ana.header("List-Unsubscribe-Post")) == (
        f"<{link}>",
        "List-Unsubscribe=One-Click",
    )
    jobs = {job["recipientId"]: job for job in plan["jobs"]}
    assert (
        jobs[ids["a-1"]]["receipt"]["externalId"]
        == ana.header("Message-ID")
        == f"<{jobs[ids['a-1']]['id']}@example.com>"
    )
    bounced = jobs[ids["a-2"]]
    assert (bounced["status"], bounced["errorClass"], bounced["attempts"]) == ("failed", "permanent", 1)
    assert bounced["lastError"].startswith("The SMTP server 127.0.0.1 answered 550 at RCPT")
    assert list((await d.ok("get_recipient", id=ids["a-2"]))["recipient"]["bouncedAt"]) == ["email"]
    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert (report["recipients"], report["bounced"], report["deliveredFirstTry"], report["failed"]) == (3, 1, 2, 1)

    # Ana's mail client unsubscribes with one click: a POST of List-Unsubscribe=One-Click to the link.
    async with mail_client(d) as client:
        answer = await client.post(
            link.removeprefix(PUBLIC_URL),
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert answer.status_code == 200 and "unsubscribed from email" in answer.text
    later = (
        await d.ok(
            "create_distribution_plan",
            content=factories.content(title="Next week"),
            targetIds=[target_id],
            recipientLabels=["board"],
            awaitDelivery=True,
            awaitTimeoutSeconds=15,
        )
    )["plan"]
    assert sorted(later["recipients"]["skipped"], key=lambda s: s["reason"]) == [
        {"reason": "recipient unsubscribed from email", "count": 1},
        {"reason": "recipient's email address bounced", "count": 1},
    ]
    assert (later["status"], later["counts"]["delivered"], later["counts"]["skipped"]) == ("succeeded", 1, 2)
    assert [(m.rcpt_tos, m.header("Subject")) for m in sink.messages[2:]] == [(["cy@example.com"], "Next week")]

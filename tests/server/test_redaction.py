"""Redaction, proven: distinctive credentials go through deliveries that succeed, fail, hit 429 and
dead-letter; then every API response on both doors, every log line, every attempt and dead letter,
and the raw database files are searched, and none of the values is found."""

from __future__ import annotations

import base64
import json
import logging
from pathlib import Path

import pytest
from sqlmodel import select

from graphql_schema.schema import schema
from server.db import session_scope
from server.models import Attempt, AuditEvent, DeadLetter, OperationalEvent
from server.operations import OPERATIONS
from tests.support import factories
from tests.support.doors import Doors, doors
from tests.support.gql import document
from tests.support.receiver import Receiver, Reply

pytestmark = pytest.mark.anyio
BEARER, HEADER_KEY, PASSWORD, DEAD_TOKEN = "RDX-bearer-7c1e", "RDX-header-55aa", "RDX-pass-90f1", "RDX-dead-3b7d"
WEBHOOK_SECRET = "whsec_" + base64.b64encode(b"RDX-webhook-secret-0123456789abcdef").decode()
SECRETS = [
    BEARER,
    HEADER_KEY,
    PASSWORD,
    DEAD_TOKEN,
    WEBHOOK_SECRET,
    WEBHOOK_SECRET[6:],
    base64.b64encode(f"rdx-user:{PASSWORD}".encode()).decode(),
]
FAST = {"maxAttempts": 2, "baseDelaySeconds": 0.01, "maxDelaySeconds": 0.01}


async def seed(d: Doors, receiver: Receiver) -> list[str]:
    receiver.script["/fail"] = [Reply(401, body=json.dumps({"error": f"bad token {BEARER} / {HEADER_KEY}"}))]
    receiver.script["/limited"] = [
        Reply(429, headers={"Retry-After": "1"}, body=f'{{"echo": "{WEBHOOK_SECRET}"}}'),
        Reply(200),
    ]
    receiver.script["/dead"] = [Reply(500, body=f"upstream said {DEAD_TOKEN}")]
    basic = base64.b64encode(f"rdx-user:{PASSWORD}".encode()).decode()
    receiver.script["/ok"] = [Reply(503, body=f"echo Authorization: Basic {basic}"), Reply(200)]
    specs = [
        (
            "fail",
            "http",
            {"url": receiver.url + "/fail"},
            {"bearerToken": BEARER, "headers": {"X-Api-Key": HEADER_KEY}},
        ),
        ("ok", "http", {"url": receiver.url + "/ok"}, {"username": "rdx-user", "password": PASSWORD}),
        ("limited", "webhook", {"url": receiver.url + "/limited"}, {"signingSecret": WEBHOOK_SECRET}),
        ("dead", "http", {"url": receiver.url + "/dead"}, {"bearerToken": DEAD_TOKEN}),
    ]
    ids = []
    for name, channel, config, credentials in specs:
        created = await d.ok(
            "create_distribution_target",
            name=name,
            channel=channel,
            config=config,
            credentials=credentials,
            retryPolicy=FAST,
        )
        ids.append(created["target"]["id"])
    await d.ok(
        "update_distribution_target",
        id=ids[0],
        credentials={"bearerToken": BEARER, "headers": {"X-Api-Key": HEADER_KEY}},
    )
    await d.ok(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=ids,
        awaitDelivery=True,
        awaitTimeoutSeconds=20,
    )
    # The plan's 401 opened the target's circuit: an operator resumes it, so the test delivery may go out.
    await d.ok("resume_distribution_target", id=ids[0])
    await d.ok("test_distribution_target", id=ids[0])
    return ids


def read_arguments(tool: str, ids: list[str], plan_id: str, letter_id: str) -> list[dict]:
    return {
        "get_distribution_target": [{"id": i} for i in ids],
        "get_distribution_plan": [{"id": plan_id}],
        "get_plan_report": [{"id": plan_id}],
        "list_plan_jobs": [{"planId": plan_id}],
        "get_dead_letter": [{"id": letter_id}],
        "get_recipient": [],  # no recipient is seeded: recipients hold no credentials
        "get_distribution_schedule": [],  # nor schedules
        "list_alert_rules": [{}],  # alert rules name a target, never its credentials
    }.get(tool, [{}])


@pytest.mark.slow  # every read on both doors, every row, the logs and the raw database searched
async def test_no_credential_appears_anywhere(
    tmp_path: Path, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with doors(tmp_path) as d:
        ids = await seed(d, receiver)
        assert {r.headers.get("Authorization") for r in receiver.at("/fail")} == {f"Bearer {BEARER}"}  # they were sent
        plan_id = (await d.ok("list_distribution_plans"))["items"][0]["id"]
        letter_id = (await d.ok("list_dead_letters"))["items"][0]["id"]
        responses = []
        for op in (op for op in OPERATIONS if not op.mutation):
            for arguments in read_arguments(op.tool, ids, plan_id, letter_id):
                responses.append(json.dumps(await d.ok(op.tool, **arguments)))
                context = {
                    "runtime": d.rt,
                    "principal": d.principal,
                    "request_id": "req_r",
                    "request": None,
                    "response": None,
                }
                result = await schema.execute(
                    document(op, arguments).replace(
                        "__typename",
                        "__typename ... on "
                        + op.output_model.__name__.removesuffix("Read")
                        + " { recommendedNextAction { reason } }",
                    ),
                    context_value=context,
                )
                responses.append(json.dumps(result.data))
        with session_scope(d.rt.engine) as session:
            stored = {
                model.__name__: [r.model_dump_json() for r in session.exec(select(model)).all()]
                for model in (Attempt, DeadLetter, OperationalEvent, AuditEvent)
            }
    # Attempts: fail 1, ok 2 (503, 200), limited 2 (429, 200), dead 2. Audit: 4 creates, the update, the plan,
    # the resume, the test. Events: the plan's 4, then the resume (target resumed, circuit closed) and the
    # test's 401 (circuit opened again). Responses: each read operation's argument sets, once per door.
    assert {name: len(found) for name, found in stored.items()} == {
        "Attempt": 7,
        "DeadLetter": 1,
        "OperationalEvent": 7,
        "AuditEvent": 8,
    }
    reads = [a for op in OPERATIONS if not op.mutation for a in read_arguments(op.tool, ids, plan_id, letter_id)]
    assert len(responses) == 2 * len(reads)
    rows = [row for found in stored.values() for row in found]
    raw = b"".join(p.read_bytes() for p in tmp_path.glob("herald.db*"))
    haystacks = {"responses": "\n".join(responses), "logs": caplog.text, "rows": "\n".join(rows)}
    for secret in SECRETS:
        for where, text in haystacks.items():
            at = text.find(secret)
            assert at < 0, f"{secret} found in {where}: …{text[max(at - 300, 0) : at + 40]}"
        assert secret.encode() not in raw, f"{secret} found in the raw database"
    assert "[redacted]" in haystacks["rows"]


def test_a_private_key_is_redacted_whole_and_line_by_line() -> None:
    from server.redaction import redact, secret_values

    lines = ["MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "BKcwggSjAgEAAoIBAQDQ1234567890ab"]
    key = "-----BEGIN PRIVATE KEY-----\n" + "\n".join(lines) + "\n-----END PRIVATE KEY-----\n"
    secrets = secret_values({"clientEmail": "sa@p.iam.gserviceaccount.com", "privateKey": key})
    assert secrets[1:] == [key, "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC", "BKcwggSjAgEAAoIBAQDQ1234567890ab"]
    assert redact(f"bad key {key}", secrets) == "bad key [redacted]"
    assert redact("near BKcwggSjAgEAAoIBAQDQ1234567890ab here", secrets) == "near [redacted] here"

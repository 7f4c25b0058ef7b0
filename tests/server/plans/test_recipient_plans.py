"""Plans that address recipients: one job per (addressed target, recipient), skips with reasons,
personalised content (templates, per-recipient content, variations, attachments), hard bounces and
the unsubscribe link, all through the MCP door on one embedded runtime."""

from __future__ import annotations

import base64
import threading
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from sqlmodel import col, select
from starlette.testclient import TestClient

from server.app import create_app
from server.db import session_scope
from server.models import DeadLetter, Job, PlanAttachment, Recipient
from server.recipients.unsubscribe import unsubscribe_url
from tests.support import factories
from tests.support.doors import Doors, doors

pytestmark = pytest.mark.anyio


@pytest.fixture
async def d(tmp_path: Path) -> AsyncIterator[Doors]:
    async with doors(tmp_path) as opened:
        yield opened


class Files:
    """A real HTTP server on loopback serving files by path (GET), for attachments by URL."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        files = self.files

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = files.get(self.path)
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}"


@pytest.fixture
def files() -> Iterator[Files]:
    served = Files()
    yield served
    served.server.shutdown()
    served.server.server_close()


async def people(d: Doors, *rows: dict) -> dict[str, str]:
    body = await d.ok("upsert_recipients", recipients=list(rows))
    return {r["externalId"]: r["id"] for r in body["recipients"]}


def person(ext: str, **fields: object) -> dict:
    return {"externalId": ext, "name": ext.title(), "addresses": {"stub": f"{ext}@stub"}, "labels": ["desk"], **fields}


async def done(d: Doors, plan_id: str) -> dict:
    from tests.support.waiting import until_async

    async def read() -> dict:
        return (await d.ok("get_distribution_plan", id=plan_id))["plan"]

    return await until_async(
        read,
        timeout=15,
        message="plan final",
        done=lambda p: p["counts"]["pending"] == 0 and p["counts"]["delivering"] == 0,
    )


def rows(d: Doors) -> dict[str, int]:
    """Row counts but the audit trail (a refusal is audited)."""
    return {table: n for table, n in d.counts().items() if table != "audit_events"}


def jobs_of(d: Doors, plan_id: str) -> list[Job]:
    with session_scope(d.rt.engine) as session:
        return list(session.exec(select(Job).where(Job.plan_id == plan_id).order_by(col(Job.id))).all())


async def test_one_job_per_addressed_target_and_recipient_with_skip_reasons(d: Doors) -> None:
    ids = await people(
        d,
        person("ana"),
        person("ben"),
        person("cy", active=False),
        person("dee", addresses={}),
        person("eve"),
    )
    await d.ok("unsubscribe_recipient", id=ids["eve"], channel="stub")
    stub = await factories.stub_target(d, "sms")
    hook = await factories.stub_target(d, "other")  # a second stub target: also addressed when recipients are named
    plan = (
        await d.ok(
            "create_distribution_plan",
            content=factories.content(),
            targetIds=[stub, hook],
            recipientLabels=["desk"],
            awaitDelivery=True,
            awaitTimeoutSeconds=15,
        )
    )["plan"]
    assert plan["counts"]["total"] == 10 and plan["counts"]["delivered"] == 4 and plan["counts"]["skipped"] == 6
    assert plan["recipients"] == {
        "ids": 0,
        "labels": ["desk"],
        "reached": 5,
        "jobs": 10,
        "skipped": [
            {"reason": "recipient has no stub address", "count": 2},
            {"reason": "recipient inactive", "count": 2},
            {"reason": "recipient unsubscribed from stub", "count": 2},
        ],
    }
    rows = jobs_of(d, plan["id"])
    assert sorted((j.target_id, j.recipient_id) for j in rows) == sorted(
        (t, r) for t in (stub, hook) for r in ids.values()
    )
    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert (report["recipients"], report["skipped"], report["deliveryRate"]) == (5, 6, 1.0)
    assert report["skippedReasons"] == plan["recipients"]["skipped"]
    assert report["withinSla"] is True and report["slaSeconds"] == 300
    # The same edition again: every (target, recipient) already has it.
    again = await d.ok(
        "create_distribution_plan",
        content={**plan["content"]},
        targetIds=[stub],
        recipientIds=[ids["ana"]],
    )
    assert again["plan"]["counts"]["skipped"] == 1
    assert again["plan"]["jobs"][0]["skipReason"] == f"already distributed to this target by {plan['id']}"


async def test_addressing_mistakes_are_refused_and_write_nothing(d: Doors, receiver) -> None:  # type: ignore[no-untyped-def]
    ids = await people(d, person("ana"))
    hook = await factories.webhook_target(d, receiver.url + "/hook")
    stub = await factories.stub_target(d)
    before = rows(d)
    broadcast_only = await d.error(
        "create_distribution_plan", content=factories.content(), targetIds=[hook], recipientIds=[ids["ana"]]
    )
    assert broadcast_only["code"] == "VALIDATION_ERROR" and broadcast_only["field"] == "recipientIds"
    unknown = await d.error(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[stub],
        recipientIds=["rcp_01jzzzzzzzzzzzzzzzzzzzzzzz"],
    )
    assert unknown["code"] == "NOT_FOUND" and unknown["field"] == "recipientIds"
    empty_list = await d.error(
        "create_distribution_plan", content=factories.content(), targetIds=[stub], recipientLabels=["nobody"]
    )
    assert empty_list["code"] == "VALIDATION_ERROR" and empty_list["field"] == "recipientLabels"
    stray = await d.error(
        "create_distribution_plan",
        content=factories.content(),
        targetIds=[stub],
        recipientIds=[ids["ana"]],
        recipientContent={"ARN-404": {"body": "x"}},
    )
    assert stray["code"] == "VALIDATION_ERROR" and stray["field"] == "recipientContent.ARN-404"
    assert rows(d) == before


async def test_templates_and_recipient_content_are_rendered_per_recipient(d: Doors) -> None:
    ids = await people(
        d, person("ana", attributes={"city": "Pune"}), person("ben", attributes={"city": "Goa"}), person("cy")
    )
    stub = await factories.stub_target(
        d, "doomed", {"failTimes": 9}, retryPolicy={**factories.FAST_RETRY, "maxAttempts": 1}
    )
    content = factories.content(
        title="Note for {{ recipient.name }}",
        body="{{ content.variables.greeting }} {{ recipient.name }} in "
        "{{ recipient.attributes.city | default('your city') }} via {{ target.name }}",
        variables={"greeting": "Namaste"},
    )
    arguments = {
        "content": content,
        "targetIds": [stub],
        "recipientIds": [ids["ana"], ids["ben"], ids["cy"]],
        "recipientContent": {"ben": {"body": "Ben's own approved text, verbatim: {{ not a template }"}},
    }
    dry = await d.ok("create_distribution_plan", dryRun=True, **arguments)
    shown = {r["recipientId"]: r["payload"]["data"] for r in dry["preview"]["recipients"]}
    assert shown[ids["ana"]]["title"] == "Note for Ana"
    assert shown[ids["ana"]]["body"] == "Namaste Ana in Pune via doomed"
    assert shown[ids["ben"]]["body"] == "Ben's own approved text, verbatim: {{ not a template }"
    assert shown[ids["cy"]]["body"] == "Namaste Cy in your city via doomed"
    assert dry["preview"]["jobsToCreate"] == 3 and dry["preview"]["recipientJobs"] == 3
    plan = (await d.ok("create_distribution_plan", awaitDelivery=True, awaitTimeoutSeconds=15, **arguments))["plan"]
    assert plan["counts"]["dead"] == 3
    # What the engine sent is in each dead letter's request snapshot: the same payloads the dry run showed.
    with session_scope(d.rt.engine) as session:
        letters = session.exec(select(DeadLetter, Job.recipient_id).join(Job, col(Job.id) == DeadLetter.job_id)).all()
    sent = {rid: letter.request["body"]["data"] for letter, rid in letters}
    assert {rid: data["body"] for rid, data in sent.items()} == {rid: data["body"] for rid, data in shown.items()}
    assert {rid: letter.request["body"]["recipient"]["address"] for letter, rid in letters} == {
        ids["ana"]: "ana@stub",
        ids["ben"]: "ben@stub",
        ids["cy"]: "cy@stub",
    }


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"body": "Hello {{ recipient.name"}, "content.body", "template syntax error on line 1"),
        ({"title": "{{ recipient.nickname }}"}, "content.title", "has no attribute 'nickname'"),
        ({"body": "{{ content.__class__.__mro__ }}"}, "content.body", "template error"),
    ],
)
async def test_a_template_error_is_a_validation_error_naming_the_field(
    d: Doors, fields: dict, field: str, words: str
) -> None:
    ids = await people(d, person("ana"))
    stub = await factories.stub_target(d)
    before = rows(d)
    for dry_run in (True, False):
        error = await d.error(
            "create_distribution_plan",
            dryRun=dry_run,
            content=factories.content(**fields),
            targetIds=[stub],
            recipientIds=[ids["ana"]],
        )
        assert error["code"] == "VALIDATION_ERROR" and error["field"] == field, error
        assert words in error["message"], error["message"]
    assert rows(d) == before


async def test_variations_alternate_so_neighbours_differ(d: Doors) -> None:
    ids = await people(d, *(person(f"p{i}") for i in range(5)))
    stub = await factories.stub_target(d)
    content = factories.content(variations=[{"title": "Morning"}, {"title": "Hello", "body": "Short"}])
    dry = await d.ok(
        "create_distribution_plan", dryRun=True, content=content, targetIds=[stub], recipientIds=list(ids.values())
    )
    assert [r["variation"] for r in dry["preview"]["recipients"]] == [0, 1, 0, 1, 0]
    assert [r["payload"]["data"]["title"] for r in dry["preview"]["recipients"]] == ["Morning", "Hello"] * 2 + [
        "Morning"
    ]
    assert dry["preview"]["recipients"][1]["payload"]["data"]["body"] == "Short"
    plan = (await d.ok("create_distribution_plan", content=content, targetIds=[stub], recipientIds=list(ids.values())))[
        "plan"
    ]
    assert [j.variation for j in jobs_of(d, plan["id"])] == [0, 1, 0, 1, 0]


async def test_dry_run_renders_the_first_n_and_counts_the_rest(d: Doors) -> None:
    ids = await people(d, *(person(f"p{i}") for i in range(7)))
    stub = await factories.stub_target(d)
    dry = await d.ok(
        "create_distribution_plan",
        dryRun=True,
        content=factories.content(),
        targetIds=[stub],
        recipientIds=list(ids.values()),
        previewLimit=3,
    )
    assert [r["externalId"] for r in dry["preview"]["recipients"]] == ["p0", "p1", "p2"]
    assert (dry["preview"]["jobsToCreate"], dry["preview"]["recipientJobs"]) == (7, 7)


async def test_attachments_inline_and_by_url_are_stored_once_and_capped(d: Doors, files: Files) -> None:
    ids = await people(d, person("ana"))
    stub = await factories.stub_target(d)
    files.files["/report.pdf"] = b"%PDF-1.7 report"
    inline = b"a,b\n1,2\n"
    content = factories.content(
        attachments=[
            {"url": files.url + "/report.pdf", "filename": "report.pdf", "contentType": "application/pdf"},
            {"dataBase64": base64.b64encode(inline).decode(), "filename": "data.csv", "contentType": "text/csv"},
        ]
    )
    arguments = {"content": content, "targetIds": [stub], "recipientIds": [ids["ana"]]}
    dry = await d.ok("create_distribution_plan", dryRun=True, **arguments)
    assert dry["preview"]["recipients"][0]["payload"]["attachments"] == [
        {"filename": "report.pdf", "contentType": "application/pdf", "size": 15},
        {"filename": "data.csv", "contentType": "text/csv", "size": 8},
    ]
    plan = (await d.ok("create_distribution_plan", awaitDelivery=True, awaitTimeoutSeconds=15, **arguments))["plan"]
    assert plan["counts"]["delivered"] == 1
    assert [a.get("dataBase64") for a in plan["content"]["attachments"]] == [None, None]
    with session_scope(d.rt.engine) as session:
        stored = session.exec(select(PlanAttachment).where(PlanAttachment.plan_id == plan["id"])).all()
    assert [(a.position, a.filename, a.data) for a in stored] == [
        (0, "report.pdf", b"%PDF-1.7 report"),
        (1, "data.csv", inline),
    ]
    before = rows(d)
    missing = await d.error(
        "create_distribution_plan",
        content=factories.content(
            attachments=[{"url": files.url + "/nope", "filename": "x", "contentType": "text/plain"}]
        ),
        targetIds=[stub],
        recipientIds=[ids["ana"]],
    )
    assert missing["field"] == "content.attachments[0].url" and "HTTP 404" in missing["message"]
    guarded = await d.error(
        "create_distribution_plan",
        content=factories.content(
            attachments=[{"url": "http://169.254.169.254/latest", "filename": "x", "contentType": "text/plain"}]
        ),
        targetIds=[stub],
        recipientIds=[ids["ana"]],
    )
    assert guarded["field"] == "content.attachments[0].url" and guarded["code"] == "VALIDATION_ERROR"
    garbled = await d.error(
        "create_distribution_plan",
        content=factories.content(attachments=[{"dataBase64": "@@@", "filename": "x", "contentType": "text/plain"}]),
        targetIds=[stub],
        recipientIds=[ids["ana"]],
    )
    assert garbled["field"] == "content.attachments[0].dataBase64"
    both = await d.error(
        "create_distribution_plan",
        content=factories.content(attachments=[{"filename": "x", "contentType": "text/plain"}]),
        targetIds=[stub],
        recipientIds=[ids["ana"]],
    )
    assert both["field"] == "content.attachments[0]" and "exactly one of url or dataBase64" in both["message"]
    assert rows(d) == before


async def test_an_attachment_over_the_cap_is_refused(tmp_path: Path, files: Files) -> None:
    async with doors(tmp_path, attachment_max_bytes=10) as d:
        stub = await factories.stub_target(d)
        files.files["/big"] = b"x" * 11
        for item in (
            {"url": files.url + "/big", "filename": "big", "contentType": "text/plain"},
            {"dataBase64": base64.b64encode(b"x" * 11).decode(), "filename": "big", "contentType": "text/plain"},
        ):
            error = await d.error(
                "create_distribution_plan", dryRun=True, content=factories.content(attachments=[item]), targetIds=[stub]
            )
            assert error["code"] == "VALIDATION_ERROR" and "larger than 10 bytes" in error["message"], error


async def test_a_hard_bounce_marks_the_address_and_later_plans_skip_it(d: Doors) -> None:
    ids = await people(d, person("ana"), person("ben"))
    stub = await factories.stub_target(d, "mail", {"bounceAddresses": ["ben@stub"]})
    plan = (
        await d.ok(
            "create_distribution_plan",
            content=factories.content(),
            targetIds=[stub],
            recipientLabels=["desk"],
            awaitDelivery=True,
            awaitTimeoutSeconds=15,
        )
    )["plan"]
    assert (plan["counts"]["delivered"], plan["counts"]["failed"]) == (1, 1)
    failed = next(j for j in plan["jobs"] if j["status"] == "failed")
    assert failed["recipientId"] == ids["ben"] and failed["errorClass"] == "permanent"
    ben = (await d.ok("get_recipient", id=ids["ben"]))["recipient"]
    assert list(ben["bouncedAt"]) == ["stub"]
    report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
    assert (report["bounced"], report["deliveryRate"], report["withinSla"]) == (1, 0.5, False)
    later = (
        await d.ok("create_distribution_plan", content=factories.content(), targetIds=[stub], recipientLabels=["desk"])
    )["plan"]
    assert later["recipients"]["skipped"] == [{"reason": "recipient's stub address bounced", "count": 1}]
    # A new address forgets the bounce.
    await d.ok("upsert_recipients", recipients=[person("ben", addresses={"stub": "ben2@stub"})])
    assert (await d.ok("get_recipient", id=ids["ben"]))["recipient"]["bouncedAt"] == {}


async def test_unsubscribe_link_get_confirms_post_unsubscribes_wrong_token_404(tmp_path: Path) -> None:
    app = create_app(factories.test_settings(tmp_path, public_url="https://herald.example.org/"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        rt = app.state.runtime
        principal, _ = factories.principal(rt)
        ana = factories.call(rt, "upsert_recipients", recipients=[person("ana")]).recipients[0].id
        stub = factories.call(rt, "create_distribution_target", name="s", channel="stub").target.id
        dry = factories.call(
            rt,
            "create_distribution_plan",
            dryRun=True,
            content=factories.content(),
            targetIds=[stub],
            recipientLabels=["desk"],
        )
        url = dry.preview.recipients[0].payload["recipient"]["unsubscribeUrl"]
        assert url == unsubscribe_url(rt, "ws_default", ana, "stub")
        assert url.startswith(f"https://herald.example.org/unsubscribe/{ana}.stub.")
        path = url.removeprefix("https://herald.example.org")
        named = factories.call(
            rt,
            "create_distribution_plan",
            dryRun=True,
            content=factories.content(),
            targetIds=[stub],
            recipientIds=[ana],
        )
        assert "unsubscribeUrl" not in named.preview.recipients[0].payload["recipient"]  # not reached through a list

        def unsubscribed() -> list[str]:
            with session_scope(rt.engine) as session:
                row = session.get(Recipient, ana)
                assert row is not None
                return list(row.unsubscribed)

        page = client.get(path)
        assert page.status_code == 200 and "Unsubscribe" in page.text and unsubscribed() == []
        forged = path[:-4] + ("aaaa" if not path.endswith("aaaa") else "bbbb")
        for wrong in (forged, f"/unsubscribe/{ana}.email.{path.rsplit('.', 1)[1]}", "/unsubscribe/x"):
            assert client.post(wrong, data={"List-Unsubscribe": "One-Click"}).status_code == 404
            assert client.get(wrong).status_code == 404
        assert unsubscribed() == []
        for _ in range(2):  # idempotent
            done_page = client.post(path, data={"List-Unsubscribe": "One-Click"})
            assert done_page.status_code == 200 and "unsubscribed from stub" in done_page.text
        assert unsubscribed() == ["stub"]
        later = factories.call(
            rt, "create_distribution_plan", content=factories.content(), targetIds=[stub], recipientLabels=["desk"]
        )
        assert later.plan.counts.skipped == 1
        assert principal is not None

"""WhatsApp status webhooks at /inbound/whatsapp/{targetId}: Meta's verification handshake, signatures, receipts
moving forward only, and a late ``failed`` turning a delivered job (and its plan) failed."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from server.app import create_app
from server.inbound import whatsapp as inbound
from tests.support import factories
from tests.support.doors import Doors
from tests.support.fakes import engine
from tests.support.fakes.base import Act
from tests.support.fakes.whatsapp import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, RECIPIENT, WhatsAppFake
from tests.support.waiting import until_async

pytestmark = [pytest.mark.anyio, pytest.mark.slow]
CREDENTIALS = {"accessToken": ACCESS_TOKEN, "appSecret": APP_SECRET, "verifyToken": "verify-me-please"}


@pytest.fixture
def fake() -> Iterator[WhatsAppFake]:
    server = WhatsAppFake()
    yield server
    server.stop()


@asynccontextmanager
async def inbound_client(d: Doors) -> AsyncIterator[httpx.AsyncClient]:
    app = Starlette(routes=inbound.ROUTES)
    app.state.runtime = d.rt
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://herald") as client:
        yield client


async def delivered(d: Doors, fake: WhatsAppFake, **config: Any) -> tuple[str, dict[str, Any]]:
    cfg = {"phoneNumberId": PHONE_NUMBER_ID, "apiBaseUrl": fake.api, "to": RECIPIENT, **config}
    target_id = await engine.create_target(d, "whatsapp", cfg, CREDENTIALS)
    plan = await engine.delivered_plan(d, target_id)
    assert plan["status"] == "succeeded", plan
    return target_id, plan


def test_the_app_serves_the_inbound_routes(tmp_path: Path) -> None:
    app = create_app(factories.test_settings(tmp_path), worker=False)
    paths = {getattr(route, "path", None) for route in app.routes}
    assert "/inbound/whatsapp/{target_id}" in paths
    app.state.runtime.close()


async def test_verification_echoes_the_challenge_only_for_the_verify_token(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d, inbound_client(d) as client:
        target_id, _ = await delivered(d, fake)
        query = {"hub.mode": "subscribe", "hub.verify_token": "verify-me-please", "hub.challenge": "1158201444"}
        ok = await client.get(f"/inbound/whatsapp/{target_id}", params=query)
        assert (ok.status_code, ok.text) == (200, "1158201444")
        wrong = await client.get(f"/inbound/whatsapp/{target_id}", params={**query, "hub.verify_token": "guess-guess"})
        assert wrong.status_code == 403 and "1158201444" not in wrong.text
        unknown = await client.get("/inbound/whatsapp/target_nope", params=query)
        assert unknown.status_code == 404


async def test_statuses_move_the_receipt_forward_only_and_idempotently(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d, inbound_client(d) as client:
        target_id, plan = await delivered(d, fake, template={"name": "hello_world"})
        [job] = plan["jobs"]
        [accepted] = fake.accepted
        assert accepted.body["biz_opaque_callback_data"] == job["id"]
        url = f"/inbound/whatsapp/{target_id}"

        async def post(status: str, **options: Any) -> httpx.Response:
            raw, headers = fake.signed_status(accepted, status, **options)
            return await client.post(url, content=raw, headers=headers)

        forged = await post("failed", secret="not-the-app-secret")
        assert forged.status_code == 403
        assert engine.receipt(d, job["id"]).provider_status is None  # type: ignore[union-attr]
        answers = [(await post(status)).json() for status in ("delivered", "sent", "delivered", "read", "delivered")]
        assert [a["updated"] for a in answers] == [1, 0, 0, 1, 0]  # late "sent", resent "delivered": no change
        receipt = engine.receipt(d, job["id"])
        assert receipt is not None and (receipt.provider_status, receipt.response_meta["status"]) == ("read", "read")
        assert engine.job(d, job["id"]).status == "delivered"
        read = await d.ok("get_distribution_plan", id=plan["id"])
        assert read["plan"]["jobs"][0]["receipt"]["providerStatus"] == "read"


async def test_a_late_failure_fails_the_delivered_job_and_its_plan(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d, inbound_client(d) as client:
        target_id, plan = await delivered(d, fake)  # free text outside the 24-hour window: Meta fails it later
        [job] = plan["jobs"]
        [accepted] = fake.accepted
        url = f"/inbound/whatsapp/{target_id}"
        for status in ("sent", "failed", "failed", "delivered"):
            raw, headers = fake.signed_status(accepted, status)
            assert (await client.post(url, content=raw, headers=headers)).status_code == 200
        read = await d.ok("get_distribution_plan", id=plan["id"])
        [failed] = read["plan"]["jobs"]
        assert (read["plan"]["status"], failed["status"], failed["errorClass"]) == ("failed", "failed", "permanent")
        assert "code 131047" in failed["lastError"] and "Send a template" in failed["lastError"]
        assert failed["receipt"]["providerStatus"] == "failed"
        assert failed["receipt"]["responseMeta"]["providerErrors"][0]["code"] == 131047
        counts = read["plan"]["counts"]
        assert (counts["delivered"], counts["failed"]) == (0, 1)
        assert len(engine.events(d, "job.failed_late", target_id)) == 1  # the resent failure changed nothing


async def test_a_status_for_a_receipt_not_yet_recorded_is_asked_again(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d, inbound_client(d) as client:
        target_id, plan = await delivered(d, fake)
        [accepted] = fake.accepted
        stranger = inbound.Status("wamid.unknown", "delivered", None, None, [])
        assert inbound.apply_statuses(d.rt, target_id, [stranger]) == (0, 0)  # never sent by Herald: ignored
        raw, headers = fake.signed_status(accepted, "delivered")
        other = await engine.create_target(
            d, "whatsapp", {"phoneNumberId": PHONE_NUMBER_ID, "apiBaseUrl": fake.api, "to": RECIPIENT}, CREDENTIALS
        )
        answer = await client.post(f"/inbound/whatsapp/{other}", content=raw, headers=headers)
        assert answer.json() == {"received": 1, "updated": 0}  # another target's message moves nothing
        assert engine.receipt(d, plan["jobs"][0]["id"]).provider_status is None  # type: ignore[union-attr]

        fake.script.append(Act("hang", 5))  # accepted, and the answer is late: the job is still delivering
        created = await factories.plan(d, target_id)
        [job] = created["plan"]["jobs"]
        await until_async(lambda: len(fake.accepted) == 2, timeout=10, message="the second message accepted")
        raw, headers = fake.signed_status(fake.accepted[1], "sent")
        early = await client.post(f"/inbound/whatsapp/{target_id}", content=raw, headers=headers)
        assert (early.status_code, early.json()) == (503, {"received": 1, "updated": 0, "retryLater": 1})
        assert engine.job(d, job["id"]).status == "delivering"

"""WhatsApp against its faithful fake: the channel alone on a real ChannelIO with a RecipientView (E.164),
then the full path through the engine (a target with a fixed ``config.to``: recipients reach the engine
in their own branch)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import (
    Content,
    DeliveryContext,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
)
from adapters.base import ConfigError
from adapters.whatsapp import WhatsAppChannel, WhatsAppConfig, WhatsAppCredentials
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import delivery_loop
from tests.support import factories
from tests.support.fakes import engine
from tests.support.fakes.base import Act
from tests.support.fakes.whatsapp import ACCESS_TOKEN, APP_SECRET, PHONE_NUMBER_ID, RECIPIENT, WhatsAppFake

pytestmark = pytest.mark.anyio
CHANNEL = WhatsAppChannel()
DELIVERY = DeliveryContext("job_wa1", 1, "plan_1", datetime(2026, 12, 1, tzinfo=UTC), recipient_id="rcpt_1")
PERSON = RecipientView(id="rcpt_1", address=RECIPIENT, name="Ada")
Target = TargetView[WhatsAppConfig, WhatsAppCredentials]
CREDENTIALS = {"accessToken": ACCESS_TOKEN, "appSecret": APP_SECRET, "verifyToken": "verify-me-please"}


@pytest.fixture
def fake() -> Iterator[WhatsAppFake]:
    server = WhatsAppFake()
    yield server
    server.stop()


@pytest.fixture
def loop() -> Iterator[DeliveryLoop]:
    opened = delivery_loop(timeout_seconds=3.0)  # a loaded host answers loopback late; a hang (5 s) still outlasts it
    yield opened
    opened.close()


def config(fake: WhatsAppFake, **extra: Any) -> dict[str, Any]:
    return {"phoneNumberId": PHONE_NUMBER_ID, "apiBaseUrl": fake.api, **extra}


def view(fake: WhatsAppFake, token: str = ACCESS_TOKEN, **extra: Any) -> Target:
    validated = CHANNEL.validate(config(fake, **extra), {**CREDENTIALS, "accessToken": token})
    return TargetView("target_w1", "whatsapp", "whatsapp", validated.config, validated.credentials)


def content(**fields: Any) -> Content:
    base = {"id": "n1", "version": "1", "title": "Market note", "body": "Rates held.", "url": "https://ex.com/n1"}
    return Content.model_validate({**base, **fields})


def send(loop: DeliveryLoop, target: Target, item: Content | None = None, to: RecipientView | None = PERSON) -> Receipt:
    payload = CHANNEL.render(item or content(), Policy(), target, to)
    return loop.run(lambda io: CHANNEL.send(payload, target, DELIVERY, io))


def test_validate_names_fields_and_keeps_secrets_in_credentials() -> None:
    validated = CHANNEL.validate({"phoneNumberId": PHONE_NUMBER_ID}, CREDENTIALS)
    assert validated.config.api_base_url == "https://graph.facebook.com/v25.0"
    assert validated.credentials is not None and validated.credentials.app_secret == APP_SECRET
    with pytest.raises(ConfigError) as number:
        CHANNEL.validate({"phoneNumberId": "+1 650 555"}, CREDENTIALS)
    assert number.value.field == "config.phoneNumberId"
    with pytest.raises(ConfigError) as to:
        CHANNEL.validate({"phoneNumberId": PHONE_NUMBER_ID, "to": "06505551234"}, CREDENTIALS)
    assert to.value.field == "config.to" and "E.164" in to.value.message
    with pytest.raises(ConfigError) as template:
        CHANNEL.validate({"phoneNumberId": PHONE_NUMBER_ID, "template": {"language": "en"}}, CREDENTIALS)
    assert template.value.field == "config.template.name"


def test_render_text_template_and_media() -> None:
    target = TargetView("t", "w", "whatsapp", WhatsAppConfig(phone_number_id=PHONE_NUMBER_ID), None)
    text = CHANNEL.render(content(body="x" * 5000), Policy(truncate="hard"), target, PERSON).body
    assert text["to"] == RECIPIENT and text["type"] == "text"
    assert len(text["text"]["body"]) == 4096 and text["text"]["body"].startswith("*Market note*\n\nxxx")
    assert text["text"]["body"].endswith("x\n\nhttps://ex.com/n1")
    chosen = {"name": "daily_note", "language": "en_US", "bodyParameters": ["title", "url"]}
    template = CHANNEL.render(content(metadata={"whatsappTemplate": chosen}), Policy(), target, PERSON).body
    assert template["type"] == "template" and template["template"] == {
        "name": "daily_note",
        "language": {"code": "en_US"},
        "components": [
            {
                "type": "body",
                "parameters": [{"type": "text", "text": "Market note"}, {"type": "text", "text": "https://ex.com/n1"}],
            }
        ],
    }
    image = CHANNEL.render(content(media_urls=("https://cdn.ex.com/c.png",)), Policy(), target, PERSON).body
    assert image["image"] == {
        "link": "https://cdn.ex.com/c.png",
        "caption": "Market note\n\nRates held.\n\nhttps://ex.com/n1",
    }
    preview = CHANNEL.render(content(), Policy(), target).body
    assert preview["to"] is None


def test_delivers_to_the_recipient_with_the_wamid_as_receipt(fake: WhatsAppFake, loop: DeliveryLoop) -> None:
    receipt = send(loop, view(fake))
    [request] = fake.requests
    assert request.path == f"/v25.0/{PHONE_NUMBER_ID}/messages"
    assert request.headers["Authorization"] == f"Bearer {ACCESS_TOKEN}"
    body = request.json()
    assert (body["to"], body["type"], body["biz_opaque_callback_data"]) == (RECIPIENT, "text", "job_wa1")
    [accepted] = fake.accepted
    assert receipt.external_id == accepted.wamid and accepted.wamid.startswith("wamid.")
    assert receipt.meta == {"statusCode": 200, "waId": RECIPIENT[1:], "status": "accepted"}


@pytest.mark.parametrize(("code", "status", "seconds"), [(130429, 429, 5.0), (80007, 400, 300.0), (4, 400, 300.0)])
def test_throughput_and_account_limits_pause_the_target(
    fake: WhatsAppFake, loop: DeliveryLoop, code: int, status: int, seconds: float
) -> None:
    fake.script.append(Act("code", extra={"code": code, "status": status}))
    with pytest.raises(RateLimitedError) as caught:
        send(loop, view(fake))
    assert (caught.value.retry_after_seconds, caught.value.code) == (seconds, f"WHATSAPP_{code}")


def test_pair_rate_limit_retries_only_this_job(fake: WhatsAppFake, loop: DeliveryLoop) -> None:
    fake.script.append(Act("code", extra={"code": 131056}))
    with pytest.raises(TransientDeliveryError) as caught:
        send(loop, view(fake, pairRetrySeconds=7))
    assert type(caught.value) is TransientDeliveryError
    assert (caught.value.retry_after_seconds, caught.value.code) == (7.0, "WHATSAPP_131056")


def test_recipient_and_account_failures(fake: WhatsAppFake, loop: DeliveryLoop) -> None:
    fake.not_on_whatsapp.add(RECIPIENT)
    with pytest.raises(RecipientUnreachableError) as unreachable:
        send(loop, view(fake))
    assert unreachable.value.code == "WHATSAPP_131026" and "whatsapp address" in unreachable.value.message
    fake.not_on_whatsapp.clear()
    with pytest.raises(RecipientUnreachableError) as local:
        send(loop, view(fake), to=RecipientView(id="r2", address="6505551234"))
    assert local.value.code == "WHATSAPP_BAD_NUMBER"
    with pytest.raises(SystemicDeliveryError) as token:
        send(loop, view(fake, token="EAAGwrong" + "x" * 30))
    assert (token.value.code, token.value.status_code) == ("WHATSAPP_190", 401)
    fake.script.append(Act("code", extra={"code": 131047}))
    with pytest.raises(PermanentDeliveryError) as window:
        send(loop, view(fake))
    assert "Send a template" in window.value.message and "config.template" in window.value.message
    missing = {"whatsappTemplate": {"name": "nope", "language": "en_US"}}
    with pytest.raises(PermanentDeliveryError) as template:
        send(loop, view(fake), content(metadata=missing))
    assert template.value.code == "WHATSAPP_132001"
    assert fake.accepted == []
    with pytest.raises(PermanentDeliveryError) as nobody:
        send(loop, view(fake), to=None)
    assert nobody.value.code == "WHATSAPP_NO_RECIPIENT"


def test_a_timeout_after_accepting_is_transient_and_outcome_unknown(fake: WhatsAppFake, loop: DeliveryLoop) -> None:
    fake.script.append(Act("hang", 5))
    with pytest.raises(TransientDeliveryError) as caught:
        send(loop, view(fake))
    assert (caught.value.code, caught.value.outcome_unknown) == ("TIMEOUT", True)
    assert len(fake.accepted) == 1


@pytest.mark.slow
@pytest.mark.parametrize("backend", engine.BACKENDS)
@pytest.mark.slow
async def test_engine_delivers_then_pauses_exactly_for_the_throughput_limit(
    fake: WhatsAppFake, tmp_path: Path, backend: str
) -> None:
    async with engine.doors_on(backend, tmp_path) as d:
        cfg = config(fake, to=RECIPIENT, throughputPauseSeconds=1.5)
        target_id = await engine.create_target(d, "whatsapp", cfg, CREDENTIALS)
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (plan["status"], job["status"], job["receipt"]["externalId"]) == (
            "succeeded",
            "delivered",
            fake.accepted[0].wamid,
        )
        fake.script.append(Act("code", extra={"code": 130429, "status": 429}))
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (job["status"], job["attempts"]) == ("delivered", 2)
        assert len(fake.requests) == 3
        first, second = fake.requests[1:]
        assert 1.5 <= second.at - first.at < 3.0
        [limited, _] = engine.attempts(d, job["id"])
        assert limited.error_code == "WHATSAPP_130429"
        [paused] = engine.events(d, "target.paused", target_id)
        assert paused.data["retryAfterSeconds"] == 1.5
        until = datetime.fromisoformat(paused.data["until"])
        assert 1.5 <= (until - limited.started_at).total_seconds() < 2.5


@pytest.mark.slow
async def test_engine_pair_limit_retries_the_job_without_pausing_the_target(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d:
        policy = {"maxAttempts": 3, "baseDelaySeconds": 0.01, "maxDelaySeconds": 5}
        cfg = config(fake, to=RECIPIENT, pairRetrySeconds=0.8)
        target_id = await engine.create_target(d, "whatsapp", cfg, CREDENTIALS, retryPolicy=policy)
        fake.script.append(Act("code", extra={"code": 131056}))
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (job["status"], job["attempts"]) == ("delivered", 2)
        first, second = fake.requests
        assert 0.8 <= second.at - first.at < 2.5
        assert engine.events(d, "target.paused", target_id) == []
        assert engine.target(d, target_id).paused_until is None
        assert engine.job(d, job["id"]).retries_used == 1


@pytest.mark.slow
async def test_engine_classifies_permanent_and_systemic_failures(fake: WhatsAppFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d:
        missing = config(fake, to=RECIPIENT, template={"name": "nope"})
        target_id = await engine.create_target(d, "whatsapp", missing, CREDENTIALS)
        [job] = (await engine.delivered_plan(d, target_id))["jobs"]
        assert (job["status"], job["errorClass"], job["attempts"]) == ("failed", "permanent", 1)
        wrong_token = "EAAGwrongtoken" + "z" * 30
        wrong = await d.ok(
            "create_distribution_target", name="wrong", channel="whatsapp", config=config(fake, to=RECIPIENT),
            credentials={**CREDENTIALS, "accessToken": wrong_token},
        )  # fmt: skip
        plan = await engine.delivered_plan(d, wrong["target"]["id"])
        [job] = plan["jobs"]
        assert (job["status"], job["errorClass"]) == ("failed", "systemic")
        assert wrong_token not in str(plan) and APP_SECRET not in str(wrong)
        assert engine.target(d, wrong["target"]["id"]).circuit_state == "open"
        assert fake.accepted == []


def test_media_and_templates_reach_the_fake_as_it_validates_them(fake: WhatsAppFake, loop: DeliveryLoop) -> None:
    send(loop, view(fake), content(media_urls=("https://cdn.ex.com/q3.pdf",)))
    chosen = {"name": "daily_note", "language": "en_US", "bodyParameters": ["title", "url"]}
    send(loop, view(fake, template=chosen))
    document, template = (a.body for a in fake.accepted)
    assert document["document"] == {
        "link": "https://cdn.ex.com/q3.pdf",
        "filename": "q3.pdf",
        "caption": "Market note\n\nRates held.\n\nhttps://ex.com/n1",
    }
    assert template["template"]["components"][0]["parameters"][1] == {"type": "text", "text": "https://ex.com/n1"}
    with pytest.raises(PermanentDeliveryError) as count:
        send(loop, view(fake, template={"name": "daily_note", "bodyParameters": ["title"]}))
    assert count.value.code == "WHATSAPP_132000" and len(fake.accepted) == 2


@pytest.mark.slow
@pytest.mark.parametrize("backend", engine.BACKENDS)
async def test_engine_messages_each_recipient_and_hands_the_unreachable_one_to_the_backup(
    fake: WhatsAppFake, tmp_path: Path, backend: str
) -> None:
    """The advisor controller's path: recipients reached at their own numbers through one sending account,
    a number not on WhatsApp bounced (its address marked) and delivered instead through the backup target."""
    async with engine.doors_on(backend, tmp_path) as d:
        numbers = {"ARN-1": "+919800000001", "ARN-2": "+919800000002", "ARN-3": "+919800000003"}
        fake.not_on_whatsapp.add(numbers["ARN-3"])
        upserted = await d.ok(
            "upsert_recipients",
            recipients=[{"externalId": arn, "addresses": {"whatsapp": n}} for arn, n in numbers.items()],
        )
        ids = {r["externalId"]: r["id"] for r in upserted["recipients"]}
        backup = await factories.stub_target(d, "backup")
        target_id = await engine.create_target(d, "whatsapp", config(fake), CREDENTIALS, fallbackTargetId=backup)
        plan = await engine.delivered_plan(d, target_id, recipientIds=list(ids.values()))
        sent_to = sorted(str(accepted.body["to"]).lstrip("+") for accepted in fake.accepted)
        assert sent_to == ["919800000001", "919800000002"]
        by_recipient = {(job["targetId"], job["recipientId"]): job for job in plan["jobs"]}
        bounced = by_recipient[(target_id, ids["ARN-3"])]
        assert (bounced["status"], bounced["errorClass"]) == ("failed", "permanent")
        rescued = by_recipient[(backup, ids["ARN-3"])]
        assert (rescued["status"], rescued["fallbackOf"]) == ("delivered", bounced["id"])
        assert plan["status"] == "succeeded"
        report = (await d.ok("get_plan_report", id=plan["id"]))["report"]
        assert (report["bounced"], report["deliveredViaFallback"], report["deliveryRate"]) == (1, 1, 1.0)
        marked = (await d.ok("get_recipient", id=ids["ARN-3"]))["recipient"]
        assert set(marked["bouncedAt"]) == {"whatsapp"}

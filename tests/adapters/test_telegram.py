"""Telegram against its faithful fake: the channel alone on a real ChannelIO (broadcast and to a recipient),
then the full path through the engine."""

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
from adapters.telegram import TelegramChannel, TelegramConfig, TelegramCredentials
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import delivery_loop
from tests.support.fakes import engine
from tests.support.fakes.base import Act
from tests.support.fakes.telegram import BOT_TOKEN, CHANNEL_CHAT, USER_CHAT, TelegramFake, visible_length

pytestmark = pytest.mark.anyio
CHANNEL = TelegramChannel()
DELIVERY = DeliveryContext("job_tg1", 1, "plan_1", datetime(2026, 12, 1, tzinfo=UTC))
Target = TargetView[TelegramConfig, TelegramCredentials]


@pytest.fixture
def fake() -> Iterator[TelegramFake]:
    server = TelegramFake()
    yield server
    server.stop()


@pytest.fixture
def loop() -> Iterator[DeliveryLoop]:
    opened = delivery_loop(timeout_seconds=3.0)  # a loaded host answers loopback late; a hang (5 s) still outlasts it
    yield opened
    opened.close()


def config(fake: TelegramFake, **extra: Any) -> dict[str, Any]:
    return {"apiBaseUrl": fake.url, **extra}


def view(fake: TelegramFake, token: str = BOT_TOKEN, **extra: Any) -> Target:
    validated = CHANNEL.validate(config(fake, **extra), {"botToken": token})
    return TargetView("target_t1", "telegram", "telegram", validated.config, validated.credentials)


def content(**fields: Any) -> Content:
    return Content.model_validate(
        {"id": "n1", "version": "1", "title": "Market <note>", "body": "Rates & curve.", **fields}
    )


def send(loop: DeliveryLoop, target: Target, item: Content | None = None, to: RecipientView | None = None) -> Receipt:
    payload = CHANNEL.render(item or content(), Policy(), target, to)
    return loop.run(lambda io: CHANNEL.send(payload, target, DELIVERY, io))


def test_validate_names_the_field() -> None:
    broadcast = CHANNEL.validate({"chatId": "-1001234567890"}, {"botToken": BOT_TOKEN})
    assert broadcast.config.chat_id == -1001234567890 and broadcast.config.api_base_url == "https://api.telegram.org"
    assert CHANNEL.addressing == "either"
    with pytest.raises(ConfigError) as token:
        CHANNEL.validate({}, {"botToken": "not-a-token"})
    assert token.value.field == "credentials.botToken" and "@BotFather" in token.value.message
    with pytest.raises(ConfigError) as chat:
        CHANNEL.validate({"chatId": "#general"}, {"botToken": BOT_TOKEN})
    assert chat.value.field == "config.chatId"


def test_render_html_within_4096_visible_characters_and_media_by_url() -> None:
    target = TargetView("t", "t", "telegram", TelegramConfig(chat_id=CHANNEL_CHAT), None)
    rendered = CHANNEL.render(content(body="<&>" * 3000), Policy(truncate="hard"), target)
    text = rendered.body["text"]
    assert rendered.meta == {"method": "sendMessage"} and rendered.body["parse_mode"] == "HTML"
    assert text.startswith("<b>Market &lt;note&gt;</b>\n\n&lt;&amp;&gt;")
    assert visible_length(text, "HTML") == 4096 and len(text) > 4096
    photo = CHANNEL.render(content(media_urls=("https://cdn.example/chart.png",)), Policy(), target)
    assert (photo.meta["method"], photo.body["photo"]) == ("sendPhoto", "https://cdn.example/chart.png")
    assert photo.body["caption"] == "<b>Market &lt;note&gt;</b>\n\nRates &amp; curve."
    doc = CHANNEL.render(content(media_urls=("https://cdn.example/report.pdf",)), Policy(), target)
    assert (doc.meta["method"], doc.body["document"]) == ("sendDocument", "https://cdn.example/report.pdf")
    markdown = TargetView("t", "t", "telegram", TelegramConfig(chat_id=CHANNEL_CHAT, parse_mode="MarkdownV2"), None)
    assert CHANNEL.render(content(title="v1.2!"), Policy(), markdown).body["text"] == "*v1\\.2\\!*\n\nRates & curve\\."


def test_broadcast_delivers_with_chat_and_message_id(fake: TelegramFake, loop: DeliveryLoop) -> None:
    first = send(loop, view(fake, chatId=CHANNEL_CHAT))
    second = send(loop, view(fake, chatId=CHANNEL_CHAT))
    [request, _] = fake.requests
    assert request.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert request.json() == {
        "chat_id": CHANNEL_CHAT,
        "text": "<b>Market &lt;note&gt;</b>\n\nRates &amp; curve.",
        "parse_mode": "HTML",
    }
    assert (first.external_id, second.external_id) == (f"{CHANNEL_CHAT}:1", f"{CHANNEL_CHAT}:2")
    assert first.meta == {"statusCode": 200, "chatId": CHANNEL_CHAT, "messageId": 1}


def test_recipient_mode_sends_to_the_recipients_chat(fake: TelegramFake, loop: DeliveryLoop) -> None:
    person = RecipientView(id="rcpt_1", address=str(USER_CHAT))
    receipt = send(loop, view(fake), to=person)
    assert fake.requests[0].json()["chat_id"] == USER_CHAT
    assert receipt.external_id == f"{USER_CHAT}:1"
    send(loop, view(fake, chatId=CHANNEL_CHAT), to=person)  # a plan naming recipients reaches them, not chatId
    assert fake.requests[1].json()["chat_id"] == USER_CHAT
    fake.blocked.add(USER_CHAT)
    with pytest.raises(RecipientUnreachableError) as blocked:
        send(loop, view(fake), to=person)
    assert blocked.value.code == "TELEGRAM_403" and "start a chat with the bot" in blocked.value.message
    with pytest.raises(RecipientUnreachableError) as unknown:
        send(loop, view(fake), to=RecipientView(id="rcpt_2", address="777"))
    assert "chat not found" in unknown.value.message
    assert len(fake.sent) == 2


def test_flood_control_reads_parameters_retry_after(fake: TelegramFake, loop: DeliveryLoop) -> None:
    fake.script.append(Act("rate_limit", 35))
    with pytest.raises(RateLimitedError) as caught:
        send(loop, view(fake, chatId=CHANNEL_CHAT))
    assert (caught.value.retry_after_seconds, caught.value.code, caught.value.status_code) == (
        35.0,
        "TELEGRAM_FLOOD",
        429,
    )
    assert fake.sent == []


def test_migrated_group_is_permanent_and_names_the_new_chat_id(fake: TelegramFake, loop: DeliveryLoop) -> None:
    fake.migrated[-4001] = -1009998887776
    with pytest.raises(PermanentDeliveryError) as caught:
        send(loop, view(fake, chatId=-4001))
    assert caught.value.code == "TELEGRAM_CHAT_MIGRATED"
    assert "Update the target's chatId" in caught.value.message and "-1009998887776" in caught.value.message


def test_bad_token_is_systemic_and_unknown_chat_permanent(fake: TelegramFake, loop: DeliveryLoop) -> None:
    with pytest.raises(SystemicDeliveryError) as token:
        send(loop, view(fake, token="123456789:" + "X" * 35, chatId=CHANNEL_CHAT))
    assert (token.value.code, token.value.status_code) == ("TELEGRAM_401", 401)
    with pytest.raises(PermanentDeliveryError) as chat:
        send(loop, view(fake, chatId=-100555))
    assert type(chat.value) is PermanentDeliveryError and "add the bot to the chat" in chat.value.message
    assert fake.sent == []


def test_a_timeout_after_accepting_is_transient_and_outcome_unknown(fake: TelegramFake, loop: DeliveryLoop) -> None:
    fake.script.append(Act("hang", 5))
    with pytest.raises(TransientDeliveryError) as caught:
        send(loop, view(fake, chatId=CHANNEL_CHAT))
    assert (caught.value.code, caught.value.outcome_unknown) == ("TIMEOUT", True)
    assert len(fake.sent) == 1  # sent: the Bot API has no idempotency key and no history to check


@pytest.mark.slow
@pytest.mark.parametrize("backend", engine.BACKENDS)
@pytest.mark.slow
async def test_engine_delivers_then_pauses_exactly_until_the_reset(
    fake: TelegramFake, tmp_path: Path, backend: str
) -> None:
    async with engine.doors_on(backend, tmp_path) as d:
        target_id = await engine.create_target(
            d, "telegram", config(fake, chatId=CHANNEL_CHAT), {"botToken": BOT_TOKEN}
        )
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (plan["status"], job["status"], job["receipt"]["externalId"]) == (
            "succeeded",
            "delivered",
            f"{CHANNEL_CHAT}:1",
        )
        fake.script.append(Act("rate_limit", 2))
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (job["status"], job["attempts"], job["receipt"]["externalId"]) == ("delivered", 2, f"{CHANNEL_CHAT}:2")
        assert len(fake.requests) == 3  # nothing reached Telegram during the pause
        first, second = fake.requests[1:]
        assert 2.0 <= second.at - first.at < 3.5
        [limited, _] = engine.attempts(d, job["id"])
        [paused] = engine.events(d, "target.paused", target_id)
        assert paused.data["retryAfterSeconds"] == 2.0
        until = datetime.fromisoformat(paused.data["until"])
        assert 2.0 <= (until - limited.started_at).total_seconds() < 3.0
        assert engine.job(d, job["id"]).retries_used == 0


@pytest.mark.slow
async def test_engine_classifies_permanent_and_systemic_failures(fake: TelegramFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d:
        fake.migrated[-4001] = -1009998887776
        migrated = await engine.create_target(d, "telegram", config(fake, chatId=-4001), {"botToken": BOT_TOKEN})
        [job] = (await engine.delivered_plan(d, migrated))["jobs"]
        assert (job["status"], job["errorClass"], job["attempts"]) == ("failed", "permanent", 1)
        assert "-1009998887776" in job["lastError"]
        wrong_token = "123456789:" + "Y" * 35
        wrong = await d.ok(
            "create_distribution_target", name="wrong", channel="telegram", config=config(fake, chatId=CHANNEL_CHAT),
            credentials={"botToken": wrong_token},
        )  # fmt: skip
        plan = await engine.delivered_plan(d, wrong["target"]["id"])
        [job] = plan["jobs"]
        assert (job["status"], job["errorClass"]) == ("failed", "systemic")
        assert wrong_token not in str(plan)
        assert engine.target(d, wrong["target"]["id"]).circuit_state == "open"
        assert fake.sent == []
        preview = await d.ok(
            "create_distribution_plan", content={"id": "p", "version": "1", "title": "T", "body": "B"},
            targetIds=[migrated], dryRun=True,
        )  # fmt: skip
        assert preview["preview"]["targets"][0]["payload"] == {
            "chat_id": -4001, "text": "<b>T</b>\n\nB", "parse_mode": "HTML"
        }  # fmt: skip


def test_media_goes_by_url_with_sendphoto_or_senddocument(fake: TelegramFake, loop: DeliveryLoop) -> None:
    photo = send(loop, view(fake, chatId=CHANNEL_CHAT), content(media_urls=("https://cdn.example/chart.png",)))
    document = send(loop, view(fake, chatId=CHANNEL_CHAT), content(media_urls=("https://cdn.example/q3.pdf",)))
    assert [r.path for r in fake.requests] == [f"/bot{BOT_TOKEN}/sendPhoto", f"/bot{BOT_TOKEN}/sendDocument"]
    assert fake.requests[1].json() == {
        "chat_id": CHANNEL_CHAT,
        "document": "https://cdn.example/q3.pdf",
        "caption": "<b>Market &lt;note&gt;</b>\n\nRates &amp; curve.",
        "parse_mode": "HTML",
    }
    assert (photo.external_id, document.external_id) == (f"{CHANNEL_CHAT}:1", f"{CHANNEL_CHAT}:2")

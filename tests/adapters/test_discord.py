"""Discord against its faithful fake: the channel alone on a real ChannelIO, then the full path through the engine."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters import (
    Content,
    DeliveryContext,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
)
from adapters.base import ConfigError
from adapters.discord import DiscordChannel, DiscordConfig, DiscordCredentials
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import deliver_on, delivery_loop
from tests.support.fakes import engine
from tests.support.fakes.base import Act
from tests.support.fakes.discord import CHANNEL_ID, WEBHOOK_ID, WEBHOOK_TOKEN, DiscordFake

pytestmark = pytest.mark.anyio
CHANNEL = DiscordChannel()
DELIVERY = DeliveryContext("job_discord1", 1, "plan_1", datetime(2026, 12, 1, tzinfo=UTC))


@pytest.fixture
def fake() -> Iterator[DiscordFake]:
    server = DiscordFake()
    yield server
    server.stop()


@pytest.fixture
def loop() -> Iterator[DeliveryLoop]:
    opened = delivery_loop(timeout_seconds=3.0)  # a loaded host answers loopback late; a hang (5 s) still outlasts it
    yield opened
    opened.close()


def config(fake: DiscordFake, **extra: object) -> dict[str, object]:
    return {"webhookId": WEBHOOK_ID, "apiBaseUrl": fake.api, **extra}


def view(
    fake: DiscordFake, token: str = WEBHOOK_TOKEN, **extra: object
) -> TargetView[DiscordConfig, DiscordCredentials]:
    validated = CHANNEL.validate(config(fake, **extra), {"webhookToken": token})
    return TargetView("target_d1", "discord", "discord", validated.config, validated.credentials)


def content(**fields: object) -> Content:
    base: dict[str, object] = {"id": "n1", "version": "1", "title": "Market note", "body": "Rates held."}
    return Content.model_validate({**base, **fields})


def send(loop: DeliveryLoop, target: TargetView[DiscordConfig, DiscordCredentials], item: Content | None = None):  # type: ignore[no-untyped-def]
    payload = CHANNEL.render(item or content(), Policy(), target)
    return deliver_on(loop, CHANNEL, payload, target, DELIVERY)


def test_validate_names_the_field_and_defaults_the_api() -> None:
    validated = CHANNEL.validate({"webhookId": WEBHOOK_ID}, {"webhookToken": WEBHOOK_TOKEN})
    assert validated.config.api_base_url == "https://discord.com/api/v10"
    assert [e.url for e in validated.endpoints] == ["https://discord.com/api/v10"]
    with pytest.raises(ConfigError) as bad_id:
        CHANNEL.validate({"webhookId": "abc"}, {"webhookToken": WEBHOOK_TOKEN})
    assert bad_id.value.field == "config.webhookId"
    with pytest.raises(ConfigError) as missing:
        CHANNEL.validate({"webhookId": WEBHOOK_ID}, None)
    assert (missing.value.field, missing.value.message) == (
        "credentials.webhookToken",
        "credentials.webhookToken: this field is required.",
    )


def test_render_fits_2000_characters_and_never_pings() -> None:
    target = TargetView("t", "d", "discord", DiscordConfig(webhook_id=WEBHOOK_ID), None)
    long = content(body="word " * 1000, url="https://example.com/n1")
    body = CHANNEL.render(long, Policy(truncate="word"), target).body
    assert len(body["content"]) == 1996 and body["content"].startswith("**Market note**\n\nword word")
    assert body["content"].endswith("…\n\nhttps://example.com/n1")
    assert body["allowed_mentions"] == {"parse": []}
    embed = TargetView("t", "d", "discord", DiscordConfig(webhook_id=WEBHOOK_ID, format="embed"), None)
    rendered = CHANNEL.render(
        content(media_urls=("https://cdn.example/a.png", "https://cdn.example/b.png")), Policy(), embed
    )
    assert rendered.body["embeds"] == [
        {"title": "Market note", "description": "Rates held.", "image": {"url": "https://cdn.example/a.png"}},
        {"image": {"url": "https://cdn.example/b.png"}},
    ]


def test_delivers_with_wait_true_and_the_message_id_as_receipt(fake: DiscordFake, loop: DeliveryLoop) -> None:
    receipt = send(loop, view(fake, threadId="123456789012345678"))
    [request] = fake.requests
    assert request.path == f"/api/v10/webhooks/{WEBHOOK_ID}/{WEBHOOK_TOKEN}"
    assert request.query == {"wait": "true", "thread_id": "123456789012345678"}
    assert request.json() == {"allowed_mentions": {"parse": []}, "content": "**Market note**\n\nRates held."}
    [message] = fake.messages
    assert receipt.external_id == message.id
    assert receipt.meta == {
        "statusCode": 200, "messageId": message.id, "channelId": "123456789012345678", "webhookId": WEBHOOK_ID
    }  # fmt: skip


@pytest.mark.parametrize(
    ("is_global", "code"), [(False, "DISCORD_RATE_LIMITED"), (True, "DISCORD_RATE_LIMITED_GLOBAL")]
)
def test_429_reads_the_float_retry_after_of_the_body(
    fake: DiscordFake, loop: DeliveryLoop, is_global: bool, code: str
) -> None:
    fake.script.append(Act("rate_limit", 1.37, {"global": is_global}))
    with pytest.raises(RateLimitedError) as caught:
        send(loop, view(fake))
    assert (caught.value.retry_after_seconds, caught.value.code, caught.value.status_code) == (1.37, code, 429)
    assert fake.messages == []


def test_reset_after_header_when_the_body_names_none() -> None:
    from adapters.discord import classify
    from adapters.io import HttpAnswer

    answer = HttpAnswer(429, {"x-ratelimit-reset-after": "2.250", "retry-after": "3"}, "")
    with pytest.raises(RateLimitedError) as caught:
        classify(answer)
    assert caught.value.retry_after_seconds == 2.25


@pytest.mark.parametrize(
    ("script", "error", "code"),
    [
        (Act("gone"), PermanentDeliveryError, "DISCORD_10003"),
        (Act("error", extra={"status": 502}), TransientDeliveryError, "HTTP_502"),
    ],
)
def test_provider_signals_are_classified(
    fake: DiscordFake, loop: DeliveryLoop, script: Act, error: type[Exception], code: str
) -> None:
    fake.script.append(script)
    with pytest.raises(error) as caught:
        send(loop, view(fake))
    assert type(caught.value) is error and caught.value.code == code  # type: ignore[attr-defined]


def test_a_wrong_token_or_unknown_webhook_is_systemic(fake: DiscordFake, loop: DeliveryLoop) -> None:
    with pytest.raises(SystemicDeliveryError) as wrong:
        send(loop, view(fake, token="W" * 40))
    assert wrong.value.code == "DISCORD_50027" and "webhookToken" in wrong.value.message
    fake.webhooks.clear()
    with pytest.raises(SystemicDeliveryError) as unknown:
        send(loop, view(fake))
    assert (unknown.value.code, unknown.value.status_code) == ("DISCORD_10015", 404)
    assert fake.messages == []


def test_a_timeout_after_accepting_is_transient_and_outcome_unknown(fake: DiscordFake, loop: DeliveryLoop) -> None:
    fake.script.append(Act("hang", 5))
    with pytest.raises(TransientDeliveryError) as caught:
        send(loop, view(fake))
    assert (caught.value.code, caught.value.outcome_unknown) == ("TIMEOUT", True)
    assert len(fake.messages) == 1  # Discord posted it: webhooks cannot be looked up, a retry posts again


# The full path: MCP door → plan → worker → engine → channel → fake → recorded.


@pytest.mark.slow
@pytest.mark.parametrize("backend", engine.BACKENDS)
@pytest.mark.slow
async def test_engine_delivers_then_pauses_exactly_until_the_reset(
    fake: DiscordFake, tmp_path: Path, backend: str
) -> None:
    async with engine.doors_on(backend, tmp_path) as d:
        target_id = await engine.create_target(d, "discord", config(fake), {"webhookToken": WEBHOOK_TOKEN})
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (plan["status"], job["status"]) == ("succeeded", "delivered")
        [message] = fake.messages
        assert job["receipt"]["externalId"] == message.id
        assert job["receipt"]["responseMeta"]["channelId"] == CHANNEL_ID

        fake.script.append(Act("rate_limit", 1.5))
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (plan["status"], job["status"], job["attempts"]) == ("succeeded", "delivered", 2)
        first, second = fake.requests[1:]
        assert len(fake.requests) == 3  # no request reached Discord during the pause
        assert 1.5 <= second.at - first.at < 3.0
        [limited, delivered] = engine.attempts(d, job["id"])
        assert (limited.outcome, limited.error_code, delivered.outcome) == (
            "rate_limited",
            "DISCORD_RATE_LIMITED",
            "delivered",
        )
        [paused] = engine.events(d, "target.paused", target_id)
        assert paused.data["retryAfterSeconds"] == 1.5
        until = datetime.fromisoformat(paused.data["until"])
        assert 1.5 <= (until - limited.started_at).total_seconds() < 1.5 + 1.0
        assert engine.job(d, job["id"]).retries_used == 0


@pytest.mark.slow
async def test_engine_classifies_permanent_and_systemic_failures(fake: DiscordFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d:
        target_id = await engine.create_target(d, "discord", config(fake), {"webhookToken": WEBHOOK_TOKEN})
        fake.script.append(Act("gone"))
        plan = await engine.delivered_plan(d, target_id)
        [job] = plan["jobs"]
        assert (job["status"], job["errorClass"], job["attempts"]) == ("failed", "permanent", 1)
        assert "config.threadId" in job["lastError"]

        wrong = await d.ok(
            "create_distribution_target", name="wrong", channel="discord", config=config(fake),
            credentials={"webhookToken": "W" * 40},
        )  # fmt: skip
        plan = await engine.delivered_plan(d, wrong["target"]["id"])
        [job] = plan["jobs"]
        assert (job["status"], job["errorClass"]) == ("failed", "systemic")
        assert "W" * 40 not in job["lastError"] and "W" * 40 not in str(plan)
        assert engine.target(d, wrong["target"]["id"]).circuit_state == "open"
        assert len(fake.messages) == 0


async def test_create_refuses_bad_config_and_writes_nothing(fake: DiscordFake, tmp_path: Path) -> None:
    async with engine.doors_on("sqlite", tmp_path) as d:
        before = d.counts()
        body = await d.error(
            "create_distribution_target", name="bad", channel="discord", config={"webhookId": "nope"},
            credentials={"webhookToken": WEBHOOK_TOKEN},
        )  # fmt: skip
        assert (body["code"], body["field"]) == ("VALIDATION_ERROR", "config.webhookId")
        assert "snowflake" in body["message"] and body["recommendedNextAction"]
        assert d.counts()["distribution_targets"] == before["distribution_targets"] == 0
        created = await d.ok(
            "create_distribution_target", name="ok", channel="discord", config=config(fake),
            credentials={"webhookToken": WEBHOOK_TOKEN},
        )  # fmt: skip
        assert WEBHOOK_TOKEN not in str(created) and created["target"]["hasCredentials"] is True

"""The feed channel on its own: config validation, generated tokens, a pure render, a store-less process."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from adapters import ChannelIO, ConfigError, Content, DeliveryContext, Policy, TargetView
from adapters.errors import SystemicDeliveryError
from adapters.feed import FeedChannel, FeedConfig, FeedCredentials, entry_id

ADAPTER = FeedChannel()
CONTENT = Content(id="c1", version="2", title="T & <t>", body="x" * 400, excerpt="ex", url="https://e.x/c1")


def view(**config: object) -> TargetView[FeedConfig, FeedCredentials]:
    return TargetView("tgt_a", "news", "feed", FeedConfig.model_validate(config), None)


def test_a_public_feed_needs_no_credentials_and_its_hub_is_an_endpoint() -> None:
    validated = ADAPTER.validate({"websubHub": "https://hub.example/"}, None)
    assert validated.credentials is None and validated.revealed == {}
    assert [(e.url, e.field) for e in validated.endpoints] == [("https://hub.example/", "config.websubHub")]
    assert ADAPTER.validate({}, None).endpoints == ()


def test_a_private_feed_gets_a_generated_token_shown_once_or_keeps_the_given_one() -> None:
    generated = ADAPTER.validate({"public": False}, None)
    assert generated.credentials is not None and generated.revealed == {"token": generated.credentials.token}
    assert len(generated.credentials.token) >= 32
    given = ADAPTER.validate({"public": False}, {"token": "a-long-enough-token-1234"})
    assert given.credentials == FeedCredentials(token="a-long-enough-token-1234") and given.revealed == {}


@pytest.mark.parametrize(
    ("config", "credentials", "field"),
    [
        ({"maxItems": 0}, None, "config.maxItems"),
        ({"maxItems": 501}, None, "config.maxItems"),
        ({"link": "ftp://x"}, None, "config.link"),
        ({"websubHub": "not a url"}, None, "config.websubHub"),
        ({"public": False, "websubHub": "https://hub.example/"}, None, "config.websubHub"),
        ({"colour": "red"}, None, "config.colour"),
        ({"public": False}, {"token": "short"}, "credentials.token"),
        ({"public": False}, {"token": "has spaces in it, quite long"}, "credentials.token"),
    ],
)
def test_bad_config_names_the_field(config: dict, credentials: dict | None, field: str) -> None:
    with pytest.raises(ConfigError) as refused:
        ADAPTER.validate(config, credentials)
    assert refused.value.field == field


def test_render_is_the_entry_with_the_policy_applied_and_a_stable_id() -> None:
    payload = ADAPTER.render(CONTENT, Policy(max_length=10), view())
    assert payload == ADAPTER.render(CONTENT, Policy(max_length=10), view())
    assert payload.body == {
        "entry": {
            "entryId": entry_id("tgt_a", "c1"),
            "contentId": "c1",
            "version": "2",
            "title": "T & <t>",
            "body": "xxxxxxxxx…",
            "summary": "ex",
            "url": "https://e.x/c1",
        }
    }
    assert entry_id("tgt_a", "c1") == entry_id("tgt_a", "c1") != entry_id("tgt_b", "c1")
    assert entry_id("tgt_a", "c1").startswith("urn:uuid:")


class NoHttp:
    async def send(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("no request expected")

    async def exchange(self, *args: object, **kwargs: object) -> None:
        raise AssertionError("no request expected")

    async def aclose(self) -> None:
        return None


def test_a_process_without_a_feed_store_fails_systemically() -> None:
    delivery = DeliveryContext("job_1", 1, "pln_1", datetime.now(UTC))
    target = view()
    with pytest.raises(SystemicDeliveryError) as failed:
        asyncio.run(ADAPTER.send(ADAPTER.render(CONTENT, Policy(), target), target, delivery, ChannelIO(http=NoHttp())))
    assert failed.value.code == "NO_FEED_STORE"

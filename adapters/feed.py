"""Feeds Herald serves: delivering upserts an entry, readers poll RSS 2.0, Atom 1.0 or JSON Feed 1.1.

An entry is keyed by (target, content id): a new version of the content updates it, a delivery
repeated (at least once) finds the same version and changes nothing. The store is ``ChannelIO.feeds``
(``server.feeds``), which also serves ``/feeds/{targetId}.rss|.atom|.json``. After a change, the
optional WebSub hub is told (``hub.mode=publish`` per format); a failed ping is noted on the receipt
and logged, never a failed delivery: the entry is already in the feed, and readers that poll see it.

A private feed (``public: false``) is served only with its token (``?token=`` or a bearer header);
Herald generates the token when none is given and shows it once. A test delivery
(``test_distribution_target``) writes nothing: it would publish a test item to every subscriber.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import uuid
from typing import Any, ClassVar
from urllib.parse import urlencode

from pydantic import Field, ValidationInfo, field_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryError,
    Endpoint,
    FeedEntry,
    Policy,
    Receipt,
    RecipientView,
    SystemicDeliveryError,
    TargetView,
    Validated,
)
from adapters.render import ChannelModel, apply_policy, checked_url, validate_model

log = logging.getLogger(__name__)

TEST_PLAN_ID = "test"  # the plan id of test_distribution_target's delivery
FEED_FORMATS = ("rss", "atom", "json")
_ENTRY_NAMESPACE = uuid.UUID("6f0c3a52-5d0e-4b8e-9a4c-2f1d8e7b9c11")


class FeedConfig(ChannelModel):
    title: str | None = Field(None, min_length=1, max_length=200, description="Feed title; default: the target name.")
    description: str | None = Field(None, max_length=2000, description="What the feed carries.")
    link: str | None = Field(None, description="The site the feed belongs to (http or https URL).")
    language: str | None = Field(None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", description="e.g. en-GB.")
    author: str | None = Field(None, min_length=1, max_length=200, description="Author name; default: Herald.")
    max_items: int = Field(50, ge=1, le=500, description="Newest entries a feed document lists.")
    public: bool = Field(True, description="false: served only with the token (credentials.token).")
    websub_hub: str | None = Field(None, description="WebSub hub notified after each change (public feeds only).")

    @field_validator("link")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else checked_url(value)

    @field_validator("websub_hub")
    @classmethod
    def _hub(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        if info.data.get("public") is False:
            raise ValueError("a hub fetches the feed without a token, so only a public feed (public: true) can use one")
        return checked_url(value)


class FeedCredentials(ChannelModel):
    token: str = Field(min_length=16, max_length=200, pattern=r"^[A-Za-z0-9._~-]+$")


def entry_id(target_id: str, content_id: str) -> str:
    """The entry's stable id (RSS guid, Atom id, JSON Feed id): the same for every version of the content."""
    return f"urn:uuid:{uuid.uuid5(_ENTRY_NAMESPACE, target_id + chr(10) + content_id)}"


Target = TargetView[FeedConfig, FeedCredentials]


class FeedChannel:
    name: ClassVar[ChannelName] = ChannelName.FEED
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "A feed Herald serves at /feeds/{targetId}.rss, .atom and .json: each delivery upserts one entry per "
        "content id (a new version updates it); ETag/Last-Modified, maxItems, public or token-protected, "
        "optional WebSub hub ping."
    )
    config_model = FeedConfig
    credentials_model: type[FeedCredentials] | None = FeedCredentials
    limits = ChannelLimits(max_text_chars=200_000)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[FeedConfig, FeedCredentials]:
        validated = validate_model(FeedConfig, config, "config")
        endpoints = (Endpoint(validated.websub_hub, "config.websubHub"),) if validated.websub_hub else ()
        if validated.public:
            if credentials:
                validate_model(FeedCredentials, credentials, "credentials")
            return Validated(validated, None, endpoints=endpoints)
        revealed: dict[str, str] = {}
        if not credentials:
            credentials = {"token": secrets.token_urlsafe(32)}
            revealed = {"token": credentials["token"]}
        return Validated(validated, validate_model(FeedCredentials, credentials, "credentials"), revealed, endpoints)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        """The entry as readers will see it (dry run shows exactly this)."""
        entry = {
            "entryId": entry_id(target.id, content.id),
            "contentId": content.id,
            "version": content.version,
            "title": content.title,
            "body": apply_policy(content, policy),
            "summary": content.excerpt,
            "url": content.url,
        }
        return ChannelPayload(body={"entry": entry})

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if io.feeds is None:
            raise SystemicDeliveryError(
                "This process has no feed store; feeds cannot be written.", code="NO_FEED_STORE"
            )
        entry = payload.body["entry"]
        if delivery.plan_id == TEST_PLAN_ID:
            urls = io.feeds.feed_urls(target.id)
            return Receipt(external_id=entry["entryId"], meta={"feedUrl": urls["rss"], "feedUrls": urls, "test": True})
        stored = await io.feeds.upsert(
            target.id,
            FeedEntry(
                entry_id=entry["entryId"],
                content_id=entry["contentId"],
                version=entry["version"],
                title=entry["title"],
                body=entry["body"],
                summary=entry["summary"],
                url=entry["url"],
                plan_id=delivery.plan_id,
                delivery_id=delivery.delivery_id,
            ),
        )
        meta: dict[str, Any] = {
            "feedUrl": stored.feed_urls["rss"],
            "feedUrls": stored.feed_urls,
            "entry": stored.outcome,
        }
        if target.config.websub_hub and stored.outcome in ("created", "updated"):
            meta["websub"] = await _ping_hub(io, target.config.websub_hub, stored.feed_urls, target.id)
        return Receipt(external_id=stored.entry_id, meta=meta)


async def _ping_hub(io: ChannelIO, hub: str, urls: dict[str, str], target_id: str) -> str:
    """Tell the hub each format's topic changed; "notified", or what failed (logged, the delivery stands)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}

    async def ping(topic: str) -> None:
        body = urlencode({"hub.mode": "publish", "hub.url": topic}).encode()
        await io.http.send("POST", hub, headers=headers, content=body)

    results = await asyncio.gather(*(ping(urls[name]) for name in FEED_FORMATS), return_exceptions=True)
    failures = [result for result in results if isinstance(result, BaseException)]
    if not failures:
        return "notified"
    first = failures[0]
    reason = first.message if isinstance(first, DeliveryError) else type(first).__name__
    log.warning("WebSub hub ping for feed %s failed (%d of %d): %s", target_id, len(failures), len(results), reason)
    return f"failed: {reason}"[:300]


__all__ = ["FEED_FORMATS", "FeedChannel", "FeedConfig", "FeedCredentials", "entry_id"]

"""Discord: one webhook execute, ``POST {apiBaseUrl}/webhooks/{webhookId}/{webhookToken}?wait=true``.

``wait=true`` makes Discord confirm the message and return it (its id is the receipt); without it a
message Discord drops answers 204 with no error. The token is in the path, no auth header. A 429 carries
``retry_after`` (float seconds) in the body and ``X-RateLimit-Reset-After`` in the headers; the body's
value wins, then the header, then ``Retry-After``. ``global: true`` (or ``X-RateLimit-Global``, or
``X-RateLimit-Scope: global``) is the bot's or the IP's global limit rather than this webhook's route.
Discord asks that a 404 webhook is not used again, so an unknown webhook or a wrong token is systemic
(the circuit stops every further request) rather than failing job after job.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryError,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    RecipientView,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.chat import base_url, body_of, excerpt, fit, joined, message_parts, seconds
from adapters.io import HttpAnswer
from adapters.render import ChannelModel, checked_url, json_bytes, validate_provider

DEFAULT_API = "https://discord.com/api/v10"
MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TITLE = 256
MAX_EMBED_DESCRIPTION = 4096
MAX_EMBED_TOTAL = 6000
_SNOWFLAKE = re.compile(r"^[0-9]{15,25}$")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{20,200}$")

# JSON error codes (opcodes-and-status-codes): the target can never work as configured.
SYSTEMIC_CODES = {40001: "unauthorized", 50014: "invalid authentication token", 10015: "unknown webhook",
                  50027: "invalid webhook token"}  # fmt: skip
TRANSIENT_CODES = {40004: "sending messages is temporarily disabled", 40006: "this feature is temporarily disabled"}
ACCESS_CODES = {50001: "missing access", 50013: "missing permissions"}
CHANNEL_CODES = {
    10003: "unknown channel: the webhook's thread or channel is gone; fix or clear config.threadId",
    50008: "cannot send messages in a non-text channel; point the webhook at a text channel",
    50083: "the thread is archived; unarchive it or clear config.threadId",
}


class DiscordConfig(ChannelModel):
    webhook_id: str = Field(description="The webhook's id, the number after /webhooks/ in its URL.")
    api_base_url: str = DEFAULT_API
    thread_id: str | None = None
    username: str | None = Field(None, min_length=1, max_length=80)
    avatar_url: str | None = None
    format: Literal["content", "embed"] = "content"

    @field_validator("webhook_id", "thread_id")
    @classmethod
    def _snowflake(cls, value: str | None) -> str | None:
        if value is not None and not _SNOWFLAKE.fullmatch(value):
            raise ValueError("must be a Discord id (a snowflake: 15 to 25 digits)")
        return value

    @field_validator("api_base_url")
    @classmethod
    def _base(cls, value: str) -> str:
        return base_url(value)

    @field_validator("avatar_url")
    @classmethod
    def _avatar(cls, value: str | None) -> str | None:
        return checked_url(value) if value is not None else None


class DiscordCredentials(ChannelModel):
    webhook_token: str = Field(description="The webhook's token, the last part of its URL.")

    @field_validator("webhook_token")
    @classmethod
    def _token(cls, value: str) -> str:
        if not _TOKEN.fullmatch(value):
            raise ValueError("must be the webhook token (the last part of the webhook URL: letters, digits, - and _)")
        return value


Target = TargetView[DiscordConfig, DiscordCredentials]


def _embed(content: Content, policy: Policy) -> dict[str, Any]:
    title = fit(content.title.strip(), MAX_EMBED_TITLE, policy.truncate)
    budget = min(MAX_EMBED_DESCRIPTION, MAX_EMBED_TOTAL - len(title))
    _, body, _ = message_parts(content, policy, budget, title=False)
    embed: dict[str, Any] = {"title": title, "description": body}
    if content.url:
        embed["url"] = content.url
    if content.media_urls:
        embed["image"] = {"url": content.media_urls[0]}
    return {key: value for key, value in embed.items() if value}


def render_body(content: Content, policy: Policy, config: DiscordConfig) -> dict[str, Any]:
    # Mentions in content are never resolved: a quoted "@everyone" must not ping a whole server.
    body: dict[str, Any] = {"allowed_mentions": {"parse": []}}
    if config.format == "embed":
        body["embeds"] = [_embed(content, policy)]
        extra = content.media_urls[1:MAX_EMBEDS]
    else:
        heading, text, link = message_parts(content, policy, MAX_CONTENT - 4)  # 4: the title's ** markers
        body["content"] = joined(f"**{heading}**" if heading else "", text, link)
        extra = content.media_urls[:MAX_EMBEDS]
    body.setdefault("embeds", []).extend({"image": {"url": url}} for url in extra)
    if not body["embeds"]:
        del body["embeds"]
    if config.username:
        body["username"] = config.username
    if config.avatar_url:
        body["avatar_url"] = config.avatar_url
    return body


def rate_limit_seconds(answer: HttpAnswer, body: dict[str, Any]) -> float | None:
    """The body's float ``retry_after``, else ``X-RateLimit-Reset-After``, else ``Retry-After``."""
    for value in (
        body.get("retry_after"),
        answer.headers.get("x-ratelimit-reset-after"),
        answer.headers.get("retry-after"),
    ):
        found = seconds(value)
        if found is not None:
            return found
    return None


def is_global(answer: HttpAnswer, body: dict[str, Any]) -> bool:
    return (
        body.get("global") is True
        or answer.headers.get("x-ratelimit-global", "").lower() == "true"
        or answer.headers.get("x-ratelimit-scope", "").lower() == "global"
    )


def classify(answer: HttpAnswer) -> Receipt:
    """A 2xx with the created message becomes the receipt; anything else raises the classified error."""
    status, body, text = answer.status_code, body_of(answer), excerpt(answer)
    if 200 <= status < 300:
        message_id = body.get("id")
        if not isinstance(message_id, str) or not message_id:
            raise TransientDeliveryError(
                f"Discord answered HTTP {status} without the created message; Herald will retry.",
                status_code=status,
                code="DISCORD_NO_MESSAGE",
                response_excerpt=text,
                outcome_unknown=True,
            )
        meta = {"statusCode": status, "messageId": message_id, "channelId": body.get("channel_id")}
        if body.get("webhook_id"):
            meta["webhookId"] = body["webhook_id"]
        return Receipt(external_id=message_id, meta=meta)
    raise error_for(answer, body, text)


def error_for(answer: HttpAnswer, body: dict[str, Any], text: str | None) -> DeliveryError:
    status = answer.status_code
    code = body.get("code") if isinstance(body.get("code"), int) else None
    said = str(body.get("message") or f"HTTP {status}")
    facts: dict[str, Any] = {"status_code": status, "response_excerpt": text}
    if status == 429:
        scope = "global" if is_global(answer, body) else (answer.headers.get("x-ratelimit-scope") or "route")
        wait = rate_limit_seconds(answer, body)
        where = (
            "its global limit (every webhook from this host waits)"
            if scope == "global"
            else f"this webhook's {scope} limit"
        )
        return RateLimitedError(
            f"Discord rate-limited the webhook ({where}); Herald pauses the target for {wait or 'the default'} s.",
            retry_after_seconds=wait,
            code="DISCORD_RATE_LIMITED_GLOBAL" if scope == "global" else "DISCORD_RATE_LIMITED",
            **facts,
        )
    if status == 401 or code in SYSTEMIC_CODES or (status == 404 and code is None):
        reason = SYSTEMIC_CODES.get(code or 0, said)
        return SystemicDeliveryError(
            f"Discord refused the webhook ({reason}): it was deleted or its token is wrong. Create a webhook in "
            "the channel's Integrations settings and update the target's webhookId and webhookToken; Discord "
            "restricts hosts that keep using a dead webhook, so Herald stops sending to it.",
            code=f"DISCORD_{code}" if code else f"HTTP_{status}",
            **facts,
        )
    if code in TRANSIENT_CODES or status >= 500 or status == 408:
        return TransientDeliveryError(
            f"Discord is unavailable ({TRANSIENT_CODES.get(code or 0, said)}); Herald will retry.",
            code=f"DISCORD_{code}" if code else f"HTTP_{status}",
            retry_after_seconds=seconds(answer.headers.get("retry-after")),
            **facts,
        )
    if code in CHANNEL_CODES:
        return PermanentDeliveryError(
            f"Discord cannot post there ({CHANNEL_CODES[code]}), then retry the failed jobs.",
            code=f"DISCORD_{code}",
            **facts,
        )
    if status == 403 or code in ACCESS_CODES:
        return SystemicDeliveryError(
            f"Discord refused to post to the webhook's channel ({ACCESS_CODES.get(code or 0, said)}); give the "
            "webhook access to the channel, then update the target.",
            code=f"DISCORD_{code}" if code else f"HTTP_{status}",
            **facts,
        )
    return PermanentDeliveryError(
        f"Discord refused this message ({said}); retrying it will not help: check its length "
        f"(content {MAX_CONTENT}, embeds {MAX_EMBED_TOTAL} characters) and fields.",
        code=f"DISCORD_{code}" if code else f"HTTP_{status}",
        **facts,
    )


class DiscordChannel:
    name: ClassVar[ChannelName] = ChannelName.DISCORD
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Discord webhook execute with ?wait=true (the message id is the receipt); content up to 2,000 characters "
        "or an embed, media as image embeds."
    )
    config_model = DiscordConfig
    credentials_model: type[DiscordCredentials] | None = DiscordCredentials
    limits = ChannelLimits(max_text_chars=MAX_CONTENT, max_body_bytes=25 * 1024 * 1024)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[DiscordConfig, DiscordCredentials]:
        return validate_provider(DiscordConfig, DiscordCredentials, config, credentials)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        return ChannelPayload(body=render_body(content, policy, target.config))

    def url(self, target: Target) -> str:
        assert target.credentials is not None
        config = target.config
        thread = f"&thread_id={config.thread_id}" if config.thread_id else ""
        token = target.credentials.webhook_token
        return f"{config.api_base_url}/webhooks/{config.webhook_id}/{token}?wait=true{thread}"

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if target.credentials is None:
            raise SystemicDeliveryError(
                "The Discord target has no webhook token; update its credentials.", code="NO_CREDENTIALS"
            )
        answer = await io.http.exchange(
            "POST", self.url(target), headers={"Content-Type": "application/json"}, content=json_bytes(payload.body)
        )
        return classify(answer)


__all__ = ["DiscordChannel", "DiscordConfig", "DiscordCredentials", "classify", "render_body"]

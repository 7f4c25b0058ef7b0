"""Mastodon: one status, ``POST /api/v1/statuses`` with the account's token (``write:statuses``).

Every post carries ``Idempotency-Key`` = the delivery id: Mastodon keeps the key for an hour and
answers a repeat with the status it already made, so a retry after a timeout never posts twice.
The text fits the instance's limit (``maxCharacters``, 500 by default; every URL counts
``charactersReservedPerUrl``, 23). A 429 pauses the target until ``X-RateLimit-Reset`` (ISO 8601).
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, ClassVar, Literal

import regex
from pydantic import Field, field_validator

from adapters.base import (
    Addressing,
    Attachment,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.io import HttpAnswer
from adapters.provider import (
    DELIVERY_ID,
    body_json,
    fit,
    permanent,
    rate_limited,
    seconds_until,
    server_error,
    systemic,
)
from adapters.render import ChannelModel, apply_policy, checked_url, json_bytes, validate_provider

API_BASE_URL = "https://mastodon.social"
MAX_MEDIA = 4
MEDIA_TYPES = ("image/", "video/", "audio/")
MEDIA_POLLS = 10  # a 202 upload is polled this many times (MEDIA_POLL_SECONDS apart) before the send gives up
MEDIA_POLL_SECONDS = 0.3
BOUNDARY = "herald-mastodon-media"
URL_PATTERN = regex.compile(r"https?://[^\s<>\"]+")


class MastodonConfig(ChannelModel):
    api_base_url: str = API_BASE_URL
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    max_characters: int = Field(500, ge=50, le=100_000)
    characters_reserved_per_url: int = Field(23, ge=1, le=1000)
    language: str | None = Field(None, min_length=2, max_length=3)
    spoiler_text: str | None = Field(None, max_length=500)
    sensitive: bool = False

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value).rstrip("/")


class MastodonCredentials(ChannelModel):
    access_token: str = Field(min_length=8)


Target = TargetView[MastodonConfig, MastodonCredentials]


def status_length(text: str, per_url: int = 23) -> int:
    """Characters as Mastodon counts them: each URL as ``per_url``, whatever its length."""
    return len(URL_PATTERN.sub("x" * per_url, text))


def compose(content: Content, policy: Policy, config: MastodonConfig) -> str:
    """Title, body and link within the instance's limit as Mastodon counts it (a URL as 23), the body cut
    with the policy's truncation: the longest cut that fits (a binary search over its length)."""
    head, tail = f"{content.title}\n\n", f"\n\n{content.url}" if content.url else ""
    per_url, limit = config.characters_reserved_per_url, config.max_characters
    body = apply_policy(content, policy)

    def text(keep: int) -> str:
        return head + fit(body, keep, policy) + tail

    if status_length(text(len(body)), per_url) <= limit:
        return text(len(body))
    low, high = 0, len(body)  # text(low) fits (or is the shortest there is); text(high) does not
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if status_length(text(middle), per_url) <= limit else (low, middle)
    return text(low)


class MastodonChannel:
    name: ClassVar[ChannelName] = ChannelName.MASTODON
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Mastodon status on an instance (token scope write:statuses); Idempotency-Key makes retries safe."
    )
    config_model = MastodonConfig
    credentials_model: type[MastodonCredentials] | None = MastodonCredentials
    limits = ChannelLimits(max_text_chars=500)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[MastodonConfig, MastodonCredentials]:
        return validate_provider(MastodonConfig, MastodonCredentials, config, credentials)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        config = target.config
        status: dict[str, Any] = {"status": compose(content, policy, config), "visibility": config.visibility}
        if config.language:
            status["language"] = config.language
        if config.spoiler_text:
            status["spoiler_text"] = config.spoiler_text
        if config.sensitive:
            status["sensitive"] = True
        media = [a for a in content.attachments if a.content_type.startswith(MEDIA_TYPES)][:MAX_MEDIA]
        if media:
            status["media_ids"] = [f"<uploaded at send: {a.filename}>" for a in media]
        return ChannelPayload(body=status, headers={"Idempotency-Key": DELIVERY_ID}, meta={"media": media})

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if target.credentials is None:
            raise systemic(
                "The Mastodon target has no access token; set credentials.accessToken.", None, "MASTODON_NO_TOKEN"
            )
        headers = {
            "Authorization": f"Bearer {target.credentials.access_token}",
            "Content-Type": "application/json",
            "Idempotency-Key": delivery.delivery_id,
        }
        body = dict(payload.body)
        if payload.meta.get("media"):
            token = target.credentials.access_token
            body["media_ids"] = [await _upload(target.config, token, a, io) for a in payload.meta["media"]]
        url = f"{target.config.api_base_url}/api/v1/statuses"
        answer = await io.http.exchange("POST", url, headers=headers, content=json_bytes(body))
        status = _status(answer)
        return Receipt(
            external_id=str(status.get("id")),
            meta={"url": status.get("url"), "uri": status.get("uri"), "statusCode": answer.status_code},
        )


async def _upload(config: MastodonConfig, token: str, attachment: Attachment, io: ChannelIO) -> str:
    """``POST /api/v2/media``; a 202 (still processing) is polled at ``GET /api/v1/media/:id`` until ready."""
    name = attachment.filename.replace('"', "")
    form = b"".join(
        [
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="description"\r\n\r\n{name}\r\n'.encode(),
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="{name}"\r\n'.encode(),
            f"Content-Type: {attachment.content_type}\r\n\r\n".encode(),
            attachment.data,
            f"\r\n--{BOUNDARY}--\r\n".encode(),
        ]
    )
    headers = {"Authorization": f"Bearer {token}", "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    answer = await io.http.exchange("POST", f"{config.api_base_url}/api/v2/media", headers=headers, content=form)
    media = _media(answer)
    polls = 0
    while answer.status_code in (202, 206):
        polls += 1
        if polls > MEDIA_POLLS:
            raise TransientDeliveryError(
                f"Mastodon is still processing {name}; Herald will retry.", code="MASTODON_MEDIA_PROCESSING"
            )
        await asyncio.sleep(MEDIA_POLL_SECONDS)
        url = f"{config.api_base_url}/api/v1/media/{media['id']}"
        answer = await io.http.exchange("GET", url, headers={"Authorization": f"Bearer {token}"}, content=b"")
        media = _media(answer)
    return str(media["id"])


def _media(answer: HttpAnswer) -> dict[str, Any]:
    body = body_json(answer)
    if answer.status_code in (200, 202, 206) and body.get("id") is not None:
        return body
    return _status(answer)  # raises: the same classification as a status


def reset_seconds(value: str | None) -> float | None:
    """Seconds until ``X-RateLimit-Reset`` (ISO 8601, e.g. ``2026-07-02T12:00:00.000000Z``); None if unreadable."""
    try:
        moment = datetime.fromisoformat((value or "").strip())
    except ValueError:
        return None
    return seconds_until(moment) if moment.tzinfo else None


def _status(answer: HttpAnswer) -> dict[str, Any]:
    body = body_json(answer)
    status = answer.status_code
    if 200 <= status < 300 and body.get("id") is not None:
        return body
    reason = str(body.get("error") or f"HTTP {status}")
    if status == 429:
        seconds = reset_seconds(answer.headers.get("x-ratelimit-reset"))
        raise rate_limited("Mastodon rate-limited the account (HTTP 429).", answer, seconds, "MASTODON_RATE_LIMITED")
    if status >= 500:
        raise server_error("Mastodon", answer)
    if status in (401, 403):
        raise systemic(
            f"Mastodon refused the token ({reason}); issue a new one with write:statuses.", answer, f"HTTP_{status}"
        )
    if status in (404, 410):
        raise permanent(
            f"The instance or account is gone ({reason}); check config.apiBaseUrl.", answer, f"HTTP_{status}"
        )
    raise permanent(f"Mastodon refused the status ({reason}); retrying will not help.", answer, f"HTTP_{status}")


__all__ = ["MastodonChannel", "MastodonConfig", "MastodonCredentials", "compose", "reset_seconds", "status_length"]

"""Webhooks: JSON POST signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from typing import Any, ClassVar

from pydantic import field_validator

from adapters.base import (
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryOutcome,
    OutboundClient,
    Policy,
    Receipt,
    TargetView,
    ValidatedTarget,
)
from adapters.render import ChannelModel, envelope, http_receipt, json_bytes, validate_model

_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,100}$")
RESERVED_HEADERS = {"host", "content-length", "content-type", "user-agent", "webhook-id", "webhook-timestamp", "webhook-signature"}


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    for name in headers:
        if not _HEADER_NAME.match(name) or name.lower() in RESERVED_HEADERS:
            raise ValueError(f"header {name!r} is not allowed (letters, digits and '-', not a header Herald sets)")
    return headers


class WebhookConfig(ChannelModel):
    url: str
    headers: dict[str, str] = {}
    allow_redirects: bool = False

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)


class WebhookCredentials(ChannelModel):
    signing_secret: str

    @field_validator("signing_secret")
    @classmethod
    def _whsec(cls, value: str) -> str:
        raw = value.removeprefix("whsec_")
        try:
            key = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not value.startswith("whsec_") or not 24 <= len(key) <= 64:
            raise ValueError("must be 'whsec_' followed by base64 of 24 to 64 random bytes")
        return value


def new_signing_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class WebhookAdapter:
    channel: ClassVar[ChannelName] = ChannelName.WEBHOOK
    config_model: ClassVar[type[ChannelModel]] = WebhookConfig
    credentials_model: ClassVar[type[ChannelModel] | None] = WebhookCredentials
    description: ClassVar[str] = "JSON POST signed per Standard Webhooks."

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget:
        validated = validate_model(WebhookConfig, config, "config")
        revealed: dict[str, str] = {}
        if not credentials or not credentials.get("signingSecret"):
            credentials = {**(credentials or {}), "signingSecret": new_signing_secret()}
            revealed["signingSecret"] = credentials["signingSecret"]
        return ValidatedTarget(validated, validate_model(WebhookCredentials, credentials, "credentials"), revealed)

    def destination(self, config: WebhookConfig) -> str | None:  # type: ignore[override]
        return config.url

    def transform(self, content: Content, policy: Policy, target: TargetView) -> ChannelPayload:
        return ChannelPayload(body=envelope(content, policy))

    def deliver(
        self, payload: ChannelPayload, target: TargetView, client: OutboundClient, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        config: WebhookConfig = target.config  # type: ignore[assignment]
        credentials: WebhookCredentials = target.credentials  # type: ignore[assignment]
        body = json_bytes({**payload.body, "timestamp": delivery.timestamp.isoformat()})
        timestamp = int(delivery.timestamp.timestamp())
        headers = {
            **config.headers,
            "Content-Type": "application/json",
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(credentials.signing_secret, delivery.delivery_id, timestamp, body),
        }
        return client.send("POST", config.url, headers=headers, content=body, allow_redirects=config.allow_redirects)

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt:
        return http_receipt(outcome)

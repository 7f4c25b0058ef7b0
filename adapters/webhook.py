"""Webhooks: JSON POST signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
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
    signature_scheme: Literal["v1", "v1a"] = "v1"

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value)


def _check_secret(value: str) -> str:
    """whsec_<base64 24-64 bytes> (HMAC, v1) or whsk_<base64 32-byte ed25519 seed> (v1a)."""
    prefix = "whsec_" if value.startswith("whsec_") else "whsk_" if value.startswith("whsk_") else ""
    try:
        key = base64.b64decode(value.removeprefix(prefix), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    valid = (prefix == "whsec_" and 24 <= len(key) <= 64) or (prefix == "whsk_" and len(key) == 32)
    if not valid:
        raise ValueError("must be 'whsec_' followed by base64 of 24 to 64 random bytes")
    return value


class PreviousSecret(ChannelModel):
    secret: str
    expires_at: datetime

    @field_validator("secret")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _check_secret(value)


class WebhookCredentials(ChannelModel):
    signing_secret: str
    previous_secrets: list[PreviousSecret] = []

    @field_validator("signing_secret")
    @classmethod
    def _valid(cls, value: str) -> str:
        return _check_secret(value)


def new_signing_secret(scheme: str = "v1") -> str:
    if scheme == "v1a":
        return "whsk_" + base64.b64encode(os.urandom(32)).decode()
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def public_key(secret: str) -> str:
    """The ed25519 public key receivers verify v1a signatures with (whpk_…)."""
    private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix("whsk_")))
    raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "whpk_" + base64.b64encode(raw).decode()


def _revealed(secret: str) -> dict[str, str]:
    return {"signingSecret": secret, "publicKey": public_key(secret)} if secret.startswith("whsk_") else {"signingSecret": secret}


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    if secret.startswith("whsk_"):
        private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix("whsk_")))
        return "v1a," + base64.b64encode(private.sign(signed)).decode()
    key = base64.b64decode(secret.removeprefix("whsec_"))
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def live_secrets(credentials: WebhookCredentials, now: datetime) -> list[str]:
    """The current secret and those still inside their rotation overlap: each signs every delivery."""
    return [credentials.signing_secret] + [p.secret for p in credentials.previous_secrets if p.expires_at > now]


class WebhookAdapter:
    channel: ClassVar[ChannelName] = ChannelName.WEBHOOK
    config_model: ClassVar[type[ChannelModel]] = WebhookConfig
    credentials_model: ClassVar[type[ChannelModel] | None] = WebhookCredentials
    description: ClassVar[str] = "JSON POST signed per Standard Webhooks."

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget:
        validated = validate_model(WebhookConfig, config, "config")
        revealed: dict[str, str] = {}
        if not credentials or not credentials.get("signingSecret"):
            credentials = {**(credentials or {}), "signingSecret": new_signing_secret(validated.signature_scheme)}  # type: ignore[attr-defined]
            revealed = _revealed(credentials["signingSecret"])
        return ValidatedTarget(validated, validate_model(WebhookCredentials, credentials, "credentials"), revealed)

    def rotate_secret(self, config: WebhookConfig, credentials: dict[str, Any], overlap_until: datetime) -> tuple[dict, dict]:
        """A new secret; the old one keeps signing (alongside) until ``overlap_until``.

        An overlap that is already over (0 hours: the old secret leaked) drops every older secret at once.
        """
        current = WebhookCredentials.model_validate(credentials)
        now = datetime.now(UTC)
        previous: list[PreviousSecret] = []
        if overlap_until > now:
            kept = [p for p in current.previous_secrets if p.expires_at > now]
            previous = [PreviousSecret(secret=current.signing_secret, expires_at=overlap_until), *kept]
        rotated = WebhookCredentials(signing_secret=new_signing_secret(config.signature_scheme), previous_secrets=previous)
        secret = rotated.signing_secret
        return rotated.model_dump(mode="json", by_alias=True), _revealed(secret)

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
            "webhook-signature": " ".join(
                sign(secret, delivery.delivery_id, timestamp, body) for secret in live_secrets(credentials, delivery.timestamp)
            ),
        }
        return client.send("POST", config.url, headers=headers, content=body, allow_redirects=config.allow_redirects)

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt:
        return http_receipt(outcome)

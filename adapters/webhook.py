"""Webhooks: a JSON POST signed per Standard Webhooks (webhook-id, webhook-timestamp, webhook-signature).

``signatureScheme`` picks the kind of secret Herald generates (``v1``: HMAC ``whsec_``, ``v1a``:
ed25519 ``whsk_``); each secret signs with its own scheme, so a rotation can switch schemes while
the old secret keeps signing alongside until its overlap ends.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from pydantic import Field, field_validator

from adapters.base import (
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryOutcome,
    OutboundRequest,
    Policy,
    Receipt,
    RequestChannel,
    TargetView,
    ValidatedTarget,
)
from adapters.headers import RESERVED, check_headers, merge_headers
from adapters.render import (
    ChannelModel,
    checked_url,
    envelope,
    http_receipt,
    json_bytes,
    unix_seconds,
    validate_model,
)
from adapters.signing import (
    Scheme,
    check_secret,
    new_signing_secret,
    public_key,
    revealed_for,
    sign,
    signature_header,
)


class WebhookConfig(ChannelModel):
    url: str
    headers: dict[str, str] = Field(default_factory=dict)
    allow_redirects: bool = False
    signature_scheme: Scheme = "v1"

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value)

    @field_validator("headers")
    @classmethod
    def _headers(cls, value: dict[str, str]) -> dict[str, str]:
        return check_headers(value, RESERVED, prefixes=("webhook-",))


class PreviousSecret(ChannelModel):
    """A rotated-out secret that keeps signing until ``expires_at``."""

    secret: str
    expires_at: datetime

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret(value)

    @field_validator("expires_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return as_utc(value)


class WebhookCredentials(ChannelModel):
    signing_secret: str
    previous_secrets: list[PreviousSecret] = Field(default_factory=list)

    @field_validator("signing_secret")
    @classmethod
    def _secret(cls, value: str) -> str:
        return check_secret(value)


def as_utc(moment: datetime) -> datetime:
    """An aware datetime; a naive one is taken as UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def live_secrets(credentials: WebhookCredentials, now: datetime) -> list[str]:
    """The current secret and those still inside their rotation overlap: each signs every delivery."""
    return [credentials.signing_secret] + [p.secret for p in credentials.previous_secrets if p.expires_at > as_utc(now)]


def _with_secret(credentials: dict[str, Any] | None, scheme: Scheme) -> tuple[dict[str, Any], dict[str, str]]:
    """The credentials to validate, and the generated secret to reveal when none was given."""
    given = dict(credentials or {})
    if given.get("signingSecret") or given.get("signing_secret"):
        return given, {}
    given.pop("signing_secret", None)
    secret = new_signing_secret(scheme)
    return {**given, "signingSecret": secret}, revealed_for(secret)


class WebhookAdapter(RequestChannel):
    channel: ClassVar[ChannelName] = ChannelName.WEBHOOK
    config_model: ClassVar[type[ChannelModel]] = WebhookConfig
    credentials_model: ClassVar[type[ChannelModel] | None] = WebhookCredentials
    description: ClassVar[str] = (
        "JSON POST signed per Standard Webhooks; Herald generates the signing secret unless given one."
    )

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget:
        validated = validate_model(WebhookConfig, config, "config")
        given, revealed = _with_secret(credentials, validated.signature_scheme)
        return ValidatedTarget(validated, validate_model(WebhookCredentials, given, "credentials"), revealed)

    def rotate_secret(
        self, config: WebhookConfig, credentials: dict[str, Any], overlap_until: datetime
    ) -> tuple[dict[str, Any], dict[str, str]]:
        """New credentials (stored form) and what to reveal; the old secret keeps signing until ``overlap_until``.

        An overlap already over (0 hours: the old secret leaked) drops every older secret at once.
        """
        now, overlap_until = datetime.now(UTC), as_utc(overlap_until)
        previous: list[PreviousSecret] = []
        if overlap_until > now and credentials.get("signingSecret"):
            current = validate_model(WebhookCredentials, credentials, "credentials")
            kept = [p for p in current.previous_secrets if p.expires_at > now]
            previous = [PreviousSecret(secret=current.signing_secret, expires_at=overlap_until), *kept]
        rotated = WebhookCredentials(
            signing_secret=new_signing_secret(config.signature_scheme), previous_secrets=previous
        )
        return rotated.model_dump(mode="json", by_alias=True), revealed_for(rotated.signing_secret)

    def destination(self, config: WebhookConfig) -> str | None:  # type: ignore[override]
        return config.url

    def transform(self, content: Content, policy: Policy, target: TargetView) -> ChannelPayload:
        return ChannelPayload(body=envelope(content, policy))

    def outbound_request(
        self, payload: ChannelPayload, target: TargetView, delivery: DeliveryContext
    ) -> OutboundRequest:
        """The signed POST for this delivery: the exact body bytes, signed by every live secret."""
        config: WebhookConfig = target.config  # type: ignore[assignment]
        credentials: WebhookCredentials = target.credentials  # type: ignore[assignment]
        body = json_bytes(payload.body)
        timestamp = unix_seconds(delivery.timestamp)
        secrets = live_secrets(credentials, delivery.timestamp)
        signed = {
            "Content-Type": payload.content_type,
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.delivery_id, timestamp, body),
        }
        return OutboundRequest("POST", config.url, merge_headers(config.headers, signed), body, config.allow_redirects)

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt:
        return http_receipt(outcome)


__all__ = [
    "PreviousSecret",
    "WebhookAdapter",
    "WebhookConfig",
    "WebhookCredentials",
    "live_secrets",
    "new_signing_secret",
    "public_key",
    "sign",
]

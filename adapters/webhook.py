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
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    Endpoint,
    PermanentDeliveryError,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    Validated,
)
from adapters.http_client.headers import RESERVED, check_headers, merge_headers
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


Target = TargetView[WebhookConfig, WebhookCredentials]


class WebhookChannel:
    name: ClassVar[ChannelName] = ChannelName.WEBHOOK
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "JSON POST signed per Standard Webhooks; Herald generates the signing secret unless given one."
    )
    config_model = WebhookConfig
    credentials_model: type[WebhookCredentials] | None = WebhookCredentials
    limits = ChannelLimits()

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[WebhookConfig, WebhookCredentials]:
        validated = validate_model(WebhookConfig, config, "config")
        given, revealed = _with_secret(credentials, validated.signature_scheme)
        checked = validate_model(WebhookCredentials, given, "credentials")
        return Validated(validated, checked, revealed, endpoints=(Endpoint(validated.url),))

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

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        return ChannelPayload(body=envelope(content, policy))

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        """One POST of the exact body bytes, signed by every live secret."""
        if target.credentials is None:
            raise PermanentDeliveryError("The webhook target has no signing secret; rotate it.", code="NO_SECRET")
        config, body = target.config, json_bytes(payload.body)
        timestamp = unix_seconds(delivery.timestamp)
        secrets = live_secrets(target.credentials, delivery.timestamp)
        signed = {
            "Content-Type": payload.content_type,
            "webhook-id": delivery.delivery_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(secrets, delivery.delivery_id, timestamp, body),
        }
        headers = merge_headers(config.headers, signed)
        response = await io.http.send(
            "POST", config.url, headers=headers, content=body, allow_redirects=config.allow_redirects
        )
        return http_receipt(response)


__all__ = [
    "PreviousSecret",
    "WebhookChannel",
    "WebhookConfig",
    "WebhookCredentials",
    "live_secrets",
    "new_signing_secret",
    "public_key",
    "sign",
]

"""A scriptable channel for demos, agent examples and tests: no network, behaviour from config.

Stateless: attempt n (``delivery.attempt``, 1-based) answers, in order, 429 for the first
``rateLimitTimes`` attempts, then a timeout for the next ``timeoutTimes``, then ``failWith`` for the
next ``failTimes``, then success. Answers go through ``classify_response`` like real ones.
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from pydantic import BaseModel, Field

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    Policy,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    TargetView,
    TransientDeliveryError,
    Validated,
)
from adapters.http_client.classify import classify_response
from adapters.render import ChannelModel, envelope, validate_model

TIMEOUT = None


class StubConfig(ChannelModel):
    fail_times: int = Field(0, ge=0, le=1000)
    fail_with: int = Field(503, ge=400, le=599)
    rate_limit_times: int = Field(0, ge=0, le=1000)
    retry_after_seconds: float = Field(1.0, ge=0, le=86400, allow_inf_nan=False)
    timeout_times: int = Field(0, ge=0, le=1000)
    latency_ms: float = Field(0, ge=0, le=30000, allow_inf_nan=False)
    address_key: str | None = Field(
        None,
        pattern=r"^[a-z][a-z0-9_]{0,39}$",
        description="Which of a recipient's addresses to use (e.g. whatsapp, to stand in for that channel); "
        "default stub, else any.",
    )
    bounce_addresses: list[str] = Field(
        default_factory=list, max_length=1000, description="Recipient addresses that hard-bounce (5xx at RCPT)."
    )


def scripted_status(config: StubConfig, attempt: int) -> int | None:
    """The HTTP-like status attempt ``attempt`` answers with; None stands for a timeout."""
    for count, status in (
        (config.rate_limit_times, 429),
        (config.timeout_times, TIMEOUT),
        (config.fail_times, config.fail_with),
    ):
        if attempt <= count:
            return status
        attempt -= count
    return 200


def scripted_receipt(config: StubConfig, delivery: DeliveryContext) -> Receipt:
    """What this attempt answers, classified like a real answer (a scripted timeout raises TIMEOUT)."""
    status = scripted_status(config, delivery.attempt)
    if status is TIMEOUT:
        raise TransientDeliveryError("Timed out talking to the stub (scripted by timeoutTimes).", code="TIMEOUT")
    headers = {"Retry-After": repr(config.retry_after_seconds)} if status == 429 else {}
    response = classify_response(status, headers, "")
    return Receipt(external_id=f"stub_{delivery.delivery_id}", meta={"statusCode": response.status_code, "stub": True})


Target = TargetView[StubConfig, BaseModel]


class StubChannel:
    name: ClassVar[ChannelName] = ChannelName.STUB
    addressing: ClassVar[Addressing] = "either"  # per recipient when the plan names recipients
    description: ClassVar[str] = (
        "Scriptable test channel without network: fail N times, answer 429, time out, add latency."
    )
    config_model = StubConfig
    credentials_model: type[BaseModel] | None = None
    limits = ChannelLimits()

    def validate(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> Validated[StubConfig, BaseModel]:
        return Validated(validate_model(StubConfig, config, "config"), None)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        body = envelope(content, policy)
        if recipient is not None:
            body["recipient"] = {"id": recipient.id, "address": recipient.address, "externalId": recipient.external_id}
            if recipient.unsubscribe_url:
                body["recipient"]["unsubscribeUrl"] = recipient.unsubscribe_url
        if content.attachments:
            body["attachments"] = [
                {"filename": a.filename, "contentType": a.content_type, "size": a.size} for a in content.attachments
            ]
        if content.media_urls:
            body["mediaUrls"] = list(content.media_urls)
        return ChannelPayload(body=body, meta={"address": recipient.address} if recipient is not None else {})

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        if target.config.latency_ms:
            await asyncio.sleep(target.config.latency_ms / 1000)
        address = payload.meta.get("address")
        if address is not None and address in target.config.bounce_addresses:
            raise RecipientUnreachableError(
                f"The stub refuses {address} for good (scripted by bounceAddresses).", status_code=550, code="BOUNCED"
            )
        return scripted_receipt(target.config, delivery)

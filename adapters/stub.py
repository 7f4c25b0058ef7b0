"""A scriptable channel for demos, agent examples and tests: no network, behaviour from config.

Stateless: attempt n (``delivery.attempt``, 1-based) answers, in order, 429 for the first
``rateLimitTimes`` attempts, then a timeout for the next ``timeoutTimes``, then ``failWith`` for the
next ``failTimes``, then success. Answers go through ``classify_response`` like real ones.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, ClassVar

from pydantic import Field

from adapters.base import (
    AsyncOutbound,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    DeliveryOutcome,
    OutboundClient,
    Policy,
    Receipt,
    TargetView,
    TransientDeliveryError,
    ValidatedTarget,
)
from adapters.classify import classify_response
from adapters.render import ChannelModel, envelope, validate_model

TIMEOUT = None


class StubConfig(ChannelModel):
    fail_times: int = Field(0, ge=0, le=1000)
    fail_with: int = Field(503, ge=400, le=599)
    rate_limit_times: int = Field(0, ge=0, le=1000)
    retry_after_seconds: float = Field(1.0, ge=0, le=86400, allow_inf_nan=False)
    timeout_times: int = Field(0, ge=0, le=1000)
    latency_ms: float = Field(0, ge=0, le=30000, allow_inf_nan=False)


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


def scripted_outcome(config: StubConfig, delivery: DeliveryContext) -> DeliveryOutcome:
    """What this attempt answers, classified like a real answer (a scripted timeout raises TIMEOUT)."""
    status = scripted_status(config, delivery.attempt)
    if status is TIMEOUT:
        raise TransientDeliveryError("Timed out talking to the stub (scripted by timeoutTimes).", code="TIMEOUT")
    headers = {"Retry-After": repr(config.retry_after_seconds)} if status == 429 else {}
    outcome = classify_response(status, headers, "")
    return DeliveryOutcome(status_code=outcome.status_code, external_id=f"stub_{delivery.delivery_id}")


class StubAdapter:
    channel: ClassVar[ChannelName] = ChannelName.STUB
    config_model: ClassVar[type[ChannelModel]] = StubConfig
    credentials_model: ClassVar[type[ChannelModel] | None] = None
    description: ClassVar[str] = (
        "Scriptable test channel without network: fail N times, answer 429, time out, add latency."
    )

    def validate_config(self, config: dict[str, Any], credentials: dict[str, Any] | None) -> ValidatedTarget:
        return ValidatedTarget(validate_model(StubConfig, config, "config"), None)

    def destination(self, config: StubConfig) -> str | None:  # type: ignore[override]
        return None

    def transform(self, content: Content, policy: Policy, target: TargetView) -> ChannelPayload:
        return ChannelPayload(body=envelope(content, policy))

    def deliver(
        self, payload: ChannelPayload, target: TargetView, client: OutboundClient, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        config: StubConfig = target.config  # type: ignore[assignment]
        if config.latency_ms:
            time.sleep(config.latency_ms / 1000)
        return scripted_outcome(config, delivery)

    async def deliver_async(
        self, payload: ChannelPayload, target: TargetView, client: AsyncOutbound, delivery: DeliveryContext
    ) -> DeliveryOutcome:
        config: StubConfig = target.config  # type: ignore[assignment]
        if config.latency_ms:
            await asyncio.sleep(config.latency_ms / 1000)
        return scripted_outcome(config, delivery)

    def normalize_receipt(self, outcome: DeliveryOutcome, delivery: DeliveryContext) -> Receipt:
        return Receipt(external_id=outcome.external_id, meta={"statusCode": outcome.status_code, "stub": True})

"""The scriptable stub channel: stateless scripts keyed on the attempt number, no network."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import BaseModel

from adapters import (
    ChannelIO,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    StubChannel,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
)
from adapters.stub import StubConfig
from tests.adapters.support import RecordingHttp

ADAPTER = StubChannel()
CONTENT = Content(id="cnt_1", version="1", title="T", body="B")
DELIVERED = Receipt("stub_job_abc", {"statusCode": 200, "stub": True})


def view_of(config: dict[str, Any]) -> TargetView[StubConfig, BaseModel]:
    validated = ADAPTER.validate(config, None)
    return TargetView("tgt_1", "stub", "stub", validated.config, None)


def attempt(config: dict[str, Any], number: int) -> Receipt:
    """One ``send`` with a ChannelIO whose HTTP client must stay unused: the stub has no network."""
    view, http = view_of(config), RecordingHttp()
    context = DeliveryContext("job_abc", number, "pln_1", datetime.now(UTC))
    try:
        return asyncio.run(ADAPTER.send(ADAPTER.render(CONTENT, Policy(), view), view, context, ChannelIO(http=http)))
    finally:
        assert http.sent == []


SCRIPT = {"rateLimitTimes": 2, "timeoutTimes": 1, "failTimes": 2, "failWith": 500, "retryAfterSeconds": 2.5}


@pytest.mark.parametrize(
    ("number", "error", "code"),
    [
        (1, RateLimitedError, "HTTP_429"),
        (2, RateLimitedError, "HTTP_429"),
        (3, TransientDeliveryError, "TIMEOUT"),
        (4, TransientDeliveryError, "HTTP_500"),
        (5, TransientDeliveryError, "HTTP_500"),
    ],
)
def test_scripted_failures_come_in_order(number: int, error: type[DeliveryError], code: str) -> None:
    with pytest.raises(DeliveryError) as raised:
        attempt(SCRIPT, number)
    assert (type(raised.value), raised.value.code) == (error, code)


@pytest.mark.parametrize("number", [6, 7, 50])
def test_after_the_script_every_attempt_succeeds(number: int) -> None:
    assert attempt(SCRIPT, number) == DELIVERED


def test_rate_limits_carry_retry_after_seconds() -> None:
    with pytest.raises(RateLimitedError) as raised:
        attempt(SCRIPT, 1)
    assert (raised.value.status_code, raised.value.retry_after_seconds) == (429, 2.5)


@pytest.mark.parametrize(
    ("fail_with", "error"),
    [
        (503, TransientDeliveryError),
        (408, TransientDeliveryError),
        (400, PermanentDeliveryError),
        (410, PermanentDeliveryError),
        (401, SystemicDeliveryError),
        (403, SystemicDeliveryError),
        (429, RateLimitedError),
    ],
)
def test_fail_with_is_classified_like_a_real_answer(fail_with: int, error: type[DeliveryError]) -> None:
    with pytest.raises(error) as raised:
        attempt({"failTimes": 1, "failWith": fail_with}, 1)
    assert raised.value.status_code == fail_with
    assert attempt({"failTimes": 1, "failWith": fail_with}, 2) == DELIVERED


def test_default_failure_is_a_transient_503() -> None:
    with pytest.raises(TransientDeliveryError) as raised:
        attempt({"failTimes": 1}, 1)
    assert (raised.value.status_code, raised.value.retry_after_seconds) == (503, None)


def test_latency_is_applied_before_answering() -> None:
    started = time.monotonic()
    assert attempt({"latencyMs": 150}, 1) == DELIVERED
    assert time.monotonic() - started >= 0.15


def test_the_receipt_names_the_delivery() -> None:
    assert attempt({}, 1) == Receipt("stub_job_abc", {"statusCode": 200, "stub": True})


def test_no_network_endpoint_and_no_credentials() -> None:
    validated = ADAPTER.validate({}, None)
    assert (validated.endpoints, validated.credentials, validated.revealed, ADAPTER.credentials_model) == (
        (),
        None,
        {},
        None,
    )


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"failTimes": -1}, "config.failTimes"),
        ({"failWith": 200}, "config.failWith"),
        ({"failWith": 600}, "config.failWith"),
        ({"latencyMs": 30001}, "config.latencyMs"),
        ({"retryAfterSeconds": -1}, "config.retryAfterSeconds"),
        ({"retryAfterSeconds": "nan"}, "config.retryAfterSeconds"),
        ({"timeoutTimes": "many"}, "config.timeoutTimes"),
        ({"failTimez": 1}, "config.failTimez"),
    ],
)
def test_config_errors(config: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate(config, None)
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", field)


def test_latency_waits_without_blocking_the_loop() -> None:
    view = view_of({"latencyMs": 150})
    context = DeliveryContext("job_abc", 1, "pln_1", datetime.now(UTC))

    async def alongside_another_task() -> tuple[Receipt, list[str]]:
        events: list[str] = []

        async def other() -> None:
            events.append("other task ran")

        task = asyncio.create_task(other())
        io = ChannelIO(http=RecordingHttp())
        outcome = await ADAPTER.send(ADAPTER.render(CONTENT, Policy(), view), view, context, io)
        events.append("delivered")
        await task
        return outcome, events

    started = time.monotonic()
    outcome, events = asyncio.run(alongside_another_task())
    assert outcome == DELIVERED
    assert events == ["other task ran", "delivered"]
    assert time.monotonic() - started >= 0.15

"""Response classification and rate-limit signals: pure functions, exact values."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from adapters import (
    DeliveryError,
    HttpResponse,
    PermanentDeliveryError,
    RateLimitedError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.http_client import classify_response, parse_retry_after

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)

TABLE = [
    (301, PermanentDeliveryError, "permanent"),
    (302, PermanentDeliveryError, "permanent"),
    (307, PermanentDeliveryError, "permanent"),
    (400, PermanentDeliveryError, "permanent"),
    (401, SystemicDeliveryError, "systemic"),
    (403, SystemicDeliveryError, "systemic"),
    (404, PermanentDeliveryError, "permanent"),
    (408, TransientDeliveryError, "transient"),
    (410, PermanentDeliveryError, "permanent"),
    (413, PermanentDeliveryError, "permanent"),
    (422, PermanentDeliveryError, "permanent"),
    (429, RateLimitedError, "rate_limited"),
    (500, TransientDeliveryError, "transient"),
    (502, TransientDeliveryError, "transient"),
    (503, TransientDeliveryError, "transient"),
    (504, TransientDeliveryError, "transient"),
    (599, TransientDeliveryError, "transient"),
]


@pytest.mark.parametrize(("status", "error", "error_class"), TABLE)
def test_classification_table(status: int, error: type[DeliveryError], error_class: str) -> None:
    with pytest.raises(DeliveryError) as raised:
        classify_response(status, {}, "x" * 2000)
    assert type(raised.value) is error
    assert raised.value.error_class == error_class
    assert (raised.value.status_code, raised.value.code) == (status, f"HTTP_{status}")
    assert raised.value.response_excerpt == "x" * 512
    assert raised.value.message.startswith(f"The receiver answered HTTP {status}.")


@pytest.mark.parametrize("status", [200, 201, 202, 204, 299])
def test_2xx_is_an_outcome_with_safe_headers_and_an_excerpt(status: int) -> None:
    headers = {"X-Request-Id": "r1", "Set-Cookie": "s=1", "Content-Type": "application/json", "X-Secret": "no"}
    outcome = classify_response(status, headers, '{"id": "m1"}' + " " * 600)
    assert outcome == HttpResponse(
        status_code=status,
        headers={"x-request-id": "r1", "content-type": "application/json"},
        body_excerpt=('{"id": "m1"}' + " " * 600)[:512],
    )


def test_empty_bodies_give_no_excerpt() -> None:
    assert classify_response(204, {}, "").body_excerpt is None
    with pytest.raises(TransientDeliveryError) as raised:
        classify_response(500, {}, None)
    assert raised.value.response_excerpt is None


def test_redirect_message_says_redirects_are_not_followed() -> None:
    with pytest.raises(PermanentDeliveryError, match="Redirects are not followed"):
        classify_response(302, {"Location": "https://elsewhere.example/"}, "")


def test_credentials_failures_point_at_credentials() -> None:
    with pytest.raises(SystemicDeliveryError, match="Check the target's credentials"):
        classify_response(401, {}, "")


def test_429_carries_the_provider_reset() -> None:
    with pytest.raises(RateLimitedError) as limited:
        classify_response(429, {"retry-after": "5"}, "")
    assert limited.value.retry_after_seconds == 5.0
    with pytest.raises(RateLimitedError) as unsignalled:
        classify_response(429, {}, "")
    assert unsignalled.value.retry_after_seconds is None


def test_only_503_among_transient_answers_carries_retry_after() -> None:
    with pytest.raises(TransientDeliveryError) as unavailable:
        classify_response(503, {"Retry-After": "7"}, "")
    assert unavailable.value.retry_after_seconds == 7.0
    with pytest.raises(TransientDeliveryError) as failed:
        classify_response(500, {"Retry-After": "7"}, "")
    assert failed.value.retry_after_seconds is None


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"Retry-After": "120"}, None, 120.0),
        ({"retry-after": " 1.5 "}, None, 1.5),
        ({"RETRY-AFTER": "Tue, 24 Nov 2026 12:01:30 GMT"}, None, 90.0),
        ({"Retry-After": "Tue, 24 Nov 2026 12:00:30 -0000"}, None, 30.0),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}, None, 45.0),
        ({"x-ratelimit-reset": str(int(NOW.timestamp() * 1000) + 2500)}, None, 2.5),
        ({"X-RateLimit-Reset": "30"}, None, 30.0),
        ({"RateLimit-Reset": "12"}, None, 12.0),
        ({"RateLimit": "limit=100, remaining=0, reset=7"}, None, 7.0),
        ({"ratelimit": '"default";r=0;t=11'}, None, 11.0),
        ({}, '{"retry_after": 3.5}', 3.5),
        ({}, '{"error": {"code": "rate_limited", "retry_after": 9}}', 9.0),
        ({}, '{"retry_after": "4"}', 4.0),
    ],
)
def test_each_rate_limit_signal(headers: dict[str, str], body: str | None, seconds: float) -> None:
    assert parse_retry_after(headers, body, NOW) == seconds


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({}, None),
        ({}, "not json"),
        ({}, "[1, 2]"),
        ({}, '{"retry_after": true}'),
        ({}, '{"retry_after": "soon"}'),
        ({"Retry-After": "whenever"}, None),
        ({"Retry-After": "nan"}, None),
        ({"Retry-After": "inf"}, None),
        ({"RateLimit": "limit=100, remaining=0"}, None),
        ({"X-RateLimit-Limit": "100"}, None),
    ],
)
def test_absent_or_unreadable_signals_are_none(headers: dict[str, str], body: str | None) -> None:
    assert parse_retry_after(headers, body, NOW) is None


@pytest.mark.parametrize(
    "headers",
    [
        {"Retry-After": "-5"},
        {"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"},
        {"X-RateLimit-Reset": str(int(NOW.timestamp()) - 60)},
    ],
)
def test_signals_in_the_past_are_zero_never_negative(headers: dict[str, str]) -> None:
    assert parse_retry_after(headers, None, NOW) == 0.0


def test_retry_after_wins_over_other_signals_and_unreadable_ones_fall_through() -> None:
    both = {"Retry-After": "3", "X-RateLimit-Reset": "50", "RateLimit-Reset": "60"}
    assert parse_retry_after(both, '{"retry_after": 70}', NOW) == 3.0
    assert parse_retry_after({"Retry-After": "later", "RateLimit-Reset": "60"}, None, NOW) == 60.0
    assert parse_retry_after({"Retry-After": "later"}, '{"retry_after": 70}', NOW) == 70.0


def test_now_defaults_to_the_current_time() -> None:
    in_a_minute = datetime.now(UTC).timestamp() + 60
    assert 55 <= parse_retry_after({"X-RateLimit-Reset": str(in_a_minute)}) <= 60  # type: ignore[operator]

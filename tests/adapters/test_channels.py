"""Webhook, http and stub channels: validation, transform, delivery, receipts."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from adapters import ConfigError, Content, DeliveryContext, Policy, TargetView, get_adapter
from adapters.base import PermanentDeliveryError, RateLimitedError, SystemicDeliveryError, TransientDeliveryError
from adapters.transport import OutboundHttpClient
from tests.support.receiver import Receiver, Reply

CONTENT = Content(id="c1", version="2", title="Title", body="A" * 400, excerpt="Short", url="https://x.example/c1",
                  metadata={"lang": "en"})


def view(channel: str, config: dict, credentials: dict | None = None) -> tuple[TargetView, dict]:
    adapter = get_adapter(channel)
    validated = adapter.validate_config(config, credentials)
    return TargetView("tgt_1", "t", channel, validated.config, validated.credentials), validated.revealed


def delivery(attempt: int = 1) -> DeliveryContext:
    return DeliveryContext("job_abc", attempt, "pln_1", datetime.now(UTC))


@pytest.fixture
def client():  # type: ignore[no-untyped-def]
    outbound = OutboundHttpClient(allowed_networks=["127.0.0.0/8"])
    yield outbound
    outbound.close()


def test_webhook_generates_secret_and_signs_verifiably(receiver: Receiver, client: OutboundHttpClient) -> None:
    target, revealed = view("webhook", {"url": receiver.url + "/w", "headers": {"X-Team": "news"}})
    secret = revealed["signingSecret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret[6:])) == 32
    adapter = get_adapter("webhook")
    outcome = adapter.deliver(adapter.transform(CONTENT, Policy(), target), target, client, delivery())
    [request] = receiver.at("/w")
    payload = Webhook(secret).verify(request.body, request.headers)
    assert payload["type"] == "content.published" and payload["data"]["id"] == "c1"
    assert request.headers["webhook-id"] == "job_abc" and request.headers["X-Team"] == "news"
    assert adapter.normalize_receipt(outcome, delivery()).meta == {"statusCode": 200}


def test_webhook_rejects_bad_secret_and_reserved_headers() -> None:
    with pytest.raises(ConfigError) as err:
        view("webhook", {"url": "https://x.example"}, {"signingSecret": "plain"})
    assert err.value.field == "credentials.signingSecret" and "plain" not in err.value.message
    with pytest.raises(ConfigError) as err:
        view("webhook", {"url": "https://x.example", "headers": {"webhook-id": "x"}})
    assert err.value.field == "config.headers"
    with pytest.raises(ConfigError) as err:
        view("webhook", {"url": "https://x.example", "extra": 1})
    assert err.value.field == "config.extra"


@pytest.mark.parametrize(("policy", "body"), [
    (Policy(), "A" * 400),
    (Policy(excerpt_only=True), "Short"),
    (Policy(max_length=10), "A" * 9 + "…"),
    (Policy(excerpt_only=True, max_length=3), "Sh…"),
])
def test_policy_in_transform(policy: Policy, body: str) -> None:
    target, _ = view("webhook", {"url": "https://x.example"})
    assert get_adapter("webhook").transform(CONTENT, policy, target).body["data"]["body"] == body


def test_http_template_and_bearer(receiver: Receiver, client: OutboundHttpClient) -> None:
    template = {"headline": "{{title}} ({{metadata.lang}})", "text": "{{excerpt}}", "tags": ["{{id}}@{{version}}"]}
    target, _ = view("http", {"url": receiver.url + "/h", "method": "PUT", "bodyTemplate": template},
                     {"bearerToken": "tok-123"})
    adapter = get_adapter("http")
    payload = adapter.transform(CONTENT, Policy(), target)
    assert payload.body == {"headline": "Title (en)", "text": "Short", "tags": ["c1@2"]}
    receiver.script["/h"] = [Reply(200, headers={"X-Message-Id": "m-9"})]
    outcome = adapter.deliver(payload, target, client, delivery())
    [request] = receiver.at("/h")
    assert request.headers["Authorization"] == "Bearer tok-123"
    assert request.headers["Idempotency-Key"] == "job_abc"
    assert request.json() == payload.body
    assert adapter.normalize_receipt(outcome, delivery()).external_id == "m-9"


def test_http_string_template_basic_auth(receiver: Receiver, client: OutboundHttpClient) -> None:
    target, _ = view("http", {"url": receiver.url + "/s", "bodyTemplate": "{{title}}: {{url}}"},
                     {"username": "u", "password": "p"})
    adapter = get_adapter("http")
    payload = adapter.transform(CONTENT, Policy(), target)
    assert (payload.body, payload.content_type) == ("Title: https://x.example/c1", "text/plain; charset=utf-8")
    adapter.deliver(payload, target, client, delivery())
    [request] = receiver.at("/s")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode(b"u:p").decode()
    assert request.body == b"Title: https://x.example/c1"


def test_http_validation_errors() -> None:
    with pytest.raises(ConfigError, match="unknown placeholder"):
        view("http", {"url": "https://x.example", "bodyTemplate": {"a": "{{nope}}"}})
    with pytest.raises(ConfigError, match="username and password"):
        view("http", {"url": "https://x.example"}, {"username": "u"})
    with pytest.raises(ConfigError) as err:
        view("http", {"url": "https://x.example", "method": "DELETE"})
    assert err.value.field == "config.method"


def test_secret_never_in_error_messages(receiver: Receiver, client: OutboundHttpClient) -> None:
    receiver.script["/e"] = [Reply(401, body='{"error": "bad token"}')]
    target, _ = view("http", {"url": receiver.url + "/e"}, {"bearerToken": "tok-leak-check"})
    adapter = get_adapter("http")
    with pytest.raises(SystemicDeliveryError) as err:
        adapter.deliver(adapter.transform(CONTENT, Policy(), target), target, client, delivery())
    assert "tok-leak-check" not in str(err.value) + (err.value.response_excerpt or "")


@pytest.mark.parametrize(("config", "attempt", "expected"), [
    ({}, 1, None),
    ({"failTimes": 2}, 2, TransientDeliveryError),
    ({"failTimes": 2}, 3, None),
    ({"failTimes": 1, "failWith": 400}, 1, PermanentDeliveryError),
    ({"failTimes": 1, "failWith": 401}, 1, SystemicDeliveryError),
    ({"rateLimitTimes": 1, "retryAfterSeconds": 4}, 1, RateLimitedError),
    ({"rateLimitTimes": 1, "timeoutTimes": 1}, 2, TransientDeliveryError),
    ({"rateLimitTimes": 1, "timeoutTimes": 1, "failTimes": 1}, 4, None),
])
def test_stub_scripts(config: dict, attempt: int, expected: type | None) -> None:
    target, _ = view("stub", config)
    adapter = get_adapter("stub")
    payload = adapter.transform(CONTENT, Policy(), target)
    if expected is None:
        outcome = adapter.deliver(payload, target, None, delivery(attempt))  # type: ignore[arg-type]
        assert adapter.normalize_receipt(outcome, delivery(attempt)).external_id == "stub_job_abc"
    else:
        with pytest.raises(expected) as err:
            adapter.deliver(payload, target, None, delivery(attempt))  # type: ignore[arg-type]
        if expected is RateLimitedError:
            assert err.value.retry_after_seconds == 4.0


def test_unknown_channel_lists_the_available_ones() -> None:
    with pytest.raises(ConfigError) as err:
        get_adapter("fax")
    assert err.value.code == "UNKNOWN_CHANNEL"
    assert "webhook, http, stub" in err.value.message

"""The webhook channel: validation, generated secrets, the envelope, Standard Webhooks signatures, receipts."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from adapters import (
    ChannelIO,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    Endpoint,
    HttpResponse,
    PermanentDeliveryError,
    Policy,
    Receipt,
    TargetView,
    WebhookChannel,
)
from adapters.render import http_receipt
from adapters.signing import signature_header
from adapters.webhook import WebhookConfig, WebhookCredentials, live_secrets, sign
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import RecordingHttp, deliver_on
from tests.support.receiver import Receiver, Reply

ADAPTER = WebhookChannel()
View = TargetView[WebhookConfig, WebhookCredentials]
SECRET = "whsec_" + base64.b64encode(bytes(range(32))).decode()
CONTENT = Content(
    id="cnt_1",
    version="3",
    title="Grüße",
    body="A" * 400,
    excerpt="Short",
    url="https://news.example/c1",
    metadata={"lang": "de", "tags": ["a", "b"]},
)


def target(config: dict[str, Any], credentials: dict[str, Any] | None = None) -> tuple[View, dict[str, str]]:
    validated = ADAPTER.validate(config, credentials)
    return TargetView("tgt_1", "hook", "webhook", validated.config, validated.credentials), validated.revealed


def delivery(moment: datetime | None = None) -> DeliveryContext:
    return DeliveryContext("job_abc", 1, "pln_1", moment or datetime.now(UTC))


def test_a_signing_secret_is_generated_and_revealed_once() -> None:
    validated = ADAPTER.validate({"url": "https://hooks.example/in"}, None)
    secret = validated.revealed["signingSecret"]
    assert secret.startswith("whsec_") and len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert validated.credentials == WebhookCredentials(signing_secret=secret)
    assert validated.config == WebhookConfig(url="https://hooks.example/in", headers={})
    assert ADAPTER.validate({"url": "https://hooks.example/in"}, {}).revealed["signingSecret"] != secret


@pytest.mark.parametrize("key", ["signingSecret", "signing_secret"])
def test_a_given_secret_is_kept_and_not_revealed(key: str) -> None:
    validated = ADAPTER.validate({"url": "https://hooks.example/in"}, {key: SECRET})
    assert validated.revealed == {}
    assert validated.credentials == WebhookCredentials(signing_secret=SECRET)
    assert validated.credentials.model_dump(mode="json", by_alias=True) == {
        "signingSecret": SECRET,
        "previousSecrets": [],
    }


@pytest.mark.parametrize(
    "secret",
    [
        "plain-text-secret-value",
        base64.b64encode(bytes(32)).decode(),
        "whsec_" + base64.b64encode(bytes(16)).decode(),
        "whsec_" + base64.b64encode(bytes(65)).decode(),
        "whsec_not*base64*at*all",
        "whsk_" + base64.b64encode(bytes(31)).decode(),
        "whsk_" + base64.b64encode(bytes(64)).decode(),
    ],
)
def test_malformed_secrets_are_refused_without_being_echoed(secret: str) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate({"url": "https://hooks.example/in"}, {"signingSecret": secret})
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", "credentials.signingSecret")
    assert err.value.message == (
        "credentials.signingSecret: must be 'whsec_' followed by base64 of 24 to 64 random bytes "
        "(or 'whsk_' and a base64 32-byte ed25519 seed); omit it to have Herald generate one."
    )
    assert secret not in err.value.message


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        ({}, "config.url", "this field is required"),
        ({"url": "ftp://hooks.example/in"}, "config.url", "must be an absolute http:// or https:// URL"),
        ({"url": "https://u:pa55word@hooks.example/in"}, "config.url", "put secrets in the target's credentials"),
        ({"url": "https://hooks.example", "headers": {"webhook-id": "x"}}, "config.headers", "set by Herald"),
        ({"url": "https://hooks.example", "headers": {"Webhook-Custom": "x"}}, "config.headers", "set by Herald"),
        ({"url": "https://hooks.example", "headers": {"Host": "x"}}, "config.headers", "set by Herald"),
        ({"url": "https://hooks.example", "headers": {"content-length": "1"}}, "config.headers", "set by Herald"),
        (
            {"url": "https://hooks.example", "headers": {"Bad Name": "x"}},
            "config.headers",
            "header name 'Bad Name' is invalid",
        ),
        ({"url": "https://hooks.example", "headers": {"X-A": "a\r\nX-B: b"}}, "config.headers", "printable ASCII"),
        ({"url": "https://hooks.example", "headers": {"X-A": "a\n"}}, "config.headers", "printable ASCII"),
        ({"url": "https://hooks.example", "headers": {"X-A": "1", "x-a": "2"}}, "config.headers", "given twice"),
        (
            {"url": "https://hooks.example", "extra": 1},
            "config.extra",
            "unknown field; the fields are url, headers, allowRedirects, signatureScheme.",
        ),
    ],
)
def test_config_errors_name_the_field_and_the_fix(config: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate(config, None)
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", field)
    assert err.value.message.startswith(f"{field}: ") and fragment in err.value.message
    assert "pa55word" not in err.value.message


def test_the_endpoint_the_ssrf_guard_checks_is_the_url() -> None:
    validated = ADAPTER.validate({"url": " https://hooks.example/in "}, None)
    assert validated.endpoints == (Endpoint("https://hooks.example/in", "config.url"),)


def test_render_renders_the_envelope_without_a_timestamp() -> None:
    view, _ = target({"url": "https://hooks.example/in"})
    payload = ADAPTER.render(CONTENT, Policy(), view)
    assert payload == ChannelPayload(
        body={
            "type": "content.published",
            "data": {
                "id": "cnt_1",
                "version": "3",
                "title": "Grüße",
                "body": "A" * 400,
                "excerpt": "Short",
                "url": "https://news.example/c1",
                "metadata": {"lang": "de", "tags": ["a", "b"]},
            },
        },
        content_type="application/json",
    )
    assert ADAPTER.render(CONTENT, Policy(), view) == payload


@pytest.mark.parametrize(
    ("content", "policy", "body"),
    [
        (CONTENT, Policy(), "A" * 400),
        (CONTENT, Policy(excerpt_only=True), "Short"),
        (CONTENT.model_copy(update={"excerpt": None}), Policy(excerpt_only=True), "A" * 280 + "…"),
        (CONTENT.model_copy(update={"excerpt": None, "body": "B" * 280}), Policy(excerpt_only=True), "B" * 280),
        (CONTENT, Policy(max_length=10), "A" * 9 + "…"),
        (CONTENT, Policy(max_length=400), "A" * 400),
        (CONTENT, Policy(excerpt_only=True, max_length=3), "Sh…"),
        (CONTENT, Policy(max_length=0), ""),
    ],
)
def test_policy_shapes_the_body(content: Content, policy: Policy, body: str) -> None:
    view, _ = target({"url": "https://hooks.example/in"})
    assert ADAPTER.render(content, policy, view).body["data"]["body"] == body


def test_send_posts_the_exact_payload_signed_per_standard_webhooks(receiver: Receiver, client: DeliveryLoop) -> None:
    view, revealed = target({"url": receiver.url + "/w", "headers": {"X-Team": "news"}})
    payload = ADAPTER.render(CONTENT, Policy(), view)
    context = delivery()
    deliver_on(client, ADAPTER, payload, view, context)
    [request] = receiver.at("/w")
    assert request.body == json.dumps(payload.body, separators=(",", ":"), ensure_ascii=False).encode()
    assert Webhook(revealed["signingSecret"]).verify(request.body, request.headers) == payload.body
    assert request.headers["webhook-id"] == "job_abc"
    assert request.headers["webhook-timestamp"] == str(int(context.timestamp.timestamp()))
    assert (request.headers["Content-Type"], request.headers["X-Team"]) == ("application/json", "news")


def test_the_signature_matches_the_reference_implementation() -> None:
    moment = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    body = '{"type":"content.published","data":{"title":"Grüße"}}'
    expected = Webhook(SECRET).sign("job_abc", moment, body)
    assert sign(SECRET, "job_abc", int(moment.timestamp()), body.encode()) == expected


def test_a_tampered_body_or_another_secret_fails_verification(receiver: Receiver, client: DeliveryLoop) -> None:
    view, _ = target({"url": receiver.url + "/w"}, {"signingSecret": SECRET})
    deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), view), view, delivery())
    [request] = receiver.at("/w")
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(request.body.replace(b"Short", b"Shirt"), request.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(bytes(32)).decode()).verify(request.body, request.headers)


def test_timestamps_are_unix_seconds_whatever_the_zone(receiver: Receiver, client: DeliveryLoop) -> None:
    view, _ = target({"url": receiver.url + "/w"}, {"signingSecret": SECRET})
    moment = datetime.now(UTC).replace(microsecond=0)
    zoned = moment.astimezone(timezone(timedelta(hours=5, minutes=30)))
    naive = moment.replace(tzinfo=None)
    for when in (moment, zoned, naive):
        deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), view), view, delivery(when))
    stamps = {request.headers["webhook-timestamp"] for request in receiver.at("/w")}
    assert stamps == {str(int(moment.timestamp()))}


@pytest.mark.parametrize(
    ("reply", "external_id"),
    [
        (Reply(200, headers={"X-Message-Id": "msg-9"}, body='{"id": "other"}'), "msg-9"),
        (Reply(202, headers={"X-Request-Id": "req-7"}), "req-7"),
        (Reply(201, body='{"id": 42}'), "42"),
        (Reply(204, body=""), None),
        (Reply(200, body="accepted"), None),
    ],
)
def test_receipts_name_the_receivers_id(
    reply: Reply, external_id: str | None, receiver: Receiver, client: DeliveryLoop
) -> None:
    receiver.script["/w"] = [reply]
    view, _ = target({"url": receiver.url + "/w"}, {"signingSecret": SECRET})
    context = delivery()
    receipt = deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), view), view, context)
    assert receipt == Receipt(external_id=external_id, meta={"statusCode": reply.status})


def test_receipts_from_a_response_without_network() -> None:
    response = HttpResponse(status_code=200, headers={"x-request-id": "r-1"}, body_excerpt='{"id": "b-1"}')
    assert http_receipt(response) == Receipt("r-1", {"statusCode": 200})


def test_v1a_targets_get_an_ed25519_secret_and_its_public_key(receiver: Receiver, client: DeliveryLoop) -> None:
    view, revealed = target({"url": receiver.url + "/a", "signatureScheme": "v1a"})
    assert revealed["signingSecret"].startswith("whsk_") and revealed["publicKey"].startswith("whpk_")
    deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), view), view, delivery())
    [request] = receiver.at("/a")
    scheme, signature = request.headers["webhook-signature"].split(",", 1)
    signed = f"{request.headers['webhook-id']}.{request.headers['webhook-timestamp']}.".encode() + request.body
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(revealed["publicKey"].removeprefix("whpk_")))
    assert scheme == "v1a"
    assert key.verify(base64.b64decode(signature), signed) is None


def rotated_view(config: dict[str, Any], credentials: dict[str, Any]) -> TargetView:
    validated = ADAPTER.validate(config, credentials)
    return TargetView("tgt_1", "hook", "webhook", validated.config, validated.credentials)


def test_rotation_signs_with_both_secrets_during_the_overlap(receiver: Receiver, client: DeliveryLoop) -> None:
    config = {"url": receiver.url + "/r"}
    view, _ = target(config, {"signingSecret": SECRET})
    until = datetime.now(UTC) + timedelta(hours=24)
    stored, revealed = ADAPTER.rotate_secret(view.config, {"signingSecret": SECRET}, until)
    new = revealed["signingSecret"]
    assert new.startswith("whsec_") and new != SECRET and set(revealed) == {"signingSecret"}
    assert stored == {
        "signingSecret": new,
        "previousSecrets": [{"secret": SECRET, "expiresAt": until.isoformat().replace("+00:00", "Z")}],
    }
    rotated = rotated_view(config, stored)
    deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), rotated), rotated, delivery())
    [request] = receiver.at("/r")
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    for secret in (SECRET, new):
        assert Webhook(secret).verify(request.body, request.headers)["data"]["id"] == "cnt_1"


def test_expired_and_dropped_secrets_stop_signing(receiver: Receiver, client: DeliveryLoop) -> None:
    config = {"url": receiver.url + "/x"}
    view, _ = target(config, {"signingSecret": SECRET})
    expired = {
        "signingSecret": SECRET,
        "previousSecrets": [
            {"secret": "whsec_" + base64.b64encode(bytes(32)).decode(), "expiresAt": "2020-01-01T00:00:00Z"}
        ],
    }
    dropped, revealed = ADAPTER.rotate_secret(view.config, {"signingSecret": SECRET}, datetime.now(UTC))
    assert dropped["previousSecrets"] == []
    for credentials in (expired, dropped):
        rotated = rotated_view(config, credentials)
        deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, Policy(), rotated), rotated, delivery())
    first, second = receiver.at("/x")
    assert " " not in first.headers["webhook-signature"] and " " not in second.headers["webhook-signature"]
    assert Webhook(SECRET).verify(first.body, first.headers)["type"] == "content.published"
    with pytest.raises(WebhookVerificationError):
        Webhook(SECRET).verify(second.body, second.headers)
    assert Webhook(revealed["signingSecret"]).verify(second.body, second.headers)["type"] == "content.published"


def test_rotation_can_switch_to_v1a_while_the_old_hmac_secret_overlaps() -> None:
    view, _ = target({"url": "https://hooks.example/in", "signatureScheme": "v1a"}, {"signingSecret": SECRET})
    stored, revealed = ADAPTER.rotate_secret(
        view.config, {"signingSecret": SECRET}, datetime.now(UTC) + timedelta(hours=1)
    )
    assert revealed["signingSecret"].startswith("whsk_") and revealed["publicKey"].startswith("whpk_")
    rotated = rotated_view({"url": "https://hooks.example/in", "signatureScheme": "v1a"}, stored)
    schemes = [
        signature.split(",")[0]
        for signature in signature_header(live_secrets(rotated.credentials, datetime.now(UTC)), "m", 1, b"{}").split(
            " "
        )
    ]
    assert schemes == ["v1a", "v1"]


@pytest.mark.parametrize(("allow", "reached"), [(False, 0), (True, 1)])
def test_redirects_are_followed_only_when_the_target_allows_them(
    allow: bool, reached: int, receiver: Receiver, client: DeliveryLoop
) -> None:
    receiver.script["/start"] = [Reply(307, headers={"Location": "/final"})]
    view, _ = target({"url": receiver.url + "/start", "allowRedirects": allow}, {"signingSecret": SECRET})
    payload = ADAPTER.render(CONTENT, Policy(), view)
    if allow:
        assert deliver_on(client, ADAPTER, payload, view, delivery()) == Receipt(None, {"statusCode": 200})
    else:
        with pytest.raises(PermanentDeliveryError, match="Redirects are not followed"):
            deliver_on(client, ADAPTER, payload, view, delivery())
    assert len(receiver.at("/final")) == reached


def test_a_retry_of_a_delivery_is_signed_exactly_like_the_first_send(receiver: Receiver, client: DeliveryLoop) -> None:
    view, revealed = target({"url": receiver.url + "/w", "headers": {"X-Team": "news"}})
    payload = ADAPTER.render(CONTENT, Policy(), view)
    context = delivery()
    receipt = deliver_on(client, ADAPTER, payload, view, context)
    deliver_on(client, ADAPTER, payload, view, context)
    first, again = receiver.at("/w")
    assert receipt == Receipt(None, {"statusCode": 200})
    assert Webhook(revealed["signingSecret"]).verify(first.body, first.headers) == payload.body
    assert (first.method, first.body) == (
        "POST",
        json.dumps(payload.body, separators=(",", ":"), ensure_ascii=False).encode(),
    )
    assert (first.headers["webhook-id"], first.headers["X-Team"]) == ("job_abc", "news")
    same = ("webhook-id", "webhook-timestamp", "webhook-signature", "Content-Type", "X-Team", "User-Agent")
    assert {name: first.headers[name] for name in same} == {name: again.headers[name] for name in same}
    assert first.body == again.body


def test_send_asks_channel_io_for_exactly_one_signed_post() -> None:
    view, _ = target({"url": "https://hooks.example/in", "allowRedirects": True}, {"signingSecret": SECRET})
    context = delivery(datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC))
    http = RecordingHttp()
    receipt = asyncio.run(ADAPTER.send(ADAPTER.render(CONTENT, Policy(), view), view, context, ChannelIO(http=http)))
    [(method, url, headers, content, allow_redirects)] = http.sent
    timestamp = int(context.timestamp.timestamp())
    assert (method, url, allow_redirects, receipt) == (
        "POST",
        "https://hooks.example/in",
        True,
        Receipt("m-1", {"statusCode": 200}),
    )
    assert headers == {
        "Content-Type": "application/json",
        "webhook-id": "job_abc",
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(SECRET, "job_abc", timestamp, content),
    }
    assert json.loads(content) == ADAPTER.render(CONTENT, Policy(), view).body


def test_failures_are_classified(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/w"] = [Reply(410, body='{"error": "gone"}')]
    view, _ = target({"url": receiver.url + "/w"}, {"signingSecret": SECRET})
    payload = ADAPTER.render(CONTENT, Policy(), view)
    with pytest.raises(PermanentDeliveryError) as err:
        deliver_on(client, ADAPTER, payload, view, delivery())
    assert (err.value.code, err.value.status_code, err.value.response_excerpt) == ("HTTP_410", 410, '{"error": "gone"}')

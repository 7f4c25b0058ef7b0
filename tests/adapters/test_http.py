"""The http (partner push) channel: templates, methods, auth, validation, and secrets kept out of errors."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters import (
    ChannelIO,
    ChannelPayload,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    Endpoint,
    HttpChannel,
    Policy,
    Receipt,
    SystemicDeliveryError,
    TargetView,
)
from adapters.http import HttpConfig, HttpCredentials
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import RecordingHttp, deliver_on, error_text
from tests.support.receiver import Receiver, Reply

ADAPTER = HttpChannel()
View = TargetView[HttpConfig, HttpCredentials]
CONTENT = Content(
    id="cnt_1",
    version="2",
    title="Title",
    body="A" * 400,
    excerpt="Short",
    url="https://news.example/c1",
    metadata={"lang": "en", "words": 812, "author": {"name": "Ada"}},
)
TOKEN = "tok-very-secret-4242"


def target(config: dict[str, Any], credentials: dict[str, Any] | None = None) -> View:
    validated = ADAPTER.validate(config, credentials)
    assert validated.revealed == {}
    assert validated.endpoints == (Endpoint(validated.config.url, "config.url"),)
    return TargetView("tgt_1", "partner", "http", validated.config, validated.credentials)


def delivery() -> DeliveryContext:
    return DeliveryContext("job_abc", 1, "pln_1", datetime.now(UTC))


def send(view: View, client: DeliveryLoop, policy: Policy | None = None) -> Receipt:
    return deliver_on(client, ADAPTER, ADAPTER.render(CONTENT, policy or Policy(), view), view, delivery())


def test_without_a_template_the_body_is_the_envelope() -> None:
    payload = ADAPTER.render(CONTENT, Policy(excerpt_only=True), target({"url": "https://partner.example/in"}))
    assert payload.content_type == "application/json"
    assert payload.body["type"] == "content.published"
    assert payload.body["data"]["body"] == "Short"


def test_a_json_template_fills_string_leaves_and_keeps_whole_placeholder_types() -> None:
    template = {
        "headline": "{{title}} ({{metadata.lang}})",
        "text": "{{ body }}",
        "tags": ["{{id}}@{{version}}", "{{metadata.words}}"],
        "words": "{{metadata.words}}",
        "by": "{{metadata.author.name}}",
        "missing": "{{metadata.nope}}",
        "fixed": 1,
    }
    payload = ADAPTER.render(
        CONTENT, Policy(max_length=5), target({"url": "https://p.example", "bodyTemplate": template})
    )
    assert payload == ChannelPayload(
        body={
            "headline": "Title (en)",
            "text": "AAAA…",
            "tags": ["cnt_1@2", 812],
            "words": 812,
            "by": "Ada",
            "missing": None,
            "fixed": 1,
        },
        content_type="application/json",
    )


def test_a_text_template_is_sent_as_text() -> None:
    view = target(
        {"url": "https://p.example", "bodyTemplate": "{{title}}: {{url}} {{metadata.words}}{{metadata.nope}}"}
    )
    payload = ADAPTER.render(CONTENT, Policy(), view)
    assert (payload.body, payload.content_type) == ("Title: https://news.example/c1 812", "text/plain; charset=utf-8")


def test_content_type_overrides_the_default() -> None:
    view = target(
        {"url": "https://p.example", "bodyTemplate": "<p>{{title}}</p>", "contentType": "text/html; charset=utf-8"}
    )
    assert ADAPTER.render(CONTENT, Policy(), view).content_type == "text/html; charset=utf-8"


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        (
            {"url": "https://p.example", "bodyTemplate": {"a": ["{{nope}}"]}},
            "config.bodyTemplate",
            "unknown placeholder {{nope}}",
        ),
        (
            {"url": "https://p.example", "bodyTemplate": "{{metadata.}}"},
            "config.bodyTemplate",
            "unknown placeholder {{metadata.}}",
        ),
        ({"url": "https://p.example", "bodyTemplate": "{{}}"}, "config.bodyTemplate", "unknown placeholder {{}}"),
        ({"url": "https://p.example", "method": "DELETE"}, "config.method", "'POST', 'PUT' or 'PATCH'"),
        ({"url": "https://p.example", "contentType": "json"}, "config.contentType", "must be a media type"),
        (
            {"url": "https://p.example", "contentType": "text/plain\n; x=1"},
            "config.contentType",
            "must be a media type",
        ),
        ({"url": "https://p.example", "headers": {"Idempotency-Key": "x"}}, "config.headers", "set by Herald"),
        ({"url": "https://p.example", "headers": {"Content-Type": "x/y"}}, "config.headers", "set by Herald"),
        ({"url": "mailto:x@p.example"}, "config.url", "absolute http:// or https:// URL"),
    ],
)
def test_config_errors(config: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate(config, None)
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", field)
    assert fragment in err.value.message


def test_method_is_case_insensitive() -> None:
    assert target({"url": "https://p.example", "method": "patch"}).config.method == "PATCH"


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_bearer_auth_and_method(method: str, receiver: Receiver, client: DeliveryLoop) -> None:
    view = target({"url": receiver.url + "/h", "method": method, "headers": {"X-Team": "news"}}, {"bearerToken": TOKEN})
    send(view, client)
    [request] = receiver.at("/h")
    assert request.method == method
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert (request.headers["X-Team"], request.headers["Idempotency-Key"]) == ("news", "job_abc")
    assert request.json()["data"]["id"] == "cnt_1"


def test_basic_auth_and_a_text_body(receiver: Receiver, client: DeliveryLoop) -> None:
    view = target(
        {"url": receiver.url + "/s", "bodyTemplate": "{{title}}"}, {"username": "üser", "password": "p:ss wörd"}
    )
    send(view, client)
    [request] = receiver.at("/s")
    assert request.headers["Authorization"] == "Basic " + base64.b64encode("üser:p:ss wörd".encode()).decode()
    assert (request.body, request.headers["Content-Type"]) == (b"Title", "text/plain; charset=utf-8")


def test_secret_headers_from_credentials(receiver: Receiver, client: DeliveryLoop) -> None:
    view = target(
        {"url": receiver.url + "/k", "headers": {"X-Team": "news"}}, {"headers": {"X-Api-Key": "key-4242-secret"}}
    )
    send(view, client)
    [request] = receiver.at("/k")
    assert (request.headers["X-Api-Key"], request.headers["X-Team"]) == ("key-4242-secret", "news")
    assert "Authorization" not in request.headers


def test_no_credentials_means_none() -> None:
    assert ADAPTER.validate({"url": "https://p.example"}, {}).credentials is None
    assert ADAPTER.validate({"url": "https://p.example"}, None).credentials is None


@pytest.mark.parametrize(
    ("credentials", "field", "fragment"),
    [
        ({"username": "u"}, "credentials", "needs both username and password"),
        ({"username": "a:b", "password": "p"}, "credentials", "cannot contain ':'"),
        ({"bearerToken": TOKEN, "username": "u", "password": "p"}, "credentials", "not both"),
        (
            {"bearerToken": TOKEN, "headers": {"authorization": "x"}},
            "credentials",
            "Authorization header cannot be combined",
        ),
        ({"bearerToken": f"Bearer {TOKEN}"}, "credentials.bearerToken", "without the 'Bearer ' prefix"),
        ({"bearerToken": f"{TOKEN}\r\n"}, "credentials.bearerToken", "non-empty token"),
        ({"bearerToken": f"{TOKEN}\n"}, "credentials.bearerToken", "non-empty token"),
        ({"bearerToken": ""}, "credentials.bearerToken", "non-empty token"),
        ({"password": f"{TOKEN}\n", "username": "u"}, "credentials.password", "control characters"),
        ({"headers": {"X-Api-Key": f"{TOKEN}\r\nX: y"}}, "credentials.headers", "printable ASCII"),
        ({"headers": {"X-Api-Key": f"{TOKEN}\n"}}, "credentials.headers", "printable ASCII"),
        ({"headers": {"X-Team": TOKEN}}, "credentials.headers", "also in config.headers"),
        (
            {"apiKey": TOKEN},
            "credentials.apiKey",
            "unknown field; the fields are bearerToken, username, password, headers",
        ),
    ],
)
def test_credential_errors_never_quote_the_secret(credentials: dict[str, Any], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate({"url": "https://p.example", "headers": {"X-Team": "news"}}, credentials)
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", field)
    assert fragment in err.value.message
    assert TOKEN not in error_text(err.value)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422, 429, 500, 503])
def test_delivery_errors_never_carry_credentials(status: int, receiver: Receiver, client: DeliveryLoop) -> None:
    echo = f'{{"error": "rejected Authorization: Bearer {TOKEN}", "key": "key-4242-secret"}}'
    receiver.script["/e"] = [Reply(status, body=echo)]
    view = target({"url": receiver.url + "/e"}, {"bearerToken": TOKEN, "headers": {"X-Api-Key": "key-4242-secret"}})
    with pytest.raises(DeliveryError) as err:
        send(view, client)
    assert err.value.status_code == status
    assert TOKEN not in error_text(err.value) and "key-4242-secret" not in error_text(err.value)
    assert err.value.response_excerpt == '{"error": "rejected Authorization: [redacted]", "key": "[redacted]"}'


def test_a_401_is_systemic(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/e"] = [Reply(401, body='{"error": "bad token"}')]
    with pytest.raises(SystemicDeliveryError):
        send(target({"url": receiver.url + "/e"}, {"bearerToken": TOKEN}), client)


def test_receipts_share_the_webhook_rules(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/r"] = [Reply(201, headers={"X-Message-Id": "m-9"})]
    assert send(target({"url": receiver.url + "/r"}), client) == Receipt("m-9", {"statusCode": 201})


@pytest.mark.parametrize(("allow", "reached"), [(False, 0), (True, 1)])
def test_redirects_are_followed_only_when_the_target_allows_them(
    allow: bool, reached: int, receiver: Receiver, client: DeliveryLoop
) -> None:
    receiver.script["/start"] = [Reply(308, headers={"Location": "/final"})]
    view = target({"url": receiver.url + "/start", "method": "PUT", "allowRedirects": allow}, {"bearerToken": TOKEN})
    if allow:
        assert send(view, client) == Receipt(None, {"statusCode": 200})
        [final] = receiver.at("/final")
        assert (final.method, final.headers["Authorization"]) == ("PUT", f"Bearer {TOKEN}")
    else:
        with pytest.raises(DeliveryError, match="Redirects are not followed"):
            send(view, client)
    assert len(receiver.at("/final")) == reached


def test_a_retry_sends_the_same_request_with_the_same_idempotency_key(receiver: Receiver, client: DeliveryLoop) -> None:
    view = target(
        {"url": receiver.url + "/p", "method": "PUT", "bodyTemplate": "{{title}}"},
        {"username": "ada", "password": "pa55-word"},
    )
    payload = ADAPTER.render(CONTENT, Policy(), view)
    context = delivery()
    receipt = deliver_on(client, ADAPTER, payload, view, context)
    deliver_on(client, ADAPTER, payload, view, context)
    first, again = receiver.at("/p")
    assert receipt == Receipt(None, {"statusCode": 200})
    assert (first.method, first.body) == ("PUT", b"Title")
    assert first.headers["Authorization"] == "Basic " + base64.b64encode(b"ada:pa55-word").decode()
    assert (first.headers["Idempotency-Key"], first.headers["Content-Type"]) == (
        "job_abc",
        "text/plain; charset=utf-8",
    )
    assert {k: v for k, v in first.headers.items() if k != "Host"} == {
        k: v for k, v in again.headers.items() if k != "Host"
    }


def test_the_outbound_request_carries_auth_and_the_idempotency_key() -> None:
    view = target(
        {"url": "https://p.example/in", "method": "PATCH", "headers": {"X-Team": "news"}}, {"bearerToken": TOKEN}
    )
    payload = ADAPTER.render(CONTENT, Policy(), view)
    http = RecordingHttp()
    context = DeliveryContext("job_abc", 2, "pln_1", datetime.now(UTC))
    assert asyncio.run(ADAPTER.send(payload, view, context, ChannelIO(http=http))) == Receipt(
        "m-1", {"statusCode": 200}
    )
    [(method, url, headers, content, allow_redirects)] = http.sent
    assert (method, url, allow_redirects) == ("PATCH", "https://p.example/in", False)
    assert headers == {
        "X-Team": "news",
        "Authorization": f"Bearer {TOKEN}",
        "Content-Type": "application/json",
        "Idempotency-Key": "job_abc",
    }
    assert json.loads(content) == payload.body

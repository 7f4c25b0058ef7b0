"""The hardened client: SSRF guard, pinning, classification, rate-limit signals."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest

from adapters import netguard
from adapters.base import (
    ConfigError,
    PermanentDeliveryError,
    RateLimitedError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.transport import OutboundHttpClient, classify_response, parse_retry_after
from tests.support.receiver import Receiver, Reply

NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)

CLASSES = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("fd00::1", "unique-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("93.184.216.34", None),
    ("2606:4700::1111", None),
]


@pytest.mark.parametrize(("address", "kind"), CLASSES)
def test_address_classes(address: str, kind: str | None) -> None:
    assert netguard.address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize(("address", "kind"), [c for c in CLASSES if c[1]])
def test_names_resolving_to_forbidden_addresses_are_refused(address: str, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netguard, "resolve", lambda host, port: [ipaddress.ip_address(address)])
    with pytest.raises(ConfigError) as err:
        netguard.check_url("https://partner.example/hook", [])
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert f"a {kind} address" in err.value.message and "partner.example" in err.value.message
    client = OutboundHttpClient(allowed_networks=[])
    monkeypatch.setattr("adapters.transport.resolve", lambda host, port: [ipaddress.ip_address(address)])
    with pytest.raises(PermanentDeliveryError) as sent:
        client.send("POST", "https://partner.example/hook", headers={}, content=b"{}")
    assert sent.value.code == "TARGET_ADDRESS_FORBIDDEN"


def test_any_forbidden_address_in_the_answer_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    answer = [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.1")]
    monkeypatch.setattr(netguard, "resolve", lambda host, port: answer)
    with pytest.raises(ConfigError, match="private"):
        netguard.check_url("http://mixed.example/", [])


def test_allowed_networks_open_a_range() -> None:
    netguard.check_url("http://127.0.0.1:8080/x", ["127.0.0.0/8"])
    with pytest.raises(ConfigError):
        netguard.check_url("http://127.0.0.1:8080/x", ["10.0.0.0/8"])


@pytest.mark.parametrize("url", ["ftp://x.example/", "not a url", "http:///nohost", "http://x.example:99999/"])
def test_malformed_urls(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        netguard.check_url(url, [])
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", "config.url")


def test_connects_to_the_checked_address_with_original_host(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    port = receiver.url.rsplit(":", 1)[1]
    monkeypatch.setattr("adapters.transport.resolve", lambda host, p: [ipaddress.ip_address("127.0.0.1")])
    client = OutboundHttpClient(allowed_networks=["127.0.0.0/8"])
    outcome = client.send("POST", f"http://partner.example:{port}/in", headers={"X-A": "1"}, content=b"{}")
    [request] = receiver.at("/in")
    assert outcome.status_code == 200
    assert request.headers["Host"] == f"partner.example:{port}"
    assert request.headers["User-Agent"].startswith("Herald/")
    client.close()


def test_redirects_are_not_followed(receiver: Receiver) -> None:
    receiver.script["/r"] = [Reply(302, headers={"Location": "http://10.0.0.1/"})]
    client = OutboundHttpClient(allowed_networks=["127.0.0.0/8"])
    with pytest.raises(PermanentDeliveryError, match="Redirects are not followed"):
        client.send("POST", receiver.url + "/r", headers={}, content=b"")
    with pytest.raises(PermanentDeliveryError) as hop:
        client.send("POST", receiver.url + "/r", headers={}, content=b"", allow_redirects=True)
    assert hop.value.code == "TARGET_ADDRESS_FORBIDDEN"
    client.close()


def test_connection_refused_and_timeouts_are_transient() -> None:
    client = OutboundHttpClient(allowed_networks=["127.0.0.0/8"], timeout_seconds=0.5)
    with pytest.raises(TransientDeliveryError) as err:
        client.send("POST", "http://127.0.0.1:9/", headers={}, content=b"")
    assert err.value.code == "CONNECTION_ERROR"
    client.close()


def test_unresolvable_host_is_systemic() -> None:
    client = OutboundHttpClient(allowed_networks=[])
    with pytest.raises(SystemicDeliveryError) as err:
        client.send("POST", "http://does-not-exist.invalid/", headers={}, content=b"")
    assert err.value.code == "DNS_FAILURE"
    client.close()


@pytest.mark.parametrize(
    ("status", "error"),
    [(408, TransientDeliveryError), (500, TransientDeliveryError), (503, TransientDeliveryError),
     (429, RateLimitedError), (401, SystemicDeliveryError), (403, SystemicDeliveryError),
     (400, PermanentDeliveryError), (404, PermanentDeliveryError), (410, PermanentDeliveryError),
     (422, PermanentDeliveryError), (301, PermanentDeliveryError)],
)
def test_classification(status: int, error: type) -> None:
    with pytest.raises(error) as raised:
        classify_response(status, {}, "x" * 2000)
    assert raised.value.status_code == status
    assert len(raised.value.response_excerpt) == 512


def test_success_keeps_only_safe_headers() -> None:
    outcome = classify_response(201, {"X-Request-Id": "r1", "Set-Cookie": "s"}, '{"id": 1}')
    assert outcome.headers == {"x-request-id": "r1"}


@pytest.mark.parametrize(
    ("headers", "body", "seconds"),
    [
        ({"Retry-After": "120"}, None, 120.0),
        ({"retry-after": "Tue, 24 Nov 2026 12:01:30 GMT"}, None, 90.0),
        ({"X-RateLimit-Reset": str(int(NOW.timestamp()) + 45)}, None, 45.0),
        ({"X-RateLimit-Reset": "30"}, None, 30.0),
        ({"RateLimit-Reset": "12"}, None, 12.0),
        ({"RateLimit": 'limit=100, remaining=0, reset=7'}, None, 7.0),
        ({}, '{"retry_after": 3.5}', 3.5),
        ({}, '{"error": {"retry_after": 9}}', 9.0),
        ({"Retry-After": "Tue, 24 Nov 2026 11:00:00 GMT"}, None, 0.0),
        ({}, "not json", None),
        ({}, None, None),
    ],
)
def test_rate_limit_signals(headers: dict, body: str | None, seconds: float | None) -> None:
    assert parse_retry_after(headers, body, now=NOW) == seconds


def test_429_and_503_carry_the_provider_hint() -> None:
    with pytest.raises(RateLimitedError) as limited:
        classify_response(429, {"Retry-After": "5"}, "")
    assert limited.value.retry_after_seconds == 5.0
    with pytest.raises(TransientDeliveryError) as unavailable:
        classify_response(503, {"Retry-After": "7"}, "")
    assert unavailable.value.retry_after_seconds == 7.0


def test_redirects_followed_only_when_allowed_and_each_hop_checked(receiver: Receiver) -> None:
    receiver.script["/start"] = [Reply(307, headers={"Location": "/final"})]
    client = OutboundHttpClient(allowed_networks=["127.0.0.0/8"])
    outcome = client.send("POST", receiver.url + "/start", headers={}, content=b"{}", allow_redirects=True)
    assert outcome.status_code == 200 and len(receiver.at("/final")) == 1
    client.close()

"""The SSRF guard at create time: address classes, names, allowed networks, malformed URLs."""

from __future__ import annotations

import ipaddress

import pytest

from adapters import ConfigError
from adapters.http_client import check_url
from adapters.http_client.netguard import address_class, split_url
from tests.adapters.support import fake_dns

FORBIDDEN = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.3.4", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("2001:db8::1", "reserved"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "link-local"),
    ("::ffff:100.64.0.1", "carrier-grade NAT"),
    ("::ffff:0.0.0.0", "unspecified"),
    ("64:ff9b::a9fe:a9fe", "link-local"),
    ("2002:7f00:1::", "loopback"),
]
PUBLIC = [
    "93.184.216.34",
    "8.8.8.8",
    "172.32.0.1",
    "100.128.0.1",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_address_classes(address: str, kind: str) -> None:
    assert address_class(ipaddress.ip_address(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_have_no_class(address: str) -> None:
    assert address_class(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_literal_ip_urls_are_refused(address: str, kind: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(ConfigError) as err:
        check_url(f"https://{host}:8443/hook", [])
    assert (err.value.code, err.value.field) == ("TARGET_ADDRESS_FORBIDDEN", "config.url")
    assert f"a {kind} address" in err.value.message
    assert "HERALD_ALLOWED_NETWORKS" in err.value.message


@pytest.mark.parametrize(("address", "kind"), FORBIDDEN)
def test_names_resolving_to_forbidden_addresses_are_refused(
    address: str, kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"partner.example": [address]})
    with pytest.raises(ConfigError) as err:
        check_url("https://partner.example/hook", [])
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert err.value.message.startswith(
        f"partner.example resolves to {ipaddress.ip_address(address)}, a {kind} address;"
    )


def test_localhost_is_refused_by_its_real_resolution() -> None:
    with pytest.raises(ConfigError) as err:
        check_url("http://localhost:8080/x", [])
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert "localhost resolves to" in err.value.message and "loopback" in err.value.message


def test_one_forbidden_address_among_public_ones_refuses(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mixed.example": ["93.184.216.34", "2606:4700::1111", "10.0.0.1"]})
    with pytest.raises(ConfigError, match="resolves to 10.0.0.1, a private address"):
        check_url("http://mixed.example/", [])


def test_public_names_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"hooks.example": ["93.184.216.34", "2606:4700::1111"]})
    assert check_url("https://hooks.example/in", []) is None


def test_allowed_networks_open_exactly_their_range() -> None:
    assert check_url("http://127.0.0.1:8080/x", ["127.0.0.0/8"]) is None
    assert check_url("http://[::ffff:127.0.0.1]:8080/x", ["127.0.0.0/8"]) is None
    assert check_url("http://10.1.2.3/x", ["10.1.2.0/24", "127.0.0.0/8"]) is None
    with pytest.raises(ConfigError, match="10.1.3.3 is a private address"):
        check_url("http://10.1.3.3/x", ["10.1.2.0/24"])
    with pytest.raises(ConfigError, match="a loopback address"):
        check_url("http://[::1]/x", ["127.0.0.0/8"])


def test_localhost_opens_when_both_loopbacks_are_allowed() -> None:
    assert check_url("http://localhost:8080/x", ["127.0.0.0/8", "::1/128"]) is None


@pytest.mark.parametrize(
    "url",
    [
        "ftp://x.example/",
        "file:///etc/passwd",
        "gopher://x.example/",
        "not a url",
        "//x.example/a",
        "http:///nohost",
        "http://x.example:99999/",
        "http://x.example:port/",
        "https://user:pass@x.example/",
        "http://[::1",
    ],
)
def test_malformed_urls_are_validation_errors(url: str) -> None:
    with pytest.raises(ConfigError) as err:
        check_url(url, [])
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", "config.url")


def test_a_name_that_does_not_resolve_is_a_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"gone.example": None})
    with pytest.raises(ConfigError) as err:
        check_url("https://gone.example/x", [])
    assert (err.value.code, err.value.field) == ("VALIDATION_ERROR", "config.url")
    assert "'gone.example' does not resolve" in err.value.message


def test_split_url_normalises_host_and_port() -> None:
    destination = split_url(" https://Bücher.Example:8443/x?y=1 ")
    assert (destination.scheme, destination.host, destination.port) == ("https", "xn--bcher-kva.example", 8443)
    assert destination.authority == "xn--bcher-kva.example:8443"
    assert split_url("http://[2606:4700::1111]/x").authority == "[2606:4700::1111]"
    assert split_url("http://x.example/").port == 80


def test_endpoints_of_any_scheme_are_checked_by_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mail.example": ["93.184.216.34"], "inner.example": ["10.0.0.7"]})
    check_url("smtp://mail.example:587", [])  # passes: a public address
    check_url("smtps://mail.example", [])
    with pytest.raises(ConfigError) as err:
        check_url("smtp://inner.example:25", [], field="config.host")
    assert (err.value.code, err.value.field) == ("TARGET_ADDRESS_FORBIDDEN", "config.host")
    assert err.value.message.startswith("inner.example resolves to 10.0.0.7, a private address;")
    with pytest.raises(ConfigError) as err:
        check_url("smtp://", [], field="config.host")
    assert (err.value.code, err.value.field, err.value.message) == (
        "VALIDATION_ERROR",
        "config.host",
        "Endpoint 'smtp://' needs a host and a port.",
    )

"""AsyncOutboundClient driven directly in an event loop: guard, redirects, deadline, TLS, pooling, failures."""

from __future__ import annotations

import asyncio
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from adapters import (
    DeliveryError,
    HttpResponse,
    PermanentDeliveryError,
    SystemicDeliveryError,
    TransientDeliveryError,
)
from adapters.http_client import AsyncOutboundClient
from tests.adapters.support import LOOPBACK, error_text, fake_dns, make_ca, rebinding_dns, run_async
from tests.support.receiver import RawReceiver, Receiver, Reply

BODY = b'{"a":1}'


async def post(
    client: AsyncOutboundClient, url: str, headers: dict[str, str] | None = None, **kwargs: Any
) -> HttpResponse:
    return await client.send("POST", url, headers=headers or {}, content=BODY, **kwargs)


def post_once(
    url: str, headers: dict[str, str] | None = None, allowed: list[str] | None = None, **options: Any
) -> HttpResponse:
    return run_async(lambda client: post(client, url, headers), allowed, **options)


def test_sends_the_exact_request_with_only_our_transport_headers(receiver: Receiver) -> None:
    outcome = post_once(receiver.url + "/in", {"X-Team": "news", "User-Agent": "curl/8", "Accept-Encoding": "gzip"})
    [request] = receiver.at("/in")
    assert (request.method, request.body, outcome) == ("POST", BODY, HttpResponse(200, {}, '{"ok": true}'))
    assert request.headers == {
        "Host": f"127.0.0.1:{receiver.port}",
        "X-Team": "news",
        "User-Agent": "Herald/0.1.0",
        "Accept-Encoding": "identity",
        "Accept": "*/*",
        "Content-Length": str(len(BODY)),
    }


def test_the_client_is_built_without_a_loop_and_binds_to_the_loop_that_first_sends(receiver: Receiver) -> None:
    client = AsyncOutboundClient(LOOPBACK, version="2.3.4")
    first_loop = asyncio.new_event_loop()
    assert first_loop.run_until_complete(post(client, receiver.url + "/v")).status_code == 200
    with pytest.raises(RuntimeError, match="create one per loop"):
        asyncio.run(post(client, receiver.url + "/v"))
    first_loop.run_until_complete(client.aclose())
    with pytest.raises(RuntimeError, match="is closed"):
        first_loop.run_until_complete(post(client, receiver.url + "/v"))
    first_loop.close()
    assert [request.headers["User-Agent"] for request in receiver.at("/v")] == ["Herald/2.3.4"]


def test_forbidden_literal_addresses_are_refused_before_any_connection() -> None:
    sink = RawReceiver(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(PermanentDeliveryError) as err:
        post_once(sink.url + "/in", allowed=[])
    sink.stop()
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert err.value.message.startswith(
        "127.0.0.1 is a loopback address; Herald does not deliver to loopback addresses"
    )
    assert sink.connections == 0


def test_forbidden_names_are_refused_by_the_resolver_before_any_connection(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"partner.example": ["10.0.0.1"], "mixed.example": ["127.0.0.1", "169.254.169.254"]})
    for host, fragment in (
        ("partner.example", "resolves to 10.0.0.1, a private address"),
        ("mixed.example", "a link-local address"),
    ):
        with pytest.raises(PermanentDeliveryError) as err:
            post_once(f"http://{host}:{receiver.port}/in")
        assert (err.value.code, err.value.error_class) == ("TARGET_ADDRESS_FORBIDDEN", "permanent")
        assert fragment in err.value.message
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("host", "code", "message"),
    [
        ("[::1]", "TARGET_ADDRESS_FORBIDDEN", "::1 is a loopback address;"),
        ("[::ffff:169.254.169.254]", "TARGET_ADDRESS_FORBIDDEN", "::ffff:a9fe:a9fe is a link-local address;"),
        ("[64:ff9b::a9fe:a9fe]", "TARGET_ADDRESS_FORBIDDEN", "64:ff9b::a9fe:a9fe is a link-local address;"),
        ("0x7f.0.0.1", "TARGET_ADDRESS_FORBIDDEN", "0x7f.0.0.1 resolves to 127.0.0.1, a loopback address;"),
        ("2130706433", "INVALID_URL", "The URL's host 2130706433 is not a valid IP address or name."),
        ("127.1", "INVALID_URL", "The URL's host 127.1 is not a valid IP address or name."),
        ("0177.0.0.1", "INVALID_URL", "The URL's host 0177.0.0.1 is not a valid IP address or name."),
    ],
)
def test_every_spelling_of_an_address_is_checked_before_any_connection(host: str, code: str, message: str) -> None:
    sink = RawReceiver(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    port = sink.url.rsplit(":", 1)[1]
    with pytest.raises(PermanentDeliveryError) as err:
        post_once(f"http://{host}:{port}/in", allowed=[])
    sink.stop()
    assert (err.value.code, err.value.message[: len(message)]) == (code, message)
    assert sink.connections == 0


def test_a_name_is_resolved_once_and_every_socket_goes_to_the_checked_address(
    receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = rebinding_dns(monkeypatch)

    async def three_at_once(client: AsyncOutboundClient) -> list[HttpResponse]:
        url = f"http://partner.example:{receiver.port}/in"
        return list(await asyncio.gather(*(post(client, url) for _ in range(3))))

    assert [outcome.status_code for outcome in run_async(three_at_once)] == [200, 200, 200]
    assert lookups == ["partner.example"]
    assert {request.headers["Host"] for request in receiver.at("/in")} == {f"partner.example:{receiver.port}"}


def test_dns_failure_is_systemic(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"gone.example": None})
    with pytest.raises(SystemicDeliveryError) as err:
        post_once("https://gone.example/in")
    assert (err.value.code, err.value.message) == (
        "DNS_FAILURE",
        "Host gone.example does not resolve; check the target's URL.",
    )


def test_every_redirect_hop_is_checked_before_it_is_sent(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"inner.example": ["10.1.2.3"]})
    receiver.script["/meta"] = [Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})]
    receiver.script["/inner"] = [Reply(307, headers={"Location": f"http://inner.example:{receiver.port}/final"})]
    for path, fragment in (
        ("/meta", "169.254.169.254 is a link-local address"),
        ("/inner", "inner.example resolves to 10.1.2.3"),
    ):
        with pytest.raises(PermanentDeliveryError) as err:
            run_async(lambda client, path=path: post(client, receiver.url + path, allow_redirects=True))
        assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
        assert fragment in err.value.message
    assert [request.path for request in receiver.requests] == ["/meta", "/inner"]


def test_redirects_are_followed_only_when_allowed_and_at_most_five_times(receiver: Receiver) -> None:
    receiver.script["/r"] = [Reply(308, headers={"Location": "/final"})]
    receiver.script["/loop"] = [Reply(302, headers={"Location": "/loop"})]
    with pytest.raises(PermanentDeliveryError) as refused:
        post_once(receiver.url + "/r")
    followed = run_async(lambda client: post(client, receiver.url + "/r", allow_redirects=True))
    with pytest.raises(PermanentDeliveryError) as looping:
        run_async(lambda client: post(client, receiver.url + "/loop", allow_redirects=True))
    assert (refused.value.code, followed.status_code, looping.value.code) == ("HTTP_308", 200, "TOO_MANY_REDIRECTS")
    [final] = receiver.at("/final")
    assert (final.method, final.body) == ("POST", BODY)
    assert (len(receiver.at("/r")), len(receiver.at("/loop"))) == (2, 6)


def test_the_deadline_covers_a_slow_answer(receiver: Receiver) -> None:
    receiver.script["/slow"] = [Reply(delay_seconds=1.0)]
    with pytest.raises(TransientDeliveryError) as err:
        post_once(receiver.url + "/slow", timeout_seconds=0.2)
    assert (err.value.code, err.value.message) == ("TIMEOUT", "Timed out talking to 127.0.0.1.")


def test_the_deadline_covers_a_dripping_body(receiver: Receiver) -> None:
    receiver.script["/drip"] = [Reply(body="x" * 200, drip_seconds=0.05)]
    with pytest.raises(TransientDeliveryError) as err:
        post_once(receiver.url + "/drip", timeout_seconds=0.3)
    assert err.value.code == "TIMEOUT"


def test_the_deadline_covers_a_hanging_name_lookup(monkeypatch: pytest.MonkeyPatch) -> None:
    release, real = threading.Event(), socket.getaddrinfo

    def hanging(host: str, *args: Any, **kwargs: Any) -> list[Any]:
        if host == "slow.example":
            release.wait(10)
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", hanging)

    async def send(client: AsyncOutboundClient) -> HttpResponse:
        try:
            return await post(client, "http://slow.example:9/in")
        finally:
            release.set()

    with pytest.raises(TransientDeliveryError) as err:
        run_async(send, timeout_seconds=0.2)
    assert (err.value.code, err.value.message) == ("TIMEOUT", "Timed out talking to slow.example.")


def test_a_huge_answer_is_read_only_up_to_the_cap(receiver: Receiver) -> None:
    receiver.script["/huge"] = [Reply(body="y" * 100_000, declared_length=50_000_000, hold_seconds=3)]
    outcome = post_once(receiver.url + "/huge", timeout_seconds=2)
    assert (outcome.status_code, outcome.body_excerpt) == (200, "y" * 512)


def test_connections_are_kept_alive_and_reused(receiver: Receiver) -> None:
    async def one_after_another(client: AsyncOutboundClient) -> None:
        for _ in range(3):
            await post(client, receiver.url + "/k")

    run_async(one_after_another)
    assert len({request.client_port for request in receiver.at("/k")}) == 1


def test_concurrent_sends_to_one_host_share_the_pool(receiver: Receiver) -> None:
    receiver.script["/c"] = [Reply(delay_seconds=0.3)]

    async def twice_in_parallel(client: AsyncOutboundClient) -> list[HttpResponse]:
        first = await asyncio.gather(*(post(client, receiver.url + "/c") for _ in range(5)))
        second = await asyncio.gather(*(post(client, receiver.url + "/c") for _ in range(5)))
        return [*first, *second]

    assert [outcome.status_code for outcome in run_async(twice_in_parallel)] == [200] * 10
    ports = [request.client_port for request in receiver.at("/c")]
    assert len(set(ports[:5])) == 5 and set(ports[5:]) == set(ports[:5])


def test_tls_uses_the_host_name_for_sni_verification_and_host(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca(tmp_path, ["hooks.partner.test"])
    sink = Receiver(tls=ca.server_context())
    fake_dns(monkeypatch, {"hooks.partner.test": ["127.0.0.1"]})
    url = f"https://hooks.partner.test:{sink.port}/in"
    outcome = run_async(lambda client: post(client, url), ssl_context=ca.client_context())
    sink.stop()
    assert outcome.status_code == 200
    assert sink.server_names == ["hooks.partner.test"]
    assert sink.at("/in")[0].headers["Host"] == f"hooks.partner.test:{sink.port}"


def test_a_tls_connection_is_never_reused_for_another_name_on_the_same_ip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_ca(tmp_path, ["a.partner.test"])
    sink = Receiver(tls=ca.server_context())
    fake_dns(monkeypatch, {"a.partner.test": ["127.0.0.1"], "b.partner.test": ["127.0.0.1"]})

    async def a_then_b(client: AsyncOutboundClient) -> DeliveryError:
        assert (await post(client, f"https://a.partner.test:{sink.port}/a")).status_code == 200
        with pytest.raises(SystemicDeliveryError) as err:
            await post(client, f"https://b.partner.test:{sink.port}/b")
        return err.value

    error = run_async(a_then_b, ssl_context=ca.client_context())
    sink.stop()
    assert error.code == "TLS_ERROR" and "certificate" in error.message
    assert sink.server_names == ["a.partner.test", "b.partner.test"]
    assert sink.at("/b") == []


def test_an_untrusted_certificate_is_a_systemic_tls_error(tmp_path: Path) -> None:
    sink = Receiver(tls=make_ca(tmp_path, ["hooks.partner.test"]).server_context())
    with pytest.raises(SystemicDeliveryError) as err:
        post_once(f"https://127.0.0.1:{sink.port}/in")
    sink.stop()
    assert err.value.code == "TLS_ERROR"
    assert (
        err.value.message
        == "TLS with 127.0.0.1 failed (unable to get local issuer certificate); check the receiver's certificate."
    )
    assert sink.requests == []


def test_receivers_cookies_are_never_sent_back(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"cookies.example": ["127.0.0.1"]})  # aiohttp's jar would ignore cookies from an IP
    receiver.script["/c"] = [Reply(headers={"Set-Cookie": "session=abc123; Path=/"})]
    url = f"http://cookies.example:{receiver.port}/c"

    async def twice(client: AsyncOutboundClient) -> None:
        await post(client, url)
        await post(client, url)

    run_async(twice)
    assert ["Cookie" in request.headers for request in receiver.at("/c")] == [False, False]


def test_no_content_type_is_invented_and_a_303_turns_into_a_bare_get(receiver: Receiver) -> None:
    receiver.script["/r"] = [Reply(303, headers={"Location": "/got"})]
    run_async(
        lambda client: post(client, receiver.url + "/r", {"Content-Type": "application/json"}, allow_redirects=True)
    )
    post_once(receiver.url + "/plain")
    [first], [got], [plain] = receiver.at("/r"), receiver.at("/got"), receiver.at("/plain")
    assert first.headers["Content-Type"] == "application/json"
    assert (got.method, got.body, "Content-Type" in got.headers, "Content-Length" in got.headers) == (
        "GET",
        b"",
        False,
        False,
    )
    assert "Content-Type" not in plain.headers


def test_secrets_echoed_back_are_redacted(receiver: Receiver) -> None:
    receiver.script["/e"] = [Reply(403, body='{"error": "bad key key-123456, token tok-abcdef"}')]
    with pytest.raises(SystemicDeliveryError) as err:
        post_once(receiver.url + "/e", {"X-Api-Key": "key-123456", "Authorization": "Bearer tok-abcdef"})
    assert err.value.response_excerpt == '{"error": "bad key [redacted], token [redacted]"}'


def test_answer_headers_are_lower_cased_and_repeated_ones_joined(receiver: Receiver) -> None:
    receiver.script["/h"] = [
        Reply(201, headers={"X-Request-Id": "r-1", "x-request-id": "r-2", "Content-Type": "text/plain"})
    ]
    outcome = post_once(receiver.url + "/h")
    assert outcome == HttpResponse(201, {"x-request-id": "r-1, r-2", "content-type": "text/plain"}, '{"ok": true}')


@pytest.mark.parametrize("value", ["tok-1\r\nX-Injected: 1", "tök-secret"])
def test_unsendable_header_values_are_permanent_and_never_quoted(value: str, receiver: Receiver) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        post_once(receiver.url + "/h", {"X-Api-Key": value})
    assert err.value.code == "INVALID_REQUEST"
    assert value not in error_text(err.value) and "tok-1" not in error_text(err.value)
    assert receiver.requests == []


@pytest.mark.parametrize(
    ("answer", "code", "kind"),
    [
        (b"", "NETWORK_ERROR", "ServerDisconnectedError"),
        (b"NOT HTTP AT ALL\r\n\r\n", "NETWORK_ERROR", "ClientResponseError"),
        (
            b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\nContent-Length: 0\r\n\r\n",
            "NETWORK_ERROR",
            "ClientResponseError",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", "NETWORK_ERROR", "ClientPayloadError"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n", "NETWORK_ERROR", "ClientResponseError"),
    ],
)
def test_malformed_answers_are_transient_and_never_leak_the_request(answer: bytes, code: str, kind: str) -> None:
    sink = RawReceiver(answer)
    with pytest.raises(TransientDeliveryError) as err:
        post_once(sink.url + "/in?part=1", {"Authorization": "Bearer tok-very-secret-4242"})
    sink.stop()
    assert (err.value.code, err.value.message) == (code, f"Network error talking to 127.0.0.1 ({kind}).")
    assert "tok-very-secret-4242" not in error_text(err.value)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize(
    ("url", "error", "code"),
    [
        ("http://127.0.0.1:{port}/", TransientDeliveryError, "CONNECTION_ERROR"),
        ("http://[::1", PermanentDeliveryError, "INVALID_URL"),
        ("https://127.0.0.1:0/", TransientDeliveryError, "CONNECTION_ERROR"),
        ("ftp://127.0.0.1/", PermanentDeliveryError, "INVALID_URL"),
    ],
)
def test_no_raw_aiohttp_error_escapes(url: str, error: type[DeliveryError], code: str) -> None:
    with pytest.raises(DeliveryError) as err:
        post_once(url.format(port=free_port()))
    assert (type(err.value), err.value.code) == (error, code)


def test_a_send_waiting_for_a_free_connection_is_not_timed_out_by_the_queue() -> None:
    from aiohttp import web

    from adapters.http_client.client import CONNECTIONS_PER_HOST

    in_flight, peak = 0, 0

    async def slow(_: web.Request) -> web.Response:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(1.0)
        in_flight -= 1
        return web.Response(text="ok")

    async def main() -> list[int | None]:
        app = web.Application()
        app.router.add_post("/slow", slow)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        # One wave (1 s) fits the timeout with room for a loaded machine; two waves (2 s) would not.
        client = AsyncOutboundClient(LOOPBACK, timeout_seconds=1.8)
        try:
            sends = [post(client, f"http://127.0.0.1:{port}/slow") for _ in range(CONNECTIONS_PER_HOST + 20)]
            return [outcome.status_code for outcome in await asyncio.gather(*sends)]
        finally:
            await client.aclose()
            await runner.cleanup()

    assert asyncio.run(main()) == [200] * (CONNECTIONS_PER_HOST + 20)
    assert peak == CONNECTIONS_PER_HOST

"""The hardened client on the delivery loop (``ChannelIO.http``) against a real receiver on 127.0.0.1: guard,
pinning, TLS, redirects, failures; and the loop itself: threads, close, fork."""

from __future__ import annotations

import base64
import os
import socket
import time
from concurrent.futures import ThreadPoolExecutor
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
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import delivery_loop, error_text, fake_dns, make_ca, rebinding_dns, send_on
from tests.support.receiver import RawReceiver, Receiver, Reply


def post(client: DeliveryLoop, url: str, headers: dict[str, str] | None = None, **kwargs: Any) -> HttpResponse:
    return send_on(client, "POST", url, headers, b'{"a":1}', **kwargs)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_sends_with_fixed_user_agent_and_owns_transport_headers(receiver: Receiver, client: DeliveryLoop) -> None:
    outcome = post(client, receiver.url + "/in", {"X-Team": "news", "user-agent": "curl/8", "HOST": "evil.example"})
    [request] = receiver.at("/in")
    assert (request.method, request.body) == ("POST", b'{"a":1}')
    assert request.headers["User-Agent"] == "Herald/0.1.0"
    assert request.headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert request.headers["X-Team"] == "news"
    assert (outcome.status_code, outcome.body_excerpt) == (200, '{"ok": true}')


def test_version_sets_the_user_agent(receiver: Receiver) -> None:
    outbound = delivery_loop(version="2.3.4")
    post(outbound, receiver.url + "/v")
    outbound.close()
    assert receiver.at("/v")[0].headers["User-Agent"] == "Herald/2.3.4"


def test_one_shared_client_reuses_its_connection(receiver: Receiver, client: DeliveryLoop) -> None:
    post(client, receiver.url + "/k")
    post(client, receiver.url + "/k")
    first, second = receiver.at("/k")
    assert first.client_port == second.client_port


def test_forbidden_address_is_refused_before_any_request(receiver: Receiver) -> None:
    outbound = delivery_loop([])
    with pytest.raises(PermanentDeliveryError) as err:
        post(outbound, receiver.url + "/in")
    outbound.close()
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert err.value.message.startswith("127.0.0.1 is a loopback address;")
    assert "HERALD_ALLOWED_NETWORKS" in err.value.message
    assert receiver.requests == []


def test_a_name_is_resolved_once_and_the_connection_goes_to_the_checked_address(
    receiver: Receiver, client: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A rebinding resolver: the second answer would be a forbidden address.
    lookups = rebinding_dns(monkeypatch)
    outcome = post(client, f"http://partner.example:{receiver.port}/in")
    [request] = receiver.at("/in")
    assert outcome.status_code == 200
    assert lookups == ["partner.example"]
    assert request.headers["Host"] == f"partner.example:{receiver.port}"


def test_a_new_connection_checks_the_name_again(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"partner.example": ["10.0.0.1"]})
    outbound = delivery_loop()
    with pytest.raises(PermanentDeliveryError) as err:
        post(outbound, f"http://partner.example:{receiver.port}/in")
    outbound.close()
    assert err.value.message.startswith("partner.example resolves to 10.0.0.1, a private address;")
    assert receiver.requests == []


def test_any_forbidden_address_of_a_name_refuses(
    receiver: Receiver, client: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"mixed.example": ["127.0.0.1", "169.254.169.254"]})
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, f"http://mixed.example:{receiver.port}/in")
    assert (err.value.code, err.value.error_class) == ("TARGET_ADDRESS_FORBIDDEN", "permanent")
    assert "a link-local address" in err.value.message
    assert receiver.requests == []


def test_an_unreachable_address_falls_back_to_the_next(
    receiver: Receiver, client: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"two.example": ["127.0.0.2", "127.0.0.1"]})
    assert post(client, f"http://two.example:{receiver.port}/in").status_code == 200
    assert len(receiver.at("/in")) == 1


def test_dns_failure_is_systemic(client: DeliveryLoop, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"gone.example": None})
    with pytest.raises(SystemicDeliveryError) as err:
        post(client, "https://gone.example/in")
    assert err.value.code == "DNS_FAILURE"
    assert err.value.message == "Host gone.example does not resolve; check the target's URL."


def test_connection_refused_is_transient(client: DeliveryLoop) -> None:
    with pytest.raises(TransientDeliveryError) as err:
        post(client, f"http://127.0.0.1:{free_port()}/in")
    assert err.value.code == "CONNECTION_ERROR"


def test_a_slow_answer_times_out_as_transient(receiver: Receiver) -> None:
    receiver.script["/slow"] = [Reply(delay_seconds=1.0)]
    outbound = delivery_loop(timeout_seconds=0.2)
    with pytest.raises(TransientDeliveryError) as err:
        post(outbound, receiver.url + "/slow")
    outbound.close()
    assert (err.value.code, err.value.message) == ("TIMEOUT", "Timed out talking to 127.0.0.1.")


def test_a_dripping_body_is_cut_off_by_the_overall_deadline(receiver: Receiver) -> None:
    receiver.script["/drip"] = [Reply(body="x" * 200, drip_seconds=0.05)]
    outbound = delivery_loop(timeout_seconds=0.5)
    started = time.monotonic()
    with pytest.raises(TransientDeliveryError) as err:
        post(outbound, receiver.url + "/drip")
    outbound.close()
    assert err.value.code == "TIMEOUT"
    assert time.monotonic() - started < 3


def test_a_huge_body_is_read_only_up_to_the_cap(receiver: Receiver) -> None:
    receiver.script["/huge"] = [Reply(body="y" * 100_000, declared_length=50_000_000, hold_seconds=3)]
    outbound = delivery_loop(timeout_seconds=2)
    started = time.monotonic()
    outcome = post(outbound, receiver.url + "/huge")
    outbound.close()
    assert (outcome.status_code, outcome.body_excerpt) == (200, "y" * 512)
    assert time.monotonic() - started < 1.5


def test_tls_failure_is_systemic(tmp_path: Path) -> None:
    ca = make_ca(tmp_path, ["hooks.partner.test"])
    sink = Receiver(tls=ca.server_context())
    outbound = delivery_loop()
    with pytest.raises(SystemicDeliveryError) as err:
        post(outbound, f"https://127.0.0.1:{sink.port}/in")
    outbound.close()
    sink.stop()
    assert err.value.code == "TLS_ERROR"
    assert "certificate" in err.value.message
    assert sink.requests == []


def test_tls_uses_the_host_name_for_sni_and_verification(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ca = make_ca(tmp_path, ["hooks.partner.test"])
    sink = Receiver(tls=ca.server_context())
    fake_dns(monkeypatch, {"hooks.partner.test": ["127.0.0.1"]})
    outbound = delivery_loop(ssl_context=ca.client_context())
    outcome = post(outbound, f"https://hooks.partner.test:{sink.port}/in")
    outbound.close()
    sink.stop()
    assert outcome.status_code == 200
    assert sink.server_names == ["hooks.partner.test"]
    assert sink.at("/in")[0].headers["Host"] == f"hooks.partner.test:{sink.port}"


def test_a_tls_connection_is_never_reused_for_another_host_on_the_same_ip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca = make_ca(tmp_path, ["a.partner.test"])
    sink = Receiver(tls=ca.server_context())
    fake_dns(monkeypatch, {"a.partner.test": ["127.0.0.1"], "b.partner.test": ["127.0.0.1"]})
    outbound = delivery_loop(ssl_context=ca.client_context())
    assert post(outbound, f"https://a.partner.test:{sink.port}/a").status_code == 200
    with pytest.raises(SystemicDeliveryError) as err:
        post(outbound, f"https://b.partner.test:{sink.port}/b")
    outbound.close()
    sink.stop()
    assert err.value.code == "TLS_ERROR"
    assert sink.server_names == ["a.partner.test", "b.partner.test"]
    assert sink.at("/b") == []


def test_redirects_are_not_followed_by_default(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/r"] = [Reply(302, headers={"Location": "/final"})]
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, receiver.url + "/r")
    assert (err.value.status_code, err.value.code) == (302, "HTTP_302")
    assert "Redirects are not followed" in err.value.message
    assert receiver.at("/final") == []


def test_allowed_redirects_keep_the_method_on_307_and_switch_to_get_on_303(
    receiver: Receiver, client: DeliveryLoop
) -> None:
    receiver.script["/r307"] = [Reply(307, headers={"Location": "/kept"})]
    receiver.script["/r303"] = [Reply(303, headers={"Location": "/got"})]
    post(client, receiver.url + "/r307", {"Content-Type": "application/json"}, allow_redirects=True)
    post(client, receiver.url + "/r303", {"Content-Type": "application/json"}, allow_redirects=True)
    [kept], [got] = receiver.at("/kept"), receiver.at("/got")
    assert (kept.method, kept.body, kept.headers["Content-Type"]) == ("POST", b'{"a":1}', "application/json")
    assert (got.method, got.body, "Content-Type" in got.headers) == ("GET", b"", False)


def test_a_cross_origin_hop_drops_credential_headers(
    receiver: Receiver, client: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"other.partner.test": ["127.0.0.1"]})
    receiver.script["/r"] = [Reply(308, headers={"Location": f"http://other.partner.test:{receiver.port}/final"})]
    sent = {
        "Authorization": "Bearer tok-abcdef",
        "X-Api-Key": "key-123456",
        "webhook-id": "msg_1",
        "Content-Type": "application/json",
    }
    post(client, receiver.url + "/r", sent, allow_redirects=True)
    [first], [final] = receiver.at("/r"), receiver.at("/final")
    assert first.headers["Authorization"] == "Bearer tok-abcdef" and first.headers["X-Api-Key"] == "key-123456"
    assert "Authorization" not in final.headers and "X-Api-Key" not in final.headers
    assert (final.headers["webhook-id"], final.headers["Host"]) == ("msg_1", f"other.partner.test:{receiver.port}")


def test_every_redirect_hop_is_checked(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/r"] = [Reply(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})]
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, receiver.url + "/r", allow_redirects=True)
    assert err.value.code == "TARGET_ADDRESS_FORBIDDEN"
    assert "169.254.169.254 is a link-local address" in err.value.message


def test_redirects_stop_after_five_hops(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/loop"] = [Reply(302, headers={"Location": "/loop"})]
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, receiver.url + "/loop", allow_redirects=True)
    assert err.value.code == "TOO_MANY_REDIRECTS"
    assert len(receiver.at("/loop")) == 6


def test_a_redirect_to_another_scheme_is_refused(receiver: Receiver, client: DeliveryLoop) -> None:
    receiver.script["/r"] = [Reply(301, headers={"Location": "file:///etc/passwd"})]
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, receiver.url + "/r", allow_redirects=True)
    assert err.value.code == "INVALID_URL"


def test_secrets_echoed_by_the_receiver_are_redacted(receiver: Receiver, client: DeliveryLoop) -> None:
    basic = base64.b64encode(b"partner:pa55word-xyz").decode()
    echo = f'{{"error": "bad key key-123456 / Bearer tok-abcdef / {basic} / pa55word-xyz", "type": "application/json"}}'
    receiver.script["/e"] = [Reply(403, body=echo)]
    sent = {"X-Api-Key": "key-123456", "Authorization": f"Basic {basic}", "Content-Type": "application/json"}
    with pytest.raises(SystemicDeliveryError) as err:
        post(client, receiver.url + "/e", sent)
    assert err.value.response_excerpt == (
        '{"error": "bad key [redacted] / Bearer tok-abcdef / [redacted] / [redacted]", "type": "application/json"}'
    )


@pytest.mark.parametrize("value", ["tok-1\r\nX-Injected: 1", "tök-secret"])
def test_unsendable_header_values_are_permanent_and_not_quoted(
    value: str, receiver: Receiver, client: DeliveryLoop
) -> None:
    with pytest.raises(PermanentDeliveryError) as err:
        post(client, receiver.url + "/h", {"X-Api-Key": value})
    assert err.value.code == "INVALID_REQUEST"
    assert value not in error_text(err.value) and "tok-1" not in error_text(err.value)
    assert receiver.requests == []


def test_no_raw_aiohttp_or_httpx_error_escapes(client: DeliveryLoop) -> None:
    hangs_up, garbles = RawReceiver(b""), RawReceiver(b"NOT HTTP\r\n\r\n")
    for url in (f"http://127.0.0.1:{free_port()}/", "http://[::1", "https://127.0.0.1:0/", hangs_up.url, garbles.url):
        with pytest.raises(DeliveryError):
            post(client, url)
    hangs_up.stop()
    garbles.stop()


def test_one_client_serves_many_threads(receiver: Receiver, client: DeliveryLoop) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(lambda n: post(client, f"{receiver.url}/t{n}"), range(16)))
    assert [outcome.status_code for outcome in outcomes] == [200] * 16
    assert sorted(request.path for request in receiver.requests) == sorted(f"/t{n}" for n in range(16))


def test_a_closed_client_refuses_to_send(receiver: Receiver) -> None:
    outbound = delivery_loop()
    outbound.close()
    outbound.close()
    with pytest.raises(RuntimeError, match="closed"):
        post(outbound, receiver.url + "/late")
    assert receiver.requests == []


def test_a_forked_child_gets_its_own_loop_thread(receiver: Receiver, client: DeliveryLoop) -> None:
    assert post(client, receiver.url + "/parent").status_code == 200
    child = os.fork()
    if child == 0:
        os._exit(exit_code_of_send(client, receiver.url + "/child"))
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert [request.path for request in receiver.requests] == ["/parent", "/child"]


def exit_code_of_send(client: DeliveryLoop, url: str) -> int:
    """Run in a forked child: 0 when the send succeeds there, without letting anything unwind into pytest."""
    try:
        outcome = post(client, url)
        client.close()
    except BaseException:
        return 2
    return 0 if outcome.status_code == 200 else 1

"""The email channel against a real SMTP server on loopback (aiosmtpd), through a real ChannelIO (SmtpPool).

Validation, the rendered MIME message, what arrived (parts, attachments, headers, per-recipient
bodies), connection reuse, the classification of every SMTP refusal, STARTTLS and implicit TLS with
a test CA, dropped connections, unknown outcomes after DATA, and the SSRF guard on the SMTP host.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from adapters import (
    Attachment,
    ChannelIO,
    ConfigError,
    Content,
    DeliveryContext,
    DeliveryError,
    PermanentDeliveryError,
    Policy,
    RateLimitedError,
    Receipt,
    RecipientUnreachableError,
    RecipientView,
    SystemicDeliveryError,
    TargetView,
    TransientDeliveryError,
    get_channel,
)
from adapters.email import MAX_ATTACHMENTS, EmailChannel, EmailConfig, EmailCredentials
from adapters.http_client import AsyncOutboundClient, check_url
from adapters.smtp_client import SmtpPool, back_off_seconds, reply_error
from server.delivery.loop import DeliveryLoop
from tests.adapters.support import LOOPBACK, error_text, fake_dns, make_ca, rebinding_dns
from tests.support.smtp import SmtpSink
from tests.support.waiting import until

ADAPTER = EmailChannel()
WHEN = datetime(2026, 12, 1, 5, 0, tzinfo=UTC)
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 4
CSV = "name,amount\nÅsa,12.50\n".encode()
CONTENT = Content(
    id="report-7",
    version="3",
    title="Weekly   report",
    body="# Summary\n\nRevenue **up** 4%.\n\n- north\n- south\n\n<script>x</script>",
    url="https://example.com/r/7",
    attachments=(
        Attachment(filename="report.pdf", content_type="application/pdf", data=PDF),
        Attachment(filename="figures.csv", content_type="text/csv", data=CSV),
    ),
)
ANN = RecipientView(
    id="rcp_ann", address="ann@example.com", name="Ann Åberg", unsubscribe_url="https://herald.example/u/tok-ann"
)


Target = TargetView[EmailConfig, EmailCredentials]


def target(config: dict[str, Any], credentials: dict[str, Any] | None = None) -> Target:
    validated = ADAPTER.validate(config, credentials)
    return TargetView("tgt_mail", "mail", "email", validated.config, validated.credentials)


def plain(sink: SmtpSink, **config: Any) -> Target:
    base = {"host": "127.0.0.1", "port": sink.port, "security": "none", "fromAddress": "reports@example.com"}
    return target({**base, **config})


def delivery(job: str = "job_1") -> DeliveryContext:
    return DeliveryContext(delivery_id=job, attempt=1, plan_id="pln_1", timestamp=WHEN)


def email_loop(
    allowed: list[str] | None = None, ssl_context: ssl.SSLContext | None = None, **pool: Any
) -> DeliveryLoop:
    networks = LOOPBACK if allowed is None else allowed
    return DeliveryLoop(
        lambda: ChannelIO(http=AsyncOutboundClient(networks), smtp=SmtpPool(networks, ssl_context=ssl_context, **pool))
    )


def send(
    loop: DeliveryLoop,
    view: Target,
    recipient: RecipientView | None = ANN,
    content: Content = CONTENT,
    job: str = "job_1",
) -> Receipt:
    payload = ADAPTER.render(content, Policy(), view, recipient)
    return loop.run(lambda io: ADAPTER.send(payload, view, delivery(job), io))


def failure(loop: DeliveryLoop, view: Target, recipient: RecipientView | None = ANN, **kw: Any) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        send(loop, view, recipient, **kw)
    return caught.value


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink()
    yield server
    server.stop()


@pytest.fixture
def loop() -> Iterator[DeliveryLoop]:
    running = email_loop()
    yield running
    running.close()


def opened(loop: DeliveryLoop) -> int:
    return loop.run(_opened)


async def _opened(io: ChannelIO) -> int:
    assert isinstance(io.smtp, SmtpPool)
    return io.smtp.opened


# --- validate


def test_validate_defaults_the_port_per_security_and_names_the_smtp_endpoint() -> None:
    ports = {
        security: ADAPTER.validate(
            {"host": "Smtp.Example.com", "security": security, "fromAddress": "a@example.com"}, None
        )
        for security in ("starttls", "tls")
    }
    assert [(v.config.port, v.endpoints[0].url, v.endpoints[0].field) for v in ports.values()] == [
        (587, "smtp://smtp.example.com:587", "config.host"),
        (465, "smtp://smtp.example.com:465", "config.host"),
    ]
    ipv6 = ADAPTER.validate({"host": "[::1]", "security": "none", "port": 2525, "fromAddress": "a@example.com"}, None)
    assert (ipv6.config.host, ipv6.endpoints[0].url, ipv6.credentials) == ("::1", "smtp://[::1]:2525", None)


def test_validate_keeps_credentials_and_normalises_addresses() -> None:
    validated = ADAPTER.validate(
        {
            "host": "smtp.example.com",
            "fromAddress": " News@Exämple.com ",
            "replyTo": "desk@example.com",
            "to": ["B@x.org"],
        },
        {"username": "mailer", "password": "s3cret"},
    )
    assert (validated.config.from_address, validated.config.to) == ("News@xn--exmple-cua.com", ["B@x.org"])
    assert validated.credentials == EmailCredentials(username="mailer", password="s3cret")


@pytest.mark.parametrize(
    ("config", "credentials", "field", "says"),
    [
        ({"fromAddress": "a@example.com"}, None, "config.host", "this field is required"),
        ({"host": "smtp://mail.example.com", "fromAddress": "a@example.com"}, None, "config.host", "without scheme"),
        ({"host": "mail.example.com", "fromAddress": "not an address"}, None, "config.fromAddress", "such as"),
        ({"host": "mail.example.com", "fromAddress": "a@example.com", "replyTo": "x@"}, None, "config.replyTo", "such"),
        (
            {"host": "mail.example.com", "fromAddress": "a@example.com", "to": ["ok@x.org", "bad"]},
            None,
            "config.to.1",
            "",
        ),
        ({"host": "mail.example.com", "fromAddress": "a@example.com", "security": "ssl"}, None, "config.security", ""),
        ({"host": "mail.example.com", "fromAddress": "a@example.com", "port": 0}, None, "config.port", ""),
        (
            {"host": "mail.example.com", "fromAddress": "a@example.com", "fromName": "A\r\nBcc: x"},
            None,
            "config.fromName",
            "one line",
        ),
        (
            {"host": "mail.example.com", "fromAddress": "a@example.com", "tls": True},
            None,
            "config.tls",
            "unknown field",
        ),
        (
            {"host": "mail.example.com", "fromAddress": "a@example.com"},
            {"username": "u"},
            "credentials.password",
            "required",
        ),
        (
            {"host": "mail.example.com", "fromAddress": "a@example.com", "security": "none"},
            None,
            "config.security",
            "loopback",
        ),
    ],
)
def test_validate_refuses_with_the_field_named(
    config: dict[str, Any], credentials: dict[str, Any] | None, field: str, says: str
) -> None:
    with pytest.raises(ConfigError) as err:
        ADAPTER.validate(config, credentials)
    assert (err.value.field, err.value.code) == (field, "VALIDATION_ERROR")
    assert err.value.message.startswith(field + ":") and says in err.value.message


def test_the_ssrf_guard_checks_the_smtp_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dns(monkeypatch, {"mail.internal": ["10.1.2.3"], "mail.public": ["93.184.216.34"]})
    [endpoint] = ADAPTER.validate({"host": "mail.internal", "fromAddress": "a@example.com"}, None).endpoints
    with pytest.raises(ConfigError) as err:
        check_url(endpoint.url, [], endpoint.field)
    assert (err.value.code, err.value.field) == ("TARGET_ADDRESS_FORBIDDEN", "config.host")
    assert err.value.message.startswith("mail.internal resolves to 10.1.2.3, a private address")
    [public] = ADAPTER.validate({"host": "mail.public", "port": 25, "fromAddress": "a@example.com"}, None).endpoints
    assert check_url(public.url, [], public.field) is None


def test_the_channel_is_registered_as_addressed() -> None:
    assert get_channel("email") is not None and get_channel("email").addressing == "recipient"
    assert ADAPTER.limits.max_attachments == MAX_ATTACHMENTS


# --- render


def test_render_is_pure_and_shows_the_message() -> None:
    view = target({"host": "smtp.example.com", "fromAddress": "reports@example.com", "fromName": "Reports"})
    first, second = (ADAPTER.render(CONTENT, Policy(), view, ANN) for _ in range(2))
    assert first == second and first.content_type == "message/rfc822"
    body = first.body
    headers = body["headers"]
    assert {name: headers[name] for name in ("Subject", "From", "To", "List-Unsubscribe", "List-Unsubscribe-Post")} == {
        "Subject": "Weekly report",
        "From": "Reports <reports@example.com>",
        "To": "Ann Åberg <ann@example.com>",
        "List-Unsubscribe": "<https://herald.example/u/tok-ann>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }
    assert headers["Content-Type"].startswith("multipart/mixed;")
    assert body["envelope"] == {"from": "reports@example.com", "to": ["ann@example.com"]}
    assert body["text"] == CONTENT.body + "\n\nhttps://example.com/r/7"
    assert "<h1>Summary</h1>\n<p>Revenue <strong>up</strong> 4%.</p>\n<ul>\n<li>north</li>" in body["html"]
    assert "&lt;script&gt;x&lt;/script&gt;" in body["html"] and "<script>" not in body["html"]
    assert body["attachments"] == [
        {"filename": "report.pdf", "contentType": "application/pdf", "sizeBytes": len(PDF)},
        {"filename": "figures.csv", "contentType": "text/csv", "sizeBytes": len(CSV)},
    ]
    assert body["sizeBytes"] == len(first.meta["mime"])


def test_without_attachments_the_message_is_alternative_and_a_list_header_needs_an_unsubscribe_url() -> None:
    view = target({"host": "smtp.example.com", "fromAddress": "r@example.com", "subjectPrefix": "[Desk]"})
    bare = Content(id="c", version="1", title="Hi", body="plain")
    body = ADAPTER.render(bare, Policy(), view, RecipientView(id="rcp_b", address="bo@example.com")).body
    assert body["headers"]["Content-Type"].startswith("multipart/alternative;")
    assert "List-Unsubscribe" not in body["headers"] and body["headers"]["Subject"] == "[Desk] Hi"


def test_render_refuses_what_email_cannot_carry() -> None:
    view = target({"host": "smtp.example.com", "fromAddress": "r@example.com"})
    too_many = CONTENT.model_copy(
        update={
            "attachments": tuple(
                Attachment(filename=f"{i}.txt", content_type="text/plain", data=b"x") for i in range(21)
            )
        }
    )
    big = CONTENT.model_copy(
        update={
            "attachments": (Attachment(filename="big.bin", content_type="application/x", data=b"0" * (10 * 2**20 + 1)),)
        }
    )
    cases = [(too_many, ANN), (big, ANN), (CONTENT, None), (CONTENT, RecipientView(id="rcp_x", address="no-at-sign"))]
    codes = []
    for content, recipient in cases:
        with pytest.raises(PermanentDeliveryError) as err:
            ADAPTER.render(content, Policy(), view, recipient)
        codes.append((type(err.value).__name__, err.value.code))
    assert codes == [
        ("PermanentDeliveryError", "TOO_MANY_ATTACHMENTS"),
        ("PermanentDeliveryError", "ATTACHMENT_TOO_LARGE"),
        ("PermanentDeliveryError", "NO_RECIPIENT"),
        ("RecipientUnreachableError", "INVALID_ADDRESS"),
    ]


# --- send: what arrived


def test_the_message_arrives_whole_and_the_receipt_is_its_message_id(sink: SmtpSink, loop: DeliveryLoop) -> None:
    view = plain(sink, fromName="Reports", replyTo="desk@example.com")
    receipt = send(loop, view, job="job_abc")
    [arrived] = sink.messages
    assert receipt == Receipt(
        external_id="<job_abc@example.com>",
        meta={"statusCode": 250, "smtpResponse": "2.0.0 OK queued as Q1", "accepted": ["ann@example.com"]},
    )
    assert (arrived.mail_from, arrived.rcpt_tos, arrived.tls, arrived.login) == (
        "reports@example.com",
        ["ann@example.com"],
        False,
        None,
    )
    assert arrived.structure == ["multipart/mixed", "multipart/alternative", "text/plain", "text/html"] + [
        "application/pdf",
        "text/csv",
    ]
    assert {name: arrived.header(name) for name in ("Message-ID", "From", "To", "Reply-To", "Subject", "Date")} == {
        "Message-ID": "<job_abc@example.com>",
        "From": "Reports <reports@example.com>",
        "To": "Ann Åberg <ann@example.com>",
        "Reply-To": "desk@example.com",
        "Subject": "Weekly report",
        "Date": "Tue, 01 Dec 2026 05:00:00 +0000",
    }
    assert (arrived.header("List-Unsubscribe"), arrived.header("List-Unsubscribe-Post")) == (
        "<https://herald.example/u/tok-ann>",
        "List-Unsubscribe=One-Click",
    )
    assert arrived.attachments == [("report.pdf", "application/pdf", PDF), ("figures.csv", "text/csv", CSV)]
    assert arrived.text == (CONTENT.body + "\n\nhttps://example.com/r/7\n").replace("\n", "\r\n").replace("\r\r", "\r")
    assert "<p>Revenue <strong>up</strong> 4%.</p>" in arrived.html


def test_each_recipient_gets_their_own_message_over_one_reused_connection(sink: SmtpSink, loop: DeliveryLoop) -> None:
    view = plain(sink)
    people = [RecipientView(id=f"rcp_{n}", address=f"{n}@example.com", name=n.title()) for n in ("ann", "bo", "cy")]
    for number, person in enumerate(people):
        content = Content(id="note", version="1", title=f"For {person.name}", body=f"Dear {person.name}, hello.")
        send(loop, view, person, content, job=f"job_{number}")
    assert [(m.rcpt_tos, m.header("Subject"), m.text.strip(), m.header("Message-ID")) for m in sink.messages] == [
        (["ann@example.com"], "For Ann", "Dear Ann, hello.", "<job_0@example.com>"),
        (["bo@example.com"], "For Bo", "Dear Bo, hello.", "<job_1@example.com>"),
        (["cy@example.com"], "For Cy", "Dear Cy, hello.", "<job_2@example.com>"),
    ]
    assert [m.header("List-Unsubscribe") for m in sink.messages] == [None, None, None]
    assert (sink.connections, opened(loop)) == (1, 1)


def test_a_delivery_without_recipient_goes_to_config_to(sink: SmtpSink, loop: DeliveryLoop) -> None:
    sink.refuse["gone@example.com"] = "550 5.1.1 User unknown"
    view = plain(sink, to=["desk@example.com", "gone@example.com", "team@example.com"])
    receipt = send(loop, view, recipient=None)
    [arrived] = sink.messages
    assert arrived.rcpt_tos == ["desk@example.com", "team@example.com"]
    assert arrived.header("To") == "desk@example.com, gone@example.com, team@example.com"
    assert receipt.meta == {
        "statusCode": 250,
        "smtpResponse": "2.0.0 OK queued as Q1",
        "accepted": ["desk@example.com", "team@example.com"],
        "refused": {"gone@example.com": 550},
    }


def test_aclose_quits_the_kept_connections(sink: SmtpSink) -> None:
    running = email_loop()
    send(running, plain(sink))
    running.close()
    assert (sink.connections, sink.quits) == (1, 1)


# --- send: refusals


def test_a_550_at_rcpt_is_a_hard_bounce_and_the_connection_stays_usable(sink: SmtpSink, loop: DeliveryLoop) -> None:
    sink.refuse["ann@example.com"] = "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown"
    view = plain(sink)
    error = failure(loop, view)
    assert isinstance(error, RecipientUnreachableError)
    assert (error.status_code, error.code, error.response_excerpt, error.outcome_unknown) == (
        550,
        "SMTP_550",
        "5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
        False,
    )
    assert sink.messages == []
    send(loop, view, RecipientView(id="rcp_bo", address="bo@example.com"))
    assert ([m.rcpt_tos for m in sink.messages], sink.connections) == ([["bo@example.com"]], 1)


@pytest.mark.parametrize(
    ("reply", "retry_after"),
    [
        ("451 4.7.1 Greylisted, try again later", 60.0),
        ("452 4.5.3 Too many recipients; try again in 2 minutes", 120.0),
        ("421 4.7.0 Rate limit exceeded, retry in 30 seconds", 30.0),
    ],
)
def test_a_back_off_reply_at_rcpt_rate_limits_the_target(
    sink: SmtpSink, loop: DeliveryLoop, reply: str, retry_after: float
) -> None:
    sink.refuse["ann@example.com"] = reply
    error = failure(loop, plain(sink))
    assert isinstance(error, RateLimitedError)
    assert (error.status_code, error.retry_after_seconds, error.code) == (
        int(reply[:3]),
        retry_after,
        f"SMTP_{reply[:3]}",
    )
    assert sink.messages == []


def test_other_4xx_at_rcpt_is_transient(sink: SmtpSink, loop: DeliveryLoop) -> None:
    sink.refuse["ann@example.com"] = "450 4.2.0 Mailbox busy"
    error = failure(loop, plain(sink))
    assert (type(error), error.status_code, error.retry_after_seconds) == (TransientDeliveryError, 450, None)


def test_a_refused_message_at_data_is_permanent_and_a_421_at_mail_backs_off(sink: SmtpSink, loop: DeliveryLoop) -> None:
    view = plain(sink)
    sink.data_replies.append("554 5.7.1 Message rejected as spam")
    spam = failure(loop, view)
    # A 421 at MAIL on the kept connection: the server is closing it, so a new one is opened; its 421 backs off.
    sink.mail_replies += ["421 4.7.0 Closing idle connection", "421 4.7.0 Too many connections, try again in 5 minutes"]
    busy = failure(loop, view)
    assert [(type(e).__name__, e.status_code, e.retry_after_seconds) for e in (spam, busy)] == [
        ("PermanentDeliveryError", 554, None),
        ("RateLimitedError", 421, 300.0),
    ]
    assert (sink.messages, sink.connections) == ([], 2)


def test_a_message_over_the_servers_advertised_size_is_refused_before_data(loop: DeliveryLoop) -> None:
    small = SmtpSink(data_size_limit=1000)
    try:
        error = failure(loop, plain(small))
        send(loop, plain(small), content=Content(id="c", version="1", title="Short", body="ok"), job="job_2")
    finally:
        small.stop()
    assert (type(error), error.code) == (PermanentDeliveryError, "MESSAGE_TOO_LARGE")
    assert error.message.endswith("accepts at most 1000. Send smaller attachments or fewer of them.")
    assert ([m.header("Subject") for m in small.messages], small.connections) == (["Short"], 1)


def test_refused_credentials_are_systemic_and_never_echoed() -> None:
    server = SmtpSink(login=("mailer", "right-password"))
    running = email_loop()
    try:
        view = target(
            {"host": "127.0.0.1", "port": server.port, "security": "none", "fromAddress": "r@example.com"},
            {"username": "mailer", "password": "wrong-password"},
        )
        error = failure(running, view)
        good = target(
            {"host": "127.0.0.1", "port": server.port, "security": "none", "fromAddress": "r@example.com"},
            {"username": "mailer", "password": "right-password"},
        )
        send(running, good)
    finally:
        running.close()
        server.stop()
    assert isinstance(error, SystemicDeliveryError)
    assert (error.status_code, error.code) == (535, "SMTP_535")
    assert "wrong-password" not in error_text(error) and "credentials" in error.message
    # aiosmtplib tries each mechanism the server offers (PLAIN, LOGIN) before giving up
    assert server.logins == [("mailer", False), ("mailer", False), ("mailer", True)]
    assert [m.login for m in server.messages] == ["mailer"]


@pytest.mark.parametrize(
    ("code", "phase", "kind"),
    [
        (550, "rcpt", "RecipientUnreachableError"),
        (553, "rcpt", "RecipientUnreachableError"),
        (530, "rcpt", "SystemicDeliveryError"),
        (535, "auth", "SystemicDeliveryError"),
        (534, "auth", "SystemicDeliveryError"),
        (454, "auth", "TransientDeliveryError"),
        (553, "mail", "SystemicDeliveryError"),
        (552, "mail", "PermanentDeliveryError"),
        (552, "data", "PermanentDeliveryError"),
        (451, "data", "RateLimitedError"),
        (421, "connect", "RateLimitedError"),
        (554, "connect", "SystemicDeliveryError"),
        (450, "rcpt", "TransientDeliveryError"),
    ],
)
def test_reply_classification(code: int, phase: Any, kind: str) -> None:
    assert type(reply_error(code, "text", phase, "smtp.example.com")).__name__ == kind


def test_back_off_hints() -> None:
    assert [back_off_seconds(m) for m in ("try later", "wait 90s", "in 10 minutes", "in 99999 minutes")] == [
        60.0,
        90.0,
        600.0,
        3600.0,
    ]


# --- send: connections


def test_a_kept_connection_the_server_dropped_is_replaced_transparently(sink: SmtpSink, loop: DeliveryLoop) -> None:
    view = plain(sink)
    send(loop, view, job="job_1")
    sink.drop.add("MAIL")  # the kept connection dies at its next command, as after a server's idle timeout
    send(loop, view, job="job_2")
    assert [m.header("Message-ID") for m in sink.messages] == ["<job_1@example.com>", "<job_2@example.com>"]
    assert (sink.connections, opened(loop)) == (2, 2)


def test_a_connection_is_retired_after_its_message_budget(sink: SmtpSink) -> None:
    running = email_loop(max_messages=2)
    try:
        for number in range(3):
            send(running, plain(sink), job=f"job_{number}")
        until(lambda: sink.quits, message="the retired connection says QUIT")
    finally:
        running.close()
    assert (len(sink.messages), sink.connections, sink.quits) == (3, 2, 2)


def test_concurrent_sends_share_at_most_the_connections_per_server(sink: SmtpSink) -> None:
    running = email_loop(connections_per_server=2)
    view = plain(sink)
    people = [RecipientView(id=f"rcp_{n}", address=f"p{n}@example.com") for n in range(6)]
    payloads = [ADAPTER.render(CONTENT, Policy(), view, person) for person in people]

    async def all_at_once(io: ChannelIO) -> list[Receipt]:
        sends = (ADAPTER.send(p, view, delivery(f"job_{n}"), io) for n, p in enumerate(payloads))
        return list(await asyncio.gather(*sends))

    try:
        receipts = running.run(all_at_once)
    finally:
        running.close()
    assert [r.external_id for r in receipts] == [f"<job_{n}@example.com>" for n in range(6)]
    assert sorted(m.rcpt_tos[0] for m in sink.messages) == [f"p{n}@example.com" for n in range(6)]
    assert sink.connections == 2


def test_a_drop_during_data_is_an_unknown_outcome(sink: SmtpSink, loop: DeliveryLoop) -> None:
    sink.drop.add("DATA")
    error = failure(loop, plain(sink))
    assert (type(error), error.code, error.outcome_unknown) == (TransientDeliveryError, "DISCONNECTED", True)
    send(loop, plain(sink), job="job_2")  # the next delivery opens a new connection
    assert (len(sink.messages), sink.connections) == (1, 2)


def test_a_timeout_after_data_is_an_unknown_outcome(sink: SmtpSink, loop: DeliveryLoop) -> None:
    sink.hold_data = threading.Event()
    held = sink.hold_data
    error = failure(loop, plain(sink, timeoutSeconds=0.3))
    held.set()
    assert (type(error), error.code, error.outcome_unknown) == (TransientDeliveryError, "TIMEOUT", True)
    assert sink.messages == []


def test_a_refused_connection_is_transient_and_no_outcome_is_unknown(loop: DeliveryLoop) -> None:
    closed = SmtpSink()
    port = closed.port
    closed.stop()
    view = target({"host": "127.0.0.1", "port": port, "security": "none", "fromAddress": "r@example.com"})
    error = failure(loop, view)
    assert (type(error), error.code, error.outcome_unknown) == (TransientDeliveryError, "CONNECTION_ERROR", False)


def test_a_forbidden_smtp_host_is_refused_before_any_connection(sink: SmtpSink) -> None:
    running = email_loop(allowed=[])
    try:
        error = failure(running, plain(sink))
    finally:
        running.close()
    assert (type(error), error.code) == (PermanentDeliveryError, "TARGET_ADDRESS_FORBIDDEN")
    assert error.message.startswith("127.0.0.1 is a loopback address")
    assert sink.connections == 0


def test_the_connection_goes_to_the_checked_address_not_a_second_lookup(
    sink: SmtpSink, loop: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    lookups = rebinding_dns(monkeypatch, "mail.partner.example")
    view = target(
        {"host": "mail.partner.example", "port": sink.port, "security": "starttls", "fromAddress": "r@example.com"}
    )
    check_url(ADAPTER.validate(view.config.model_dump(by_alias=True), None).endpoints[0].url, LOOPBACK)  # 127.0.0.1
    error = failure(loop, view)  # the send resolves once more, gets 10.0.0.1, and never connects
    assert (error.code, lookups) == ("TARGET_ADDRESS_FORBIDDEN", ["mail.partner.example", "mail.partner.example"])
    assert sink.connections == 0


def test_security_none_refuses_a_name_that_is_not_loopback_at_send(
    sink: SmtpSink, loop: DeliveryLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"localhost": ["127.0.0.1", "10.9.9.9"]})
    running = email_loop(allowed=["127.0.0.0/8", "10.0.0.0/8"])
    try:
        error = failure(running, plain(sink, host="localhost"))
    finally:
        running.close()
    assert (type(error), error.code) == (SystemicDeliveryError, "PLAINTEXT_REFUSED")
    assert sink.connections == 0


# --- TLS


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    fake_dns(monkeypatch, {"mail.test": ["127.0.0.1"]})
    return make_ca(tmp_path, ["mail.test"])


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_tls_verifies_the_host_name_and_carries_auth(ca: Any, security: str) -> None:
    context = ca.server_context()
    server = SmtpSink(login=("mailer", "pw"), **({"starttls": context} if security == "starttls" else {"tls": context}))
    running = email_loop(ssl_context=ca.client_context())
    try:
        view = target(
            {"host": "mail.test", "port": server.port, "security": security, "fromAddress": "r@example.com"},
            {"username": "mailer", "password": "pw"},
        )
        receipt = send(running, view)
    finally:
        running.close()
        server.stop()
    [arrived] = server.messages
    assert (arrived.tls, arrived.login, receipt.external_id) == (True, "mailer", "<job_1@example.com>")


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_a_systemic_tls_error(ca: Any, tmp_path: Path, security: str) -> None:
    context = ca.server_context()
    server = SmtpSink(**({"starttls": context} if security == "starttls" else {"tls": context}))
    (tmp_path / "other").mkdir()
    other_ca = make_ca(tmp_path / "other", ["mail.test"])
    running = email_loop(ssl_context=other_ca.client_context())
    try:
        view = target({"host": "mail.test", "port": server.port, "security": security, "fromAddress": "r@example.com"})
        error = failure(running, view)
    finally:
        running.close()
        server.stop()
    assert (type(error), error.code) == (SystemicDeliveryError, "TLS_ERROR")
    assert "(unable to get local issuer certificate)" in error.message
    assert server.messages == []


def test_starttls_required_but_not_offered_is_systemic(sink: SmtpSink, ca: Any) -> None:
    running = email_loop(ssl_context=ca.client_context())
    try:
        view = target({"host": "mail.test", "port": sink.port, "security": "starttls", "fromAddress": "r@example.com"})
        error = failure(running, view)
    finally:
        running.close()
    assert (type(error), error.code) == (SystemicDeliveryError, "SMTP_NOT_SUPPORTED")
    assert sink.messages == []

"""A real SMTP server on 127.0.0.1 (aiosmtpd) that records what arrived and can be scripted to refuse.

``SmtpSink(tls=..., starttls=..., login=("user", "secret"))`` starts at once on a free port; ``stop()``
it. Every accepted message is an ``Arrived``: the envelope, the parsed message (``email`` stdlib),
its text, HTML and attachments (filename, type, bytes) and whether TLS and AUTH were used.
Scripting, per address or per command: ``refuse[address] = "550 5.1.1 User unknown"`` answers that
RCPT; ``data_replies`` are answered to DATA in order (then 250); ``mail_replies`` likewise to MAIL;
``drop`` holds commands ("MAIL", "DATA") whose next occurrence drops the connection without an
answer; ``hold_data`` keeps DATA unanswered until the test sets it (deadline 30 s), then hangs up
(nothing recorded: the client's timeout is what is tested). ``connections`` and ``quits`` count sessions
opened and closed politely. AUTH with any
other login than ``login`` is refused with 535.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

HOLD_DEADLINE_SECONDS = 30.0
logging.getLogger("mail.log").setLevel(logging.ERROR)  # aiosmtpd's per-session chatter; errors still show


@dataclass
class Arrived:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    tls: bool
    login: str | None
    message: EmailMessage = field(init=False)

    def __post_init__(self) -> None:
        self.message = cast(EmailMessage, message_from_bytes(self.data, policy=policy.default))

    def header(self, name: str) -> str | None:
        value = self.message[name]
        return None if value is None else str(value)

    @property
    def text(self) -> str:
        return self._body("plain")

    @property
    def html(self) -> str:
        return self._body("html")

    def _body(self, subtype: str) -> str:
        part = self.message.get_body(preferencelist=(subtype,))
        assert part is not None, f"no text/{subtype} part"
        return cast(EmailMessage, part).get_content()

    @property
    def attachments(self) -> list[tuple[str | None, str, bytes]]:
        """(filename, content type, bytes) of each attachment, in order."""
        return [
            (part.get_filename(), part.get_content_type(), part.get_payload(decode=True))
            for part in self.message.iter_attachments()
        ]

    @property
    def structure(self) -> list[str]:
        """Every part's content type, depth-first: the MIME tree as a flat list."""
        return [part.get_content_type() for part in self.message.walk()]


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if self.sink._take_drop("MAIL"):
            return _drop(server)
        reply = self.sink._next(self.sink.mail_replies)
        if reply is not None:
            return reply
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_QUIT(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.sink._lock:
            self.sink.quits += 1
        return "221 Bye"

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        reply = self.sink.refuse.get(address)
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink._take_drop("DATA"):
            return _drop(server)
        if self.sink.hold_data is not None:
            await asyncio.get_running_loop().run_in_executor(None, self.sink.hold_data.wait, HOLD_DEADLINE_SECONDS)
            self.sink.hold_data = None
            return _drop(server)
        reply = self.sink._next(self.sink.data_replies)
        if reply is not None:
            return reply
        login = session.auth_data.login.decode() if session.authenticated and session.auth_data else None
        arrived = Arrived(
            envelope.mail_from or "",
            list(envelope.rcpt_tos),
            cast(bytes, envelope.original_content or envelope.content),
            tls=server.transport is not None and server.transport.get_extra_info("ssl_object") is not None,
            login=login,
        )
        with self.sink._lock:
            self.sink.messages.append(arrived)
            queue_id = f"Q{len(self.sink.messages)}"
        return f"250 2.0.0 OK queued as {queue_id}"


def _drop(server: SMTP) -> str:
    """Hang up without answering (the reply returned after it never reaches the client)."""
    assert server.transport is not None
    server.transport.abort()
    return "421 dropped"


class _Controller(Controller):
    """A Controller on a socket bound before it starts (port 0: no race for a free port), counting sessions."""

    def __init__(self, sink: SmtpSink, handler: _Handler, sock: socket.socket, **kwargs: Any) -> None:
        self._sock, self._sink = sock, sink
        super().__init__(handler, hostname="127.0.0.1", port=sock.getsockname()[1], **kwargs)

    def _create_server(self) -> Any:
        return self.loop.create_server(self._factory_invoker, sock=self._sock, ssl=self.ssl_context)

    def factory(self) -> SMTP:
        with self._sink._lock:
            self._sink.connections += 1
        return super().factory()


class SmtpSink:
    def __init__(
        self,
        *,
        tls: ssl.SSLContext | None = None,
        starttls: ssl.SSLContext | None = None,
        login: tuple[str, str] | None = None,
        data_size_limit: int = 33_554_432,
    ) -> None:
        self.messages: list[Arrived] = []
        self.refuse: dict[str, str] = {}
        self.mail_replies: list[str] = []
        self.data_replies: list[str] = []
        self.drop: set[str] = set()
        self.hold_data: threading.Event | None = None
        self.logins: list[tuple[str, bool]] = []
        self.connections = 0
        self.quits = 0
        self._login = login
        self._lock = threading.Lock()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.host, self.port = "127.0.0.1", sock.getsockname()[1]
        options: dict[str, Any] = {"data_size_limit": data_size_limit, "auth_callback": self._authenticate}
        if starttls is not None:
            options.update(tls_context=starttls, require_starttls=True)
        else:
            options.update(auth_require_tls=False)
        self._controller = _Controller(self, _Handler(self), sock, ssl_context=tls, **options)
        self._controller.start()
        self.connections = 0  # the controller's own start-up probe is not a client

    def stop(self) -> None:
        if self.hold_data is not None:
            self.hold_data.set()
        self._controller.stop()

    def _authenticate(self, mechanism: str, login: bytes, password: bytes) -> bool:
        ok = self._login is not None and (login.decode(), password.decode()) == self._login
        with self._lock:
            self.logins.append((login.decode(), ok))
        return ok

    def _take_drop(self, command: str) -> bool:
        with self._lock:
            if command in self.drop:
                self.drop.discard(command)
                return True
        return False

    def _next(self, replies: list[str]) -> str | None:
        with self._lock:
            return replies.pop(0) if replies else None

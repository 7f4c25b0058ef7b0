"""``SmtpPool``: the SMTP client every email delivery uses (``ChannelIO.smtp``), one per worker event loop.

Connections are kept per server (host, port, security, user): a message takes an idle connection or
opens one (guarded socket, TLS, AUTH), runs one transaction (MAIL, RCPT for each recipient, DATA) and
gives it back. A kept connection the server closed meanwhile (its idle timeout, a 421 at MAIL) is
replaced once, transparently: nothing of the message had been accepted. Idle connections older than
``idle_seconds`` or past ``max_messages`` are closed; ``aclose`` QUITs the rest.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiosmtplib

from adapters.errors import DeliveryError, PermanentDeliveryError, RecipientUnreachableError
from adapters.http_client.client import default_ssl_context
from adapters.http_client.netguard import parse_networks
from adapters.io import SmtpAnswer, SmtpServer
from adapters.smtp_client.classify import BACK_OFF, classified, reply_error, translated
from adapters.smtp_client.connect import guarded_socket

CONNECTIONS_PER_SERVER = 10
IDLE_SECONDS = 30.0
MAX_MESSAGES_PER_CONNECTION = 100
QUIT_SECONDS = 2.0
TOO_LARGE = "MESSAGE_TOO_LARGE"

Key = tuple[str, int, str, str | None, str | None]


@dataclass
class _Connection:
    smtp: aiosmtplib.SMTP
    messages: int = 0
    idle_since: float = field(default_factory=time.monotonic)


@dataclass
class _Server:
    slots: asyncio.Semaphore
    idle: list[_Connection] = field(default_factory=list)


class SmtpPool:
    """Implements ``adapters.io.SmtpClient``. Build it anywhere; use it from one event loop, ``aclose()`` it there."""

    def __init__(
        self,
        allowed_networks: list[str],
        *,
        ssl_context: ssl.SSLContext | None = None,
        connections_per_server: int = CONNECTIONS_PER_SERVER,
        idle_seconds: float = IDLE_SECONDS,
        max_messages: int = MAX_MESSAGES_PER_CONNECTION,
    ) -> None:
        self._allowed = parse_networks(allowed_networks)
        self._ssl_context = ssl_context or default_ssl_context()
        self._per_server = connections_per_server
        self._idle_seconds = idle_seconds
        self._max_messages = max_messages
        self._servers: dict[Key, _Server] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._quitting: set[asyncio.Task[None]] = set()
        self.opened = 0  # connections opened so far: what reuse saves is visible

    async def send(self, server: SmtpServer, sender: str, recipients: Sequence[str], message: bytes) -> SmtpAnswer:
        pool = self._pool_for(server)
        async with pool.slots:
            connection = await self._started(server, pool, sender)
            try:
                answer = await _finish(connection.smtp, server.host, recipients, message)
            except DeliveryError as exc:
                await self._after_failure(pool, connection, exc)
                raise
            connection.messages += 1
            self._give_back(pool, connection)
            return answer

    async def aclose(self) -> None:
        self._closed = True
        connections = [c for pool in self._servers.values() for c in pool.idle]
        self._servers.clear()
        await asyncio.gather(*(_quit(c.smtp) for c in connections), *self._quitting)

    async def _started(self, server: SmtpServer, pool: _Server, sender: str) -> _Connection:
        """A connection with MAIL FROM accepted: a kept one if it still works, else a new one."""
        kept = self._take_idle(pool)
        if kept is not None:
            try:
                await kept.smtp.mail(sender)
                return kept
            except aiosmtplib.SMTPResponseException as exc:
                if exc.code not in BACK_OFF:
                    error = reply_error(exc.code, exc.message, "mail", server.host)
                    await self._after_failure(pool, kept, error)
                    raise error from None
            except (aiosmtplib.SMTPServerDisconnected, ConnectionError, TimeoutError):
                pass
            kept.smtp.close()  # the server let it go (idle timeout, 421): open another
        connection = _Connection(await self._open(server))
        try:
            with translated("mail", server.host):
                await connection.smtp.mail(sender)
        except DeliveryError as exc:
            await self._after_failure(pool, connection, exc)
            raise
        return connection

    async def _open(self, server: SmtpServer) -> aiosmtplib.SMTP:
        with translated("connect", server.host):
            sock = await guarded_socket(server, self._allowed)
            smtp = aiosmtplib.SMTP(
                hostname=server.host,  # SNI and certificate checks use the name; the socket went to a checked IP
                sock=sock,
                use_tls=server.security == "tls",
                start_tls=server.security == "starttls",
                tls_context=self._ssl_context,
                timeout=server.timeout_seconds,
                local_hostname=server.local_hostname,
            )
            await smtp.connect()
        self.opened += 1
        if server.username is not None:
            try:
                with translated("auth", server.host):
                    await smtp.login(server.username, server.password or "")
            except DeliveryError:
                smtp.close()
                raise
        return smtp

    def _take_idle(self, pool: _Server) -> _Connection | None:
        now = time.monotonic()
        while pool.idle:
            connection = pool.idle.pop()
            if connection.smtp.is_connected and now - connection.idle_since < self._idle_seconds:
                return connection
            connection.smtp.close()
        return None

    def _give_back(self, pool: _Server, connection: _Connection) -> None:
        if self._closed or connection.messages >= self._max_messages or not connection.smtp.is_connected:
            task = asyncio.get_running_loop().create_task(_quit(connection.smtp))
            self._quitting.add(task)
            task.add_done_callback(self._quitting.discard)
            return
        connection.idle_since = time.monotonic()
        pool.idle.append(connection)

    async def _after_failure(self, pool: _Server, connection: _Connection, exc: DeliveryError) -> None:
        """Keep the connection when the server only refused this transaction (RSET works); else drop it."""
        smtp = connection.smtp
        answered = exc.status_code is not None or exc.code == TOO_LARGE  # the server said no (or we did, before DATA)
        if not answered or exc.status_code in BACK_OFF or not smtp.is_connected:
            smtp.close()
            return
        try:
            await smtp.rset()
        except (aiosmtplib.SMTPException, OSError):
            smtp.close()
            return
        self._give_back(pool, connection)

    def _pool_for(self, server: SmtpServer) -> _Server:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("This SmtpPool is closed.")
        if self._loop is None:
            self._loop = loop
        elif loop is not self._loop:
            raise RuntimeError("An SmtpPool serves the event loop it first sent from; create one per loop.")
        key = (server.host, server.port, server.security, server.username, server.password)
        pool = self._servers.get(key)
        if pool is None:
            pool = self._servers[key] = _Server(asyncio.Semaphore(self._per_server))
        return pool


async def _finish(smtp: aiosmtplib.SMTP, host: str, recipients: Sequence[str], message: bytes) -> SmtpAnswer:
    """RCPT for each recipient, then DATA if any was accepted (MAIL already was)."""
    accepted: list[str] = []
    refused: dict[str, tuple[int, str]] = {}
    for recipient in recipients:
        try:
            with translated("rcpt", host):
                await smtp.rcpt(recipient)
            accepted.append(recipient)
        except DeliveryError as exc:
            if exc.status_code is None or exc.status_code in BACK_OFF:
                raise
            refused[recipient] = (exc.status_code, exc.response_excerpt or "")
    if not accepted:
        raise _refusal(host, refused)
    size = _size_limit(smtp)
    if size is not None and len(message) > size:
        raise PermanentDeliveryError(
            f"The message is {len(message)} bytes; the SMTP server {host} accepts at most {size}. "
            "Send smaller attachments or fewer of them.",
            code=TOO_LARGE,
        )
    with translated("data", host):
        response = await smtp.data(message)
    return SmtpAnswer(response.code, response.message, tuple(accepted), refused)


def _refusal(host: str, refused: dict[str, tuple[int, str]]) -> DeliveryError:
    """Every recipient refused: the first refusal's class (a 5xx is a hard bounce of that address)."""
    errors = [classified(aiosmtplib.SMTPResponseException(code, text), "rcpt", host) for code, text in refused.values()]
    bounces = [e for e in errors if isinstance(e, RecipientUnreachableError)]
    return errors[0] if len(bounces) != len(errors) else bounces[0]


def _size_limit(smtp: aiosmtplib.SMTP) -> int | None:
    """The SIZE the server advertised in EHLO (RFC 1870); None or 0 when it names none."""
    raw = smtp.esmtp_extensions.get("size", "")
    return int(raw) if raw.strip().isdigit() and int(raw) > 0 else None


async def _quit(smtp: aiosmtplib.SMTP) -> None:
    try:
        await smtp.quit(timeout=QUIT_SECONDS)
    except (aiosmtplib.SMTPException, OSError):
        smtp.close()

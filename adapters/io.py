"""``ChannelIO``: everything a channel needs from outside to send, built once per worker event loop.

The engine builds one on its delivery loop, hands it to every ``send`` and closes it (``aclose``) on
that loop. Each service is a Protocol here, implemented where it belongs (the hardened HTTP client in
``adapters.http_client``); later services (an SMTP pool, a feed store, a token cache) join as fields.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol


@dataclass(frozen=True)
class HttpResponse:
    """A 2xx answer as the HTTP client returns it: the status, the few headers worth keeping, a bounded excerpt."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    body_excerpt: str | None = None


@dataclass(frozen=True)
class HttpAnswer:
    """Any answer, unclassified (``HttpClient.exchange``): for channels whose provider speaks in its body
    (Slack's ``ok: false`` with 200, Discord's ``retry_after``). ``text`` is bounded (64 KiB) and has the
    request's secrets scrubbed; ``headers`` are all of them, names lower-cased."""

    status_code: int
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""


class HttpClient(Protocol):
    """The hardened outbound HTTP client: SSRF-pinned, bounded, one deadline; a non-2xx answer or a failure
    raises a classified ``DeliveryError``. Serves the event loop it first sends from."""

    async def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpResponse: ...

    async def exchange(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpAnswer:
        """Like ``send`` but returns any status unclassified; transport failures still raise classified errors."""
        ...

    async def aclose(self) -> None: ...


SmtpSecurity = Literal["starttls", "tls", "none"]


@dataclass(frozen=True)
class SmtpServer:
    """Where and how to submit mail: the connection pool keys its connections on all of it."""

    host: str
    port: int
    security: SmtpSecurity = "starttls"
    username: str | None = field(default=None, repr=False)
    password: str | None = field(default=None, repr=False)
    timeout_seconds: float = 30.0
    local_hostname: str = "localhost"


@dataclass(frozen=True)
class SmtpAnswer:
    """The server accepted the message for at least one recipient: its final reply, who was refused (code, text)."""

    code: int
    message: str
    accepted: tuple[str, ...]
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)


class SmtpClient(Protocol):
    """SMTP submission over pooled connections: SSRF-pinned, TLS-verified, one transaction per message.

    A refusal or a failure raises a classified ``DeliveryError`` (a recipient refused with 5xx:
    ``RecipientUnreachableError``). Serves the event loop it first sends from."""

    async def send(self, server: SmtpServer, sender: str, recipients: Sequence[str], message: bytes) -> SmtpAnswer: ...

    async def aclose(self) -> None: ...


@dataclass
class ChannelIO:
    http: HttpClient
    smtp: SmtpClient | None = None

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.smtp is not None:
            await self.smtp.aclose()

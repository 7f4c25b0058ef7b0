"""``ChannelIO``: everything a channel needs from outside to send, built once per worker event loop.

The engine builds one on its delivery loop, hands it to every ``send`` and closes it (``aclose``) on
that loop. Each service is a Protocol here, implemented where it belongs (the hardened HTTP client in
``adapters.http_client``, the per-worker token cache in ``adapters.tokens``); later services (an SMTP
pool, a feed store) join as fields.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

# The sender's last look before a request leaves, set by the engine for each delivery: the HTTP client
# calls it once it holds a connection slot (a send may have queued behind others to the same host),
# right before writing; it raises to stop the request there (the target was paused meanwhile).
last_look: ContextVar[Callable[[], None] | None] = ContextVar("last_look", default=None)


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


@dataclass(frozen=True)
class Token:
    """An access token and when it stops working (epoch seconds); ``extra`` keeps what a refresh needs
    (a refresh JWT, the account's DID). Its repr shows neither: tokens are never logged."""

    value: str = field(repr=False)
    expires_at: float
    extra: dict[str, Any] = field(default_factory=dict, repr=False)


TokenFetch = Callable[[Token | None], Awaitable[Token]]


class TokenCache(Protocol):
    """Access tokens per worker, by key (a channel's name and a digest of the target's credentials).

    ``get`` returns the cached token unless it expires within the cache's margin, else awaits
    ``fetch(previous)`` once however many deliveries ask at the same time (``previous`` is the old
    token, for a refresh grant, or None). ``invalidate`` drops a token the provider refused (a 401)."""

    async def get(self, key: str, fetch: TokenFetch) -> Token: ...

    def invalidate(self, key: str, token: Token | None = None) -> None:
        """Forget the token under ``key`` (only if it is still ``token``, when given)."""


@dataclass(frozen=True)
class FeedEntry:
    """An entry as the feed channel hands it to the store: one per (target, ``content_id``).

    ``entry_id`` is stable for that pair (the feed's guid / Atom id); ``plan_id`` and ``delivery_id`` say
    which delivery wrote it, so a late retry of an older plan never overwrites a newer version.
    """

    entry_id: str
    content_id: str
    version: str
    title: str
    body: str
    summary: str | None
    url: str | None
    plan_id: str
    delivery_id: str


FeedOutcome = Literal["created", "updated", "unchanged", "superseded"]


@dataclass(frozen=True)
class FeedUpsert:
    """What an upsert did (``unchanged``: the same version was already there; ``superseded``: a newer plan's
    version is there and stays) and where the feed is served, by format (``rss``, ``atom``, ``json``)."""

    entry_id: str
    outcome: FeedOutcome
    feed_urls: dict[str, str]


class FeedStore(Protocol):
    """Where feed entries live (implemented in ``server.feeds``); Herald serves the feeds from it."""

    async def upsert(self, target_id: str, entry: FeedEntry) -> FeedUpsert: ...

    def feed_urls(self, target_id: str) -> dict[str, str]:
        """The public URLs of the target's feed, by format."""
        ...


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
    tokens: TokenCache | None = None  # None: channels fetch a token per delivery (tests, one-off sends)
    feeds: FeedStore | None = None
    smtp: SmtpClient | None = None

    async def aclose(self) -> None:
        await self.http.aclose()
        if self.smtp is not None:
            await self.smtp.aclose()

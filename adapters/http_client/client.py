"""The one hardened outbound HTTP client every channel uses, on asyncio and aiohttp.

One deadline per hop (connect, send and read), no redirects unless asked (then every hop is checked),
a fixed User-Agent, bounded response reads, the SSRF guard where sockets open (``adapters.http_client.pinning``),
connections pooled per host name (a TLS connection never serves another name on the same IP), secrets
the request carried scrubbed from response excerpts, and every failure translated into a classified
``DeliveryError`` (``adapters.http_client.failures``). ``ChannelIO.http`` is one of these per worker loop.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping

import aiohttp
import certifi
from yarl import URL

from adapters.http_client.classify import classify_response
from adapters.http_client.failures import translated_errors
from adapters.http_client.hops import (
    MAX_REDIRECTS,
    MAX_RESPONSE_BYTES,
    REDIRECT_STATUSES,
    Answer,
    Hop,
    decode,
    destination_of,
    redact,
    secret_values,
    too_many_redirects,
    wire_headers,
)
from adapters.http_client.netguard import Destination, parse_networks
from adapters.http_client.pinning import GuardedResolver, checked_literal, looks_literal
from adapters.io import HttpAnswer, HttpResponse, last_look

CONNECTIONS_PER_HOST = 100
CONNECTIONS_TOTAL = 10_000
DNS_CACHE_SECONDS = 10  # only checked answers are cached: new connections reuse them, never an unchecked one
_NO_CONTENT_TYPE = ("Content-Type",)
_MAX_LITERALS = 1024


def default_ssl_context() -> ssl.SSLContext:
    """Certificate verification against certifi's CA bundle, host names checked (as httpx did)."""
    return ssl.create_default_context(cafile=certifi.where())


class AsyncOutboundClient:
    """Implements ``adapters.io.HttpClient``: one ``aiohttp.ClientSession``, created in the loop that first sends.

    Build it anywhere; use it from one event loop only (one client per worker loop), then ``aclose()`` it there.
    """

    def __init__(
        self,
        allowed_networks: list[str],
        timeout_seconds: float = 10.0,
        version: str = "0.1.0",
        *,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.user_agent = f"Herald/{version}"
        self._allowed = parse_networks(allowed_networks)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._ssl_context = ssl_context or default_ssl_context()
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self._allowed_literals: set[str] = set()
        self._slots: dict[tuple[str, str, int], asyncio.Semaphore] = {}

    async def send(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpResponse:
        hop = Hop(method.upper(), url.strip(), headers, content)
        secrets = secret_values(headers)
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self._exchange(hop)
            location = answer.headers.get("location")
            if not (allow_redirects and answer.status_code in REDIRECT_STATUSES and location):
                return classify_response(answer.status_code, answer.headers, redact(answer.text, secrets))
            hop = hop.follow(answer.status_code, location)
        raise too_many_redirects()

    async def exchange(
        self, method: str, url: str, *, headers: dict[str, str], content: bytes, allow_redirects: bool = False
    ) -> HttpAnswer:
        hop = Hop(method.upper(), url.strip(), headers, content)
        secrets = secret_values(headers)
        for _ in range(MAX_REDIRECTS + 1):
            answer = await self._exchange(hop)
            location = answer.headers.get("location")
            if not (allow_redirects and answer.status_code in REDIRECT_STATUSES and location):
                return HttpAnswer(answer.status_code, dict(answer.headers), redact(answer.text, secrets) or "")
            hop = hop.follow(answer.status_code, location)
        raise too_many_redirects()

    async def aclose(self) -> None:
        self._closed = True
        if self._session is not None:
            await self._session.close()

    async def _exchange(self, hop: Hop) -> Answer:
        destination = destination_of(hop.url)
        headers = wire_headers(hop.headers, self.user_agent)
        session = self._session_here()
        # Wait for one of the host's connections before the clock starts: a send queued behind a
        # busy pool has not timed out, and must not count as a failure of the receiver.
        async with self._slot(destination):
            if (look := last_look.get()) is not None:
                look()
            with translated_errors(destination.host):
                url = URL(hop.url)
                self._check_literal(url.raw_host or "")
                skip = None if any(name.lower() == "content-type" for name in headers) else _NO_CONTENT_TYPE
                async with session.request(
                    hop.method,
                    url,
                    headers=headers,
                    data=hop.content or None,
                    allow_redirects=False,
                    skip_auto_headers=skip,
                ) as response:
                    body = await _read_capped(response.content)
                    headers = _lowered(response.headers)
                    charset = response.charset if "charset" in headers.get("content-type", "") else None
                    return Answer(response.status, headers, decode(body, charset))

    def _slot(self, destination: Destination) -> asyncio.Semaphore:
        key = (destination.scheme, destination.host, destination.port)
        slot = self._slots.get(key)
        if slot is None:
            slot = self._slots[key] = asyncio.Semaphore(CONNECTIONS_PER_HOST)
        return slot

    def _check_literal(self, host: str) -> None:
        # Checked on the host aiohttp will connect to (yarl's parse), not on our own reading of the URL.
        if host in self._allowed_literals or not looks_literal(host):
            return
        checked_literal(host, self._allowed)
        if len(self._allowed_literals) >= _MAX_LITERALS:
            self._allowed_literals.clear()
        self._allowed_literals.add(host)

    def _session_here(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._closed:
            raise RuntimeError("This AsyncOutboundClient is closed.")
        if self._session is None:
            self._session, self._loop = self._new_session(), loop
        elif loop is not self._loop:
            raise RuntimeError("An AsyncOutboundClient serves the event loop it first sent from; create one per loop.")
        return self._session

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(self._allowed),
            ssl=self._ssl_context,
            limit=CONNECTIONS_TOTAL,
            limit_per_host=CONNECTIONS_PER_HOST,
            ttl_dns_cache=DNS_CACHE_SECONDS,
        )
        return aiohttp.ClientSession(
            connector=connector,
            timeout=self._timeout,
            cookie_jar=aiohttp.DummyCookieJar(),  # receivers' cookies must not ride along to other deliveries
            auto_decompress=False,  # we ask for identity; a compressed answer stays a bounded raw excerpt
            trust_env=False,
        )


async def _read_capped(content: aiohttp.StreamReader) -> bytes:
    body = b""
    while len(body) < MAX_RESPONSE_BYTES and not content.at_eof():
        body += await content.read(MAX_RESPONSE_BYTES - len(body))
    return body


def _lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """Lower-case names; a repeated header's values joined with ", " (as httpx did)."""
    merged: dict[str, str] = {}
    for name, value in headers.items():
        key = name.lower()
        merged[key] = f"{merged[key]}, {value}" if key in merged else value
    return merged

"""Bluesky (AT Protocol): one ``app.bsky.feed.post`` record, ``com.atproto.repo.createRecord`` on the PDS.

The session (``createSession`` with an app password, then ``refreshSession``) is cached per worker in
``io.tokens``: Bluesky allows 30 logins per 5 minutes. The text is at most 300 graphemes (user-perceived
characters, counted with ``regex``'s ``\\X``); links are facets at UTF-8 byte offsets, the content's
URL an external embed (a link card). The record key is derived from the delivery id (a valid TID), so
a repeated create names a record that already exists and ``reconcile`` finds it with ``getRecord``.
A 429 pauses the target until ``RateLimit-Reset`` (epoch seconds).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any, ClassVar
from urllib.parse import urlencode

import regex
from pydantic import Field, field_validator

from adapters.base import (
    Addressing,
    ChannelIO,
    ChannelLimits,
    ChannelName,
    ChannelPayload,
    Content,
    DeliveryContext,
    Policy,
    Receipt,
    RecipientView,
    TargetView,
    Validated,
)
from adapters.io import HttpAnswer, Token
from adapters.provider import body_json, permanent, rate_limited, server_error, systemic
from adapters.render import (
    ELLIPSIS,
    ChannelModel,
    apply_policy,
    checked_url,
    json_bytes,
    validate_provider,
)
from adapters.tokens import cached, token_key

API_BASE_URL = "https://bsky.social"
COLLECTION = "app.bsky.feed.post"
MAX_GRAPHEMES = 300
MAX_TEXT_BYTES = 3000
SESSION_FALLBACK_SECONDS = 300.0
TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"
LINK = regex.compile(r"https?://[^\s<>\"…]+[^\s<>\"….,;:!?)\]'”]")
AUTH_ERRORS = {
    "AuthenticationRequired",
    "AuthMissing",
    "InvalidToken",
    "ExpiredToken",
    "AccountTakedown",
    "AccountDeactivated",
}
SET_AT_SEND = "<session DID>"


class BlueskyConfig(ChannelModel):
    api_base_url: str = API_BASE_URL
    langs: list[str] = Field(default_factory=list, max_length=3)
    link_card: bool = True

    @field_validator("api_base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        return checked_url(value).rstrip("/")


class BlueskyCredentials(ChannelModel):
    identifier: str = Field(min_length=3, description="handle, email or DID")
    app_password: str = Field(min_length=4)


Target = TargetView[BlueskyConfig, BlueskyCredentials]


def graphemes(text: str) -> list[str]:
    return regex.findall(r"\X", text)


def grapheme_truncate(text: str, limit: int, mode: str = "ellipsis") -> str:
    """At most ``limit`` graphemes (never a split emoji or accent): the policy's modes, by grapheme."""
    units = graphemes(text)
    if len(units) <= limit:
        return text
    if limit <= 0:
        return ""
    if mode == "hard":
        return "".join(units[:limit])
    cut = "".join(units[: limit - 1])
    if mode == "word" and " " in cut:
        cut = cut[: cut.rstrip().rfind(" ")].rstrip()
    return cut + ELLIPSIS


def link_facets(text: str) -> list[dict[str, Any]]:
    """A link facet per URL in ``text``, at UTF-8 byte offsets (end exclusive)."""
    facets = []
    for match in LINK.finditer(text):
        start = len(text[: match.start()].encode())
        end = start + len(match.group().encode())
        facets.append(
            {
                "index": {"byteStart": start, "byteEnd": end},
                "features": [{"$type": "app.bsky.richtext.facet#link", "uri": match.group()}],
            }
        )
    return facets


def rkey_for(delivery_id: str) -> str:
    """A TID (13 base32-sortable characters) stable for the delivery: its time from the id's own
    timestamp when the id is a prefixed ULID (``job_01J…``), its low bits from the id's digest."""
    digest = int.from_bytes(hashlib.sha256(delivery_id.encode()).digest()[:8])
    micros = _ulid_millis(delivery_id) * 1000 + digest % 1000 if _ulid_millis(delivery_id) else digest >> 11
    value = ((micros & ((1 << 53) - 1)) << 10) | (digest & 0x3FF)
    return "".join(TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def _ulid_millis(delivery_id: str) -> int:
    ulid = delivery_id.rpartition("_")[2].lower()
    if len(ulid) != 26 or any(char not in CROCKFORD for char in ulid):
        return 0
    return int("".join(f"{CROCKFORD.index(char):05b}" for char in ulid[:10]), 2)


def compose(content: Content, policy: Policy, config: BlueskyConfig) -> tuple[str, dict[str, Any] | None]:
    """The post's text within 300 graphemes (and 3,000 bytes) and its link card, if any."""
    card = config.link_card and bool(content.url)
    head = f"{content.title}\n\n"
    tail = "" if card or not content.url else f"\n\n{content.url}"
    budget = MAX_GRAPHEMES - len(graphemes(head)) - len(graphemes(tail))
    text = head + grapheme_truncate(apply_policy(content, policy), max(budget, 0), policy.truncate) + tail
    while len(text.encode()) > MAX_TEXT_BYTES and budget > 0:
        budget -= 10
        text = head + grapheme_truncate(apply_policy(content, policy), max(budget, 0), policy.truncate) + tail
    embed = None
    if card:
        description = content.excerpt or ""
        embed = {
            "$type": "app.bsky.embed.external",
            "external": {"uri": content.url, "title": content.title, "description": description},
        }
    return text, embed


class BlueskyChannel:
    name: ClassVar[ChannelName] = ChannelName.BLUESKY
    addressing: ClassVar[Addressing] = "broadcast"
    description: ClassVar[str] = (
        "Bluesky post via the account's PDS with an app password; 300 graphemes, link facets, a link card."
    )
    config_model = BlueskyConfig
    credentials_model: type[BlueskyCredentials] | None = BlueskyCredentials
    limits = ChannelLimits(max_text_chars=MAX_GRAPHEMES)

    def validate(
        self, config: dict[str, Any], credentials: dict[str, Any] | None
    ) -> Validated[BlueskyConfig, BlueskyCredentials]:
        return validate_provider(BlueskyConfig, BlueskyCredentials, config, credentials)

    def render(
        self, content: Content, policy: Policy, target: Target, recipient: RecipientView | None = None
    ) -> ChannelPayload:
        text, embed = compose(content, policy, target.config)
        record: dict[str, Any] = {"$type": COLLECTION, "text": text, "createdAt": "<send time>"}
        facets = link_facets(text)
        if facets:
            record["facets"] = facets
        if target.config.langs:
            record["langs"] = list(target.config.langs)
        if embed is not None:
            record["embed"] = embed
        body = {"repo": SET_AT_SEND, "collection": COLLECTION, "rkey": "<from the delivery id>", "record": record}
        return ChannelPayload(body=body)

    async def send(self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO) -> Receipt:
        rkey = rkey_for(delivery.delivery_id)
        created = delivery.timestamp.isoformat().replace("+00:00", "Z")
        url = f"{target.config.api_base_url}/xrpc/com.atproto.repo.createRecord"
        for fresh in (False, True):
            session = await _session(target, io, fresh)
            body = {**payload.body, "repo": session.extra["did"], "rkey": rkey}
            body["record"] = {**payload.body["record"], "createdAt": created}
            headers = {"Authorization": f"Bearer {session.value}", "Content-Type": "application/json"}
            answer = await io.http.exchange("POST", url, headers=headers, content=json_bytes(body))
            error = body_json(answer).get("error")
            if answer.status_code == 200:
                return _receipt(body_json(answer), rkey, answer.status_code)
            if not fresh and (error in ("ExpiredToken", "InvalidToken") or answer.status_code == 401):
                _drop(target, io, session)
                continue
            if answer.status_code >= 500 or error in ("RecordAlreadyExists", "InvalidSwap"):
                # A create of an rkey that exists fails (a 500 on today's PDS): the earlier attempt landed.
                existing = await self.reconcile(payload, target, delivery, io)
                if existing is not None:
                    return existing
            raise _error(answer)
        raise AssertionError("unreachable")

    async def reconcile(
        self, payload: ChannelPayload, target: Target, delivery: DeliveryContext, io: ChannelIO
    ) -> Receipt | None:
        """``getRecord`` of this delivery's record key: the post, or None (``RecordNotFound``)."""
        session = await _session(target, io, False)
        rkey = rkey_for(delivery.delivery_id)
        query = urlencode({"repo": session.extra["did"], "collection": COLLECTION, "rkey": rkey})
        url = f"{target.config.api_base_url}/xrpc/com.atproto.repo.getRecord?{query}"
        answer = await io.http.exchange("GET", url, headers={"Authorization": f"Bearer {session.value}"}, content=b"")
        if answer.status_code == 200:
            return _receipt(body_json(answer), rkey, answer.status_code)
        if body_json(answer).get("error") == "RecordNotFound" or answer.status_code == 404:
            return None
        raise _error(answer)


def _receipt(body: dict[str, Any], rkey: str, status: int) -> Receipt:
    return Receipt(
        external_id=body.get("uri"),
        meta={"uri": body.get("uri"), "cid": body.get("cid"), "rkey": rkey, "statusCode": status},
    )


def _key(target: Target) -> str:
    assert target.credentials is not None
    return token_key(
        "bluesky", target.config.api_base_url, target.credentials.identifier, target.credentials.app_password
    )


def _drop(target: Target, io: ChannelIO, session: Token) -> None:
    if io.tokens is not None:
        io.tokens.invalidate(_key(target), session)


async def _session(target: Target, io: ChannelIO, fresh: bool) -> Token:
    """The cached session (refreshed before it expires); ``fresh`` after the PDS refused the cached one."""
    if target.credentials is None:
        raise systemic(
            "The Bluesky target has no credentials; set identifier and appPassword.", None, "BLUESKY_NO_CREDENTIALS"
        )
    credentials, base = target.credentials, target.config.api_base_url

    async def fetch(previous: Token | None) -> Token:
        if previous is not None and previous.extra.get("refreshJwt"):
            headers = {"Authorization": f"Bearer {previous.extra['refreshJwt']}"}
            url = f"{base}/xrpc/com.atproto.server.refreshSession"
            answer = await io.http.exchange("POST", url, headers=headers, content=b"")
            if answer.status_code == 200:
                return _token(body_json(answer))
            if answer.status_code == 429 or answer.status_code >= 500:
                raise _error(answer)
        login = json_bytes({"identifier": credentials.identifier, "password": credentials.app_password})
        url = f"{base}/xrpc/com.atproto.server.createSession"
        answer = await io.http.exchange("POST", url, headers={"Content-Type": "application/json"}, content=login)
        if answer.status_code == 200:
            return _token(body_json(answer))
        raise _error(answer, login=True)

    if fresh and io.tokens is None:
        return await fetch(None)
    return await cached(io.tokens, _key(target), fetch)


def _token(body: dict[str, Any]) -> Token:
    access = str(body.get("accessJwt") or "")
    return Token(access, _expiry(access), {"refreshJwt": body.get("refreshJwt"), "did": body.get("did")})


def _expiry(jwt: str) -> float:
    """The access JWT's ``exp`` (read, not verified: the PDS checks it); a short default without one."""
    try:
        part = jwt.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return float(claims["exp"])
    except (IndexError, ValueError, KeyError, TypeError):
        return time.time() + SESSION_FALLBACK_SECONDS


def reset_seconds(value: str | None) -> float | None:
    """Seconds until ``RateLimit-Reset`` (epoch seconds); None when absent."""
    try:
        return max(float((value or "").strip()) - time.time(), 0.0)
    except ValueError:
        return None


def _error(answer: HttpAnswer, login: bool = False) -> Exception:
    body = body_json(answer)
    name, message = str(body.get("error") or f"HTTP {answer.status_code}"), str(body.get("message") or "")
    code = f"BLUESKY_{name.upper()}"[:60]
    if answer.status_code == 429 or name == "RateLimitExceeded":
        seconds = reset_seconds(answer.headers.get("ratelimit-reset"))
        what = "logins (createSession)" if login else "requests"
        return rate_limited(f"Bluesky rate-limited the account's {what} (HTTP 429).", answer, seconds, code)
    if answer.status_code >= 500:
        return server_error("Bluesky", answer)
    if login or name in AUTH_ERRORS or answer.status_code in (401, 403):
        return systemic(
            f"Bluesky refused the login ({name}: {message}); check identifier and appPassword "
            "(an app password, not the account password).",
            answer,
            code,
        )
    return permanent(f"Bluesky refused the post ({name}: {message}); retrying will not help.", answer, code)


__all__ = [
    "BlueskyChannel",
    "BlueskyConfig",
    "BlueskyCredentials",
    "grapheme_truncate",
    "graphemes",
    "link_facets",
    "reset_seconds",
    "rkey_for",
]

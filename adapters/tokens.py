"""The per-worker token cache (``adapters.io.TokenCache``): access tokens kept until shortly before they expire.

One per ``ChannelIO`` (so one per worker event loop): a provider's login or token grant happens once
per worker and credentials, not once per delivery (Bluesky allows 30 logins per 5 minutes). Only
the delivery loop uses it, so one asyncio lock per key makes concurrent deliveries share one fetch.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable
from typing import Any

from adapters.io import Token, TokenCache, TokenFetch

REFRESH_MARGIN_SECONDS = 60.0
MAX_TOKENS = 10_000


def token_key(channel: str, *parts: Any) -> str:
    """A cache key naming no secret: the channel and a digest of what identifies the account."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return f"{channel}:{digest}"


class MemoryTokenCache:
    """Implements ``adapters.io.TokenCache`` in memory; ``clock`` is epoch seconds (tests move it)."""

    def __init__(self, margin_seconds: float = REFRESH_MARGIN_SECONDS, clock: Callable[[], float] = time.time) -> None:
        self._margin = margin_seconds
        self._clock = clock
        self._tokens: dict[str, Token] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def __repr__(self) -> str:
        return f"MemoryTokenCache({len(self._tokens)} tokens)"

    async def get(self, key: str, fetch: TokenFetch) -> Token:
        token = self._fresh(key)
        if token is not None:
            return token
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            token = self._fresh(key)  # another delivery fetched it while this one waited
            if token is not None:
                return token
            token = await fetch(self._tokens.get(key))
            if len(self._tokens) >= MAX_TOKENS:
                self._tokens.clear()
            self._tokens[key] = token
            return token

    def invalidate(self, key: str, token: Token | None = None) -> None:
        current = self._tokens.get(key)
        if current is not None and (token is None or current == token):
            # Kept as the "previous" token without its expiry, so the next fetch can still refresh with it.
            self._tokens[key] = Token(current.value, 0.0, current.extra)

    def _fresh(self, key: str) -> Token | None:
        token = self._tokens.get(key)
        return token if token is not None and token.expires_at - self._margin > self._clock() else None


async def cached(tokens: TokenCache | None, key: str, fetch: TokenFetch) -> Token:
    """``tokens.get(key, fetch)``, or a fresh fetch when the ChannelIO has no cache."""
    return await (tokens.get(key, fetch) if tokens is not None else fetch(None))


__all__ = ["REFRESH_MARGIN_SECONDS", "MemoryTokenCache", "cached", "token_key"]
